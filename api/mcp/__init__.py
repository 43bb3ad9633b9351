"""The agent interface: tool specs, the MCP server, its HTTP mount and its stdio proxy."""
