"""The admin console in real Chromium (Debian's, driven by Playwright) against a real
`enclave serve` with the real model: sign in, upload a folder, sync a source, search, open
the cited span, verify the receipt, issue and revoke a key, search as an end user, verify
the audit chain; documents full of markup stay text; nothing leaves the machine."""

import re
import shutil
import sqlite3
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from tests.conftest import OPERATOR_KEY
from tests.e2e import browser as browser_tools
from tests.e2e.test_serve import Server
from tests.factories import FIXTURES

pytestmark = pytest.mark.slow

ARTIFACTS = browser_tools.ARTIFACTS / "console"
SETTLE_MS = 120_000
HOSTILE = (
    "Quarterly escalation notes.\n\n"
    "<script>window.__pwned = 'script'</script>\n\n"
    '<img src="x" onerror="window.__pwned = \'img\'">\n\n'
    "<svg onload=\"window.__pwned = 'svg'\"></svg> and <b>bold</b> escalation markup.\n"
)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("console") / "data"


@pytest.fixture(scope="module")
def server(data_dir: Path) -> Iterator[Server]:
    running = Server(data_dir, {"ENCLAVE_OPERATOR_KEY": OPERATOR_KEY})
    yield running
    running.stop()


def _tenant(url: str, name: str) -> tuple[str, str]:
    """A new tenant's id and admin key."""
    op = {"Authorization": f"Bearer {OPERATOR_KEY}"}
    with httpx.Client(base_url=url, timeout=30) as http:
        tenant = http.post("/v1/tenants", json={"name": name}, headers=op).json()
        body = {"role": "admin", "name": "console admin"}
        issued = http.post(f"/v1/tenants/{tenant['id']}/keys", json=body, headers=op).json()
    return tenant["id"], issued["key"]


@pytest.fixture(scope="module")
def admin_key(server: Server) -> str:
    return _tenant(server.url, "Acme Robotics")[1]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = browser_tools.launch(playwright)
        yield launched
        launched.close()


