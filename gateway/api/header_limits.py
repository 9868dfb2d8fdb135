"""Refuse requests whose request line and headers are over a size limit (431).

uvicorn's own cap (``h11_max_incomplete_event_size``, set to twice this limit) bounds
what is ever buffered; this check answers the documented JSON error below that.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import HeadersTooLarge
from .error_responses import error_response


def header_bytes(scope: Scope) -> int:
    """Size of the request line and headers as sent, give or take separators."""
    size = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"") + 16
    for name, value in scope.get("headers") or []:
        size += len(name) + len(value) + 4
    return size


class HeaderLimits:
    """ASGI middleware: 431 ``headers_too_large`` past ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and header_bytes(scope) > self.max_bytes:
            error = HeadersTooLarge(f"request line and headers over {self.max_bytes} bytes")
            await error_response(error)(scope, receive, send)
            return
        await self.app(scope, receive, send)
