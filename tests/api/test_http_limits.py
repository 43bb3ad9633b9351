"""Slow or silent clients: headers and bodies have deadlines on a real server socket."""

import socket
import time
from collections.abc import Iterator

import pytest

from api.http import middleware, protocol
from api.settings import Settings
from tests.live import serve

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def url(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setattr(protocol, "HEADERS_S", 0.5)
    monkeypatch.setattr(middleware, "BODY_IDLE_S", 0.5)
    with serve(settings) as running:
        yield running


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=5)


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_headers_that_never_end_are_cut_off(url: str) -> None:
    with _connect(url) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        began = time.monotonic()
        for _ in range(3):  # trickling bytes does not keep it open
            time.sleep(0.2)
            try:
                sock.sendall(b"X-A: b\r\n")
            except OSError:
                break
        assert _read_all(sock) == b""
        assert time.monotonic() - began < 3


def test_a_declared_body_that_never_comes_is_answered_408(url: str) -> None:
    with _connect(url) as sock:
        sock.sendall(
            b"POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 500\r\nAuthorization: Bearer ek_x\r\n\r\n{"
        )
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"request_timeout" in answer


def test_an_oversized_body_that_stalls_is_still_answered_413(url: str) -> None:
    with _connect(url) as sock:
        sock.sendall(
            b"POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000000000\r\nAuthorization: Bearer ek_x\r\n\r\n{"
        )
        began = time.monotonic()
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert time.monotonic() - began < 3


def test_a_prompt_request_is_unaffected(url: str) -> None:
    with _connect(url) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 200")
