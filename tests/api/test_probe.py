"""The leakage probe against a live server: clean on the real code, loud when isolation breaks."""

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from rich.console import Console
from sqlalchemy import Select, select

from api.app import create_app
from api.probe_run import Credentials, run
from api.settings import Settings
from tenancy.scope import Scope
from tests.conftest import OPERATOR_KEY
from tests.fakes import HashingEmbedder

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def live_url(settings: Settings) -> Iterator[str]:
    """The app served by uvicorn on a free port, in a thread, with its worker running."""
    settings.run_worker = True
    app: FastAPI = create_app(settings, embedder=HashingEmbedder())
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(30)


def test_the_probe_finds_no_leak(live_url: str) -> None:
    console = Console(record=True, width=200)
    code = run(live_url, Credentials(operator=OPERATOR_KEY), console)
    text = console.export_text()
    assert code == 0, text
    assert " 0 leaks, 0 unexpected answers" in text


def test_the_probe_catches_a_missing_tenant_filter(
    live_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unscoped(self: Scope, model: Any) -> Select[Any]:
        return select(model)  # the bug: the tenant condition is gone

    monkeypatch.setattr(Scope, "select", unscoped)
    console = Console(record=True, width=200)
    code = run(live_url, Credentials(operator=OPERATOR_KEY), console)
    text = console.export_text()
    assert code == 1
    assert "LEAK" in text
    assert " 0 leaks" not in text
