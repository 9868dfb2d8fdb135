"""The web pages at ``/ui`` and ``/ui/live``: static files from ``gateway/api/ui/``, no build step.

``/ui`` analyses an uploaded file; ``/ui/live`` scores the camera over the ``/v1/live``
WebSocket (``live.html``, ``live.js``, ``live.css``).

Only the files named in :data:`UI_FILES` are served (no directory listing, no path from
the request reaches the file system), each with the page's own policy
(:data:`gateway.api.security_headers.UI_CSP`). The files need no API key; the page sends
the key the user types with each API call as an ``Authorization`` header.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException

from .security_headers import UI_CSP

UI_DIR = Path(__file__).resolve().parent / "ui"
#: File name -> media type: everything the page is made of.
UI_FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "render.js": "text/javascript; charset=utf-8",
    "player.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "live.html": "text/html; charset=utf-8",
    "live.js": "text/javascript; charset=utf-8",
    "live.css": "text/css; charset=utf-8",
}


def _headers() -> dict[str, str]:
    return {"Content-Security-Policy": UI_CSP, "Cross-Origin-Opener-Policy": "same-origin"}


def ui_router() -> APIRouter:
    """Routes of the web page; its files are read once, at start-up."""
    router = APIRouter(include_in_schema=False)
    files = {name: (UI_DIR / name).read_bytes() for name in UI_FILES}

    @router.get("/ui")
    async def page() -> Response:
        return Response(files["index.html"], media_type=UI_FILES["index.html"], headers=_headers())

    @router.get("/ui/")
    async def page_slash() -> RedirectResponse:
        return RedirectResponse("/ui", status_code=308)

    @router.get("/ui/live")
    async def live_page() -> Response:
        # The camera page: /v1/live's WebSocket is this origin's (connect-src 'self').
        return Response(files["live.html"], media_type=UI_FILES["live.html"], headers=_headers())

    @router.get("/ui/{name}")
    async def asset(name: str) -> Response:
        if name not in files:
            # Rendered by the error handlers as any unknown path is (404 not_found).
            raise HTTPException(404, f"no such file of the page: /ui/{name}")
        return Response(files[name], media_type=UI_FILES[name], headers=_headers())

    return router
