"""Enclave's thin client: `Client` / `AsyncClient` over the HTTP API, and its wire models."""

from enclave_client.client import AsyncClient, Client, EnclaveError

__all__ = ["AsyncClient", "Client", "EnclaveError"]
