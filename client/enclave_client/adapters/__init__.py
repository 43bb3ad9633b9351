"""Thin adapters for agent frameworks (optional extras: `langchain`, `pydantic-ai`).

Import a submodule only where its framework is installed; the service never imports them.
"""