class Watched:
    """A page whose requests off this machine are refused, and whose script errors are kept."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.refused = browser_tools.refuse_offsite(page)
        self.errors: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("dialog", lambda dialog: dialog.accept())

    def shot(self, name: str, *, full_page: bool = True) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield Watched(context.new_page())
    context.close()


def _sign_in(watched: Watched, url: str, key: str) -> Page:
    page = watched.page
    page.goto(f"{url}/console")
    page.get_by_label("Admin key").fill(key)
    page.get_by_label("Admin key").press("Enter")  # the keyboard is enough
    expect(page.get_by_role("heading", name="Documents", exact=True)).to_be_visible()
    return page


def _open(page: Page, name: str) -> None:
    page.get_by_role("navigation").get_by_role("link", name=name).click()
    expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()


def _folder(root: Path, names: dict[str, str]) -> Path:
    root.mkdir(parents=True)
    for name, fixture in names.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(FIXTURES / "acme" / fixture, target)
    return root


def test_an_admin_works_through_every_page(
    watched: Watched, server: Server, admin_key: str, tmp_path: Path
) -> None:
    page = _sign_in(watched, server.url, admin_key)
    assert page.evaluate("Object.keys(sessionStorage)") == ["enclave.admin-key"]
    assert admin_key not in page.url
    _upload_a_folder(watched, tmp_path)
    _sync_a_source(watched, tmp_path)
    _see_the_jobs(watched)
    _search_open_and_verify(watched)
    _issue_and_revoke_a_key(watched, server.url)
    _search_as_an_end_user(watched)
    _verify_the_audit_chain(watched)
    _delete_a_document(watched)
    assert admin_key not in server.output()  # never logged
    page.set_viewport_size({"width": 390, "height": 844})
    for name in ("Documents", "Search", "Audit"):
        _open(page, name)
        watched.shot(f"phone-{name.lower()}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, name
    assert (watched.refused, watched.errors) == ([], [])


def _upload_a_folder(watched: Watched, tmp_path: Path) -> None:
    page = watched.page
    folder = _folder(tmp_path / "handbooks", {"handbook.md": "handbook.md", "faq.html": "faq.html"})
    (folder / "broken").mkdir()
    shutil.copy(FIXTURES / "bad" / "corrupt.pdf", folder / "broken" / "corrupt.pdf")
    shutil.copy(FIXTURES / "bad" / "binary.txt", folder / "binary.txt")
    with zipfile.ZipFile(folder / "bundle.zip", "w") as bundle:
        bundle.writestr("first.txt", "The first memo of the bundle is about the shuttle bus.")
        bundle.writestr("second.txt", "The second memo of the bundle is about the canteen.")
    page.locator("input[name=folder]").set_input_files(folder)
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.get_by_text("5 of 5 settled")).to_be_visible(timeout=SETTLE_MS)
    expect(page.locator("table.uploads tbody tr")).to_have_count(5)
    for name in ("handbook.md", "faq.html"):
        expect(_row(page, name).locator(".status-ready")).to_be_visible()
    expect(_row(page, "bundle.zip")).to_contain_text("ready (2 documents)")
    expect(_row(page, "broken/corrupt.pdf").locator(".status-failed")).to_be_visible()
    expect(_row(page, "broken/corrupt.pdf").locator(".error-text")).not_to_be_empty()
    expect(_row(page, "binary.txt").locator(".status-refused")).to_be_visible()
    expect(_row(page, "binary.txt").locator(".error-text")).to_contain_text("unsupported")
    bars = page.locator("table.uploads progress")
    assert set(bars.evaluate_all("bars => bars.map(bar => bar.value)")) == {1}
    watched.shot("documents")


def _row(page: Page, name: str) -> Locator:
    return page.locator(f'table.uploads tr[data-file="{name}"]')


def _delete_a_document(watched: Watched) -> None:
    page = watched.page
    _open(page, "Documents")
    page.get_by_role("button", name="Delete faq.html").click()  # the dialog is accepted
    receipt = page.get_by_role("region", name="Erasure receipt")
    expect(receipt).to_contain_text("documents")
    expect(receipt.locator("dd").first).to_have_text("1")
    expect(page.get_by_role("button", name="Delete faq.html")).to_have_count(0)
    watched.shot("documents-erased")


def _sync_a_source(watched: Watched, tmp_path: Path) -> None:
    page = watched.page
    _open(page, "Sources")
    names = {"policy.txt": "policy.txt", "memos/letter.rtf": "letter.rtf"}
    folder = _folder(tmp_path / "policies", names)
    page.get_by_label("Source name").fill("policies")
    page.locator("input[name=folder]").set_input_files(folder)
    page.get_by_role("button", name="Sync", exact=True).click()
    done = page.get_by_text(re.compile(r"^done: .*2 add.*2 indexed"))
    expect(done).to_be_visible(timeout=SETTLE_MS)
    for path in ("policy.txt", "memos/letter.rtf"):
        expect(page.locator(f'tr[data-file="{path}"] .status-ready')).to_be_visible()
    expect(page.get_by_role("cell", name="policies", exact=True)).to_be_visible()
    watched.shot("sources")


def _see_the_jobs(watched: Watched) -> None:
    page = watched.page
    _open(page, "Jobs")
    jobs = page.locator("article.job")
    expect(jobs).to_have_count(4)  # the bundle, and the three files sent again one by one
    expect(jobs.filter(has_text="2 indexed, 0 failed, of 2")).to_have_count(1)
    expect(jobs.filter(has_text="0 indexed, 1 failed, of 1")).to_contain_text("corrupt.pdf")
    watched.shot("jobs")


def _search_open_and_verify(watched: Watched) -> None:
    page = watched.page
    _open(page, "Search")
    page.get_by_label("Query").fill("  How long is parental leave? ")  # the service strips it
    page.get_by_role("button", name="Search", exact=True).click()
    first = page.locator("li.hit").first
    expect(first).to_contain_text("16 weeks")
    checks = page.locator("ul.checks")
    expect(checks).to_have_attribute("data-verified", "true", timeout=20_000)
    page.get_by_text(re.compile(r"Receipt: ✓ verified")).click()
    expect(page.get_by_text("✓ Ed25519 signature by the service's key")).to_be_visible()
    hit_text = first.locator(".hit-text").inner_text()
    first.get_by_role("button", name=re.compile("Open cited span")).click()
    expect(page.locator('[data-check="span"]')).to_contain_text("✓ The cited span's SHA-256")
    assert page.locator(".viewer mark").inner_text() == hit_text
    expect(page.locator(".viewer mark")).to_be_in_viewport()
    watched.shot("search")
    watched.shot("search-cited-span", full_page=False)


def _issue_and_revoke_a_key(watched: Watched, url: str) -> None:
    page = watched.page
    _open(page, "Keys")
    page.get_by_label("Name", exact=True).fill("support agent")
    page.get_by_label("End user (optional)").fill("dana")
    page.get_by_label("Their groups (comma-separated)").fill("support")
    page.get_by_role("button", name="Issue key").click()
    secret = page.locator('[data-key="new"]')
    expect(secret).to_have_text(re.compile(r"^ek_"))
    issued = secret.inner_text()
    headers = {"Authorization": f"Bearer {issued}"}
    assert httpx.get(f"{url}/v1/documents", headers=headers).status_code == 200
    watched.shot("keys-issued")
    page.get_by_role("button", name="Done").click()
    page.get_by_role("button", name="Revoke support agent").click()
    expect(page.get_by_text("Revoked support agent")).to_be_visible()
    row = page.locator("tr", has_text="support agent")
    expect(row.locator(".status-revoked")).to_be_visible()
    assert httpx.get(f"{url}/v1/documents", headers=headers).status_code == 401
    watched.shot("keys")


def _search_as_an_end_user(watched: Watched) -> None:
    page = watched.page
    _open(page, "Access")
    row = page.locator("tr", has_text="handbook.md")
    row.get_by_role("button", name=re.compile("Change")).click()
    page.get_by_label("Only these users and groups").check()
    page.get_by_label("Groups (comma-separated)", exact=True).fill("people-ops")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("tr", has_text="handbook.md")).to_contain_text("group people-ops")
    _preview(page, user="erin", groups="")
    expect(page.locator("li.hit", has_text="16 weeks")).to_have_count(0)
    _preview(page, user="erin", groups="people-ops")
    expect(page.locator("li.hit").first).to_contain_text("16 weeks")
    expect(page.locator("ul.checks")).to_have_attribute("data-verified", "true", timeout=20_000)
    watched.shot("access")


def _preview(page: Page, *, user: str, groups: str) -> None:
    form = page.get_by_role("form", name="Search as an end user")
    form.get_by_label("End user (empty: no identity)").fill(user)
    form.get_by_label("Their groups (comma-separated)").fill(groups)
    form.get_by_label("Query").fill("How long is parental leave?")
    form.get_by_role("button", name="Search as this user").click()
    expect(page.get_by_role("status").filter(has_text=f"As {user}")).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile(r"\d+ results"))).to_be_visible()


def _verify_the_audit_chain(watched: Watched) -> None:
    page = watched.page
    _open(page, "Audit")
    page.get_by_role("button", name="Verify", exact=True).click()
    expect(page.locator('[data-verified="true"]')).to_contain_text("✓ The chain verifies")
    page.get_by_label("Action").fill("search")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("table.audit tbody tr").first).to_contain_text("search")
    watched.shot("audit")


def test_document_markup_is_shown_as_text_and_never_runs(
    watched: Watched, server: Server, admin_key: str
) -> None:
    auth = {"Authorization": f"Bearer {admin_key}"}
    files = {"files": ("escalations.txt", HOSTILE.encode(), "text/plain")}
    with httpx.Client(base_url=server.url, timeout=60) as http:
        job = http.post("/v1/documents", files=files, headers=auth).json()["job_id"]
        assert http.get(f"/v1/jobs/{job}?wait=60", headers=auth).json()["status"] == "done"
    page = _sign_in(watched, server.url, admin_key)
    row = page.locator("tr", has_text="escalations.txt")
    row.get_by_role("button", name=re.compile("Open")).click()
    expect(page.locator(".doc-text")).to_contain_text("<script>window.__pwned")
    _open(page, "Search")
    page.get_by_label("Query").fill("escalation markup script img onerror")
    page.get_by_role("button", name="Search", exact=True).click()
    hit = page.locator("li.hit", has_text="onerror")
    expect(hit.first).to_be_visible()
    hit.first.get_by_role("button", name=re.compile("Open cited span")).click()
    expect(page.locator(".viewer mark")).to_contain_text("onerror=")
    watched.shot("markup-as-text")
    assert page.evaluate("window.__pwned") is None
    assert page.locator("main img, main svg, main script").count() == 0
    assert (watched.refused, watched.errors) == ([], [])


def test_the_console_loads_with_every_other_address_refused(
    watched: Watched, server: Server, admin_key: str
) -> None:
    page = _sign_in(watched, server.url, admin_key)
    expect(page.get_by_role("navigation", name="Console pages")).to_be_visible()
    _open(page, "Audit")
    loaded = page.evaluate("performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded
    assert all(urlsplit(name).hostname == "127.0.0.1" for name in loaded)
    assert (watched.refused, watched.errors) == ([], [])


def test_audit_verify_names_the_first_tampered_event(
    watched: Watched, server: Server, data_dir: Path
) -> None:
    tenant_id, key = _tenant(server.url, "Tampered Ltd")
    page = _sign_in(watched, server.url, key)
    for name in ("Keys", "Jobs", "Audit"):  # each page's reads are audited events
        _open(page, name)
    page.get_by_role("button", name="Verify", exact=True).click()
    expect(page.locator('[data-verified="true"]')).to_be_visible()
    with sqlite3.connect(data_dir / "enclave.db") as db:
        ids = (uuid.UUID(tenant_id).hex, tenant_id)
        (seq,) = db.execute(
            "SELECT MIN(seq) + 1 FROM audit_events WHERE tenant_id IN (?, ?)", ids
        ).fetchone()
        db.execute(
            "UPDATE audit_events SET outcome = 'tampered' WHERE tenant_id IN (?, ?) AND seq = ?",
            (*ids, seq),
        )
    page.get_by_role("button", name="Verify", exact=True).click()
    broken = page.locator('[data-verified="false"]')
    expect(broken).to_contain_text(f"The chain breaks at event {seq}")
    watched.shot("audit-broken")
    assert (watched.refused, watched.errors) == ([], [])
