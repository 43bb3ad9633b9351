"""The console is served whole by the service, under a CSP without inline script or style."""

import re

import httpx

from api.http.routes import console

MODULE_IMPORT = re.compile(r'from "(\.{1,2}/[^"]+)"')


async def test_the_page_is_served_with_a_strict_csp(client: httpx.AsyncClient) -> None:
    page = await client.get("/console")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp
    assert "style-src 'self';" in csp
    assert "connect-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert '<script type="module" src="/console/assets/app.js">' in page.text
    head = await client.head("/console")
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-security-policy"] == csp
    assert "<script>" not in page.text
    assert "style=" not in page.text


async def test_every_module_and_style_is_served_and_nothing_else(client: httpx.AsyncClient) -> None:
    for name in ("app.js", "vendor.js", "pages/search.js", "console.css", "icon.svg"):
        answer = await client.get(f"/console/assets/{name}")
        assert answer.status_code == 200, name
        assert "unsafe-inline" not in answer.headers["content-security-policy"]
    assert (
        (await client.get("/console/assets/app.js"))
        .headers["content-type"]
        .startswith("text/javascript")
    )
    # httpx resolves `..` before sending; the encoded form reaches the route as `../docs.js`.
    for name in ("index.html", "..%2Fdocs.js", "pages%2F..%2F..%2Fdocs.html", "nope.js"):
        assert (await client.get(f"/console/assets/{name}")).status_code == 404, name
    moved = await client.get("/console/", follow_redirects=False)
    assert (moved.status_code, moved.headers["location"]) == (308, "/console")


def test_every_relative_import_of_the_modules_is_an_asset() -> None:
    served = console.assets()
    for name, path in served.items():
        if not name.endswith(".js"):
            continue
        folder = path.parent
        for target in MODULE_IMPORT.findall(path.read_text()):
            resolved = (folder / target).resolve().relative_to(console.ROOT.resolve())
            assert resolved.as_posix() in served, f"{name} imports {target}"


def test_document_text_is_never_set_as_html() -> None:
    ours = [p for n, p in console.assets().items() if n.endswith(".js") and n != "vendor.js"]
    assert len(ours) >= 10
    for path in ours:
        text = path.read_text()
        assert "dangerouslySetInnerHTML" not in text
        assert "innerHTML" not in text
        assert "insertAdjacentHTML" not in text
        assert "localStorage" not in text  # the key lives in sessionStorage only
