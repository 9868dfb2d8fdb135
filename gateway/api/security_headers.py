"""Security headers on every response (ASGI middleware).

API answers are JSON no browser should render, frame, cache or refer from, hence the
strict defaults; a page that needs more sets its own ``Content-Security-Policy``, which
is kept: the API docs (:mod:`gateway.api.docs`, built from the page's own scripts) and the
web page at ``/ui`` (:data:`UI_CSP`, :mod:`gateway.api.webui`).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The policy of every answer that sets none: load nothing, be framed nowhere.
API_CSP = "default-src 'none'; frame-ancestors 'none'"

#: The policy of the web page's files: its own scripts and stylesheet only (nothing
#: inline, no other origin), images from itself and from data: URLs (the face thumbnails
#: and heatmaps of a result), calls to this origin only. blob: is allowed for images and
#: media alone: the analysed file is shown from the user's own copy
#: (``URL.createObjectURL``), not fetched again. The timeline SVG is drawn into the page
#: as elements, so it needs no URL.
UI_CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src blob:",
        "connect-src 'self'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)

_DEFAULTS: tuple[tuple[bytes, bytes], ...] = (
    # The gateway speaks HTTPS only; a year, as browsers' preload lists ask.
    (b"strict-transport-security", b"max-age=31536000"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    # Verdicts and model lists are per-request answers behind an API key.
    (b"cache-control", b"no-store"),
    (b"content-security-policy", API_CSP.encode()),
)


class SecurityHeaders:
    """Adds each of the default headers a response does not set itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in _DEFAULTS if k not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
