"""The interactive API docs (Swagger UI at /docs, ReDoc at /redoc), served whole by the
service: the assets come from the `fastapi-offline` package, so the pages work offline."""

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

router = APIRouter(include_in_schema=False)

_OURS = Path(__file__).parent.parent / "static"
_VENDOR = Path(fastapi_offline.__file__).parent / "static"
# Every file the pages load, by the name in their URL: nothing else is served from here.
ASSETS = {
    "docs.js": (_OURS / "docs.js", "text/javascript"),
    "swagger-ui-bundle.js": (_VENDOR / "swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui.css": (_VENDOR / "swagger-ui.css", "text/css"),
    "redoc.standalone.js": (_VENDOR / "redoc.standalone.js", "text/javascript"),
    "favicon.png": (_VENDOR / "favicon.png", "image/png"),
}


@router.get("/docs")
def swagger_ui() -> FileResponse:
    """Swagger UI: try every operation with a key (Authorize)."""
    return FileResponse(_OURS / "docs.html", media_type="text/html")


@router.get("/redoc")
def redoc() -> FileResponse:
    """ReDoc: the reference, one page."""
    return FileResponse(_OURS / "redoc.html", media_type="text/html")


@router.get("/docs/assets/{name}")
def asset(name: str) -> FileResponse:
    """A script, style or icon of the docs pages."""
    if name not in ASSETS:
        raise HTTPException(404)
    path, media_type = ASSETS[name]
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "max-age=86400"})
