"""The admin console at /console: one page and its modules, served whole by the service (no
CDN, no download at run time). It signs in with an admin key and uses the public API only."""

import functools
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, RedirectResponse

router = APIRouter(include_in_schema=False)

ROOT = Path(__file__).parent.parent / "static" / "console"
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
# The page's modules change with the service: the browser revalidates them (ETag) every time.
REVALIDATE = {"Cache-Control": "no-cache"}


@functools.cache
def assets() -> dict[str, Path]:
    """Every file the page may load, by its path under /console/assets/: nothing else."""
    found = (p for p in ROOT.rglob("*") if p.is_file() and p.suffix in MEDIA_TYPES)
    return {path.relative_to(ROOT).as_posix(): path for path in found}


# HEAD too: uptime monitors and link checkers ask for the page that way.
@router.api_route("/console", methods=["GET", "HEAD"])
def console() -> FileResponse:
    """The console's single page (its views live behind `#/` addresses)."""
    return FileResponse(ROOT / "index.html", media_type="text/html", headers=REVALIDATE)


@router.get("/console/")
def console_slash() -> RedirectResponse:
    """The console at its one address."""
    return RedirectResponse("/console", status_code=308)


@router.api_route("/console/assets/{name:path}", methods=["GET", "HEAD"])
def asset(name: str) -> FileResponse:
    """A module, style sheet or icon of the console."""
    path = assets().get(name)
    if path is None:
        raise HTTPException(404)
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=REVALIDATE)
