"""The API docs pages (``/docs``, ``/redoc``) with a Content-Security-Policy of their own.

FastAPI's pages load Swagger UI and ReDoc from the jsDelivr CDN; no PyPI package ships
those assets as part of FastAPI's own dependencies, so rather than vendor JavaScript the
policy allows exactly the files the pages name, plus their inline start-up script by its
hash.  Only the docs pages get this policy; API answers keep ``default-src 'none'``.
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

_SCRIPT_SRC = re.compile(r'<script src="(https://[^"]+)"')
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)
_STYLE_HREF = re.compile(r'<link type="text/css" rel="stylesheet" href="(https://[^"]+)"')


def page_csp(html: str) -> str:
    """A policy allowing exactly the scripts and stylesheets ``html`` uses."""
    scripts = [*_SCRIPT_SRC.findall(html)]
    scripts += [
        f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
        for body in _INLINE_SCRIPT.findall(html)
    ]
    # Both UIs set styles inline at run time; styles cannot run code.
    styles = ["'unsafe-inline'", *_STYLE_HREF.findall(html)]
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src {' '.join(scripts)}",
            f"style-src {' '.join(styles)}",
            "img-src 'self' data:",
            "connect-src 'self'",
            "worker-src blob:",  # ReDoc searches in a web worker
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )


def _page(html: HTMLResponse) -> tuple[str, str]:
    text = bytes(html.body).decode()
    return text, page_csp(text)


def docs_router(app: FastAPI) -> APIRouter:
    """Routes serving ``app``'s docs pages; build ``app`` with ``docs_url=None, redoc_url=None``."""
    router = APIRouter(include_in_schema=False)
    title = f"{app.title} - docs"
    openapi_url = app.openapi_url or "/openapi.json"
    swagger = _page(
        get_swagger_ui_html(openapi_url=openapi_url, title=title, swagger_favicon_url="data:,")
    )
    redoc = _page(
        get_redoc_html(
            openapi_url=openapi_url,
            title=title,
            with_google_fonts=False,
            redoc_favicon_url="data:,",
        )
    )

    @router.get("/docs")
    async def swagger_ui() -> HTMLResponse:
        return HTMLResponse(swagger[0], headers={"Content-Security-Policy": swagger[1]})

    @router.get("/redoc")
    async def redoc_ui() -> HTMLResponse:
        return HTMLResponse(redoc[0], headers={"Content-Security-Policy": redoc[1]})

    return router
