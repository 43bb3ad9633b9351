"""Debian's chromium, driven by Playwright (never a browser Playwright downloads), with every
request that would leave this machine refused."""

import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Playwright, Route

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


def launch(playwright: Playwright) -> Browser:
    """Debian's chromium, headless."""
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed (.ci/run installs Debian's package)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])


def refuse_offsite(page: Page) -> list[str]:
    """Refuse every request of `page` that leaves the machine; the list says which were tried."""
    refused: list[str] = []

    def route(route: Route) -> None:
        host = urlsplit(route.request.url).hostname or ""
        if route.request.url.startswith(("data:", "blob:")) or host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    page.route("**/*", route)
    return refused
