"""The HTTP protocol `enclave serve` runs: uvicorn's, with a deadline on request headers.

Uvicorn bounds idle keep-alive connections but not a request whose headers trickle in (or
never end): each such connection would be held forever. Here the headers of every request
must be complete within `HEADERS_S` of its first byte (of the connection, for the first
one); otherwise the connection is closed. The body has its own bound (`middleware`).
"""

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADERS_S = 10.0


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """httptools with a deadline on each request's headers."""

    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(HEADERS_S, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()
