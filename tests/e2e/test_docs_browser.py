"""/docs and /redoc work offline: real Chromium (Debian's, driven by Playwright) loads them
with every non-loopback request refused, and sees the operations."""

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, sync_playwright

from api.settings import Settings
from tests.conftest import OPERATOR_KEY
from tests.e2e import browser as browser_tools
from tests.live import serve

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("docs") / "data"
    with serve(Settings(data_dir=data, operator_key=OPERATOR_KEY, parse_isolation="thread")) as url:
        yield url


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = browser_tools.launch(playwright)
        try:
            yield browser.new_page(viewport={"width": 1280, "height": 900})
        finally:
            browser.close()


def test_swagger_ui_shows_every_operation_and_the_authorize_button(page: Page, live: str) -> None:
    refused = browser_tools.refuse_offsite(page)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live}/docs")
    page.wait_for_selector("#operations-search-search", timeout=30_000)
    assert page.locator(".opblock").count() >= 40
    assert page.locator("button.authorize").count() == 1
    browser_tools.ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(browser_tools.ARTIFACTS / "docs-swagger.png"))
    assert (refused, errors) == ([], [])


def test_redoc_renders_the_reference(page: Page, live: str) -> None:
    refused = browser_tools.refuse_offsite(page)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live}/redoc")
    page.get_by_text("Tenant-isolated retrieval with exact citations.").wait_for(timeout=30_000)
    assert page.get_by_role("heading", name="Search the caller's documents").count() >= 1
    browser_tools.ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(browser_tools.ARTIFACTS / "docs-redoc.png"))
    assert (refused, errors) == ([], [])  # ReDoc's logo link is stopped by the CSP first
