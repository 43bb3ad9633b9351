"""The one version number: the installed distribution's (HTTP, MCP, CLI and docs say it)."""

from importlib import metadata

VERSION = metadata.version("enclave-search")
