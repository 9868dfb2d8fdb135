"""Audit log: one JSON line per detect request on ``gateway.api.audit``, who sent what.

The line names the key by a short hash, the client address, the upload's size and
SHA-256, and the outcome (verdict, score, model version, or the error code); never the
key itself nor the video.  Routes fill the request's :class:`AuditRecord`; the middleware
writes the line once the answer is sent, whatever it was.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("gateway.audit")

# An error body is small; more than this is not one of ours.
_MAX_ERROR_BODY = 16 * 1024


@dataclass
class AuditRecord:
    """What one request's audit line says besides its status and error code."""

    key_id: str | None = None
    upload_bytes: int | None = None
    sha256: str | None = None
    verdict: str | None = None
    score: float | None = None
    model_version: int | None = None


def audit_record(request: Request) -> AuditRecord | None:
    """The request's audit record, when its route is audited."""
    return getattr(request.state, "audit", None)


class AuditLog:
    """Writes the audit line of every request to ``paths`` (ASGI middleware)."""

    def __init__(self, app: ASGIApp, paths: frozenset[str] = frozenset({"/v1/detect"})) -> None:
        self.app = app
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        record = AuditRecord()
        scope.setdefault("state", {})["audit"] = record
        status = 500
        body = b""
        start = time.perf_counter()

        async def capture(message: Message) -> None:
            nonlocal status, body
            if message["type"] == "http.response.start":
                status = message["status"]
            # Only error bodies are read, never a verdict's.
            elif message["type"] == "http.response.body" and status >= 400:
                body = (body + message.get("body", b""))[:_MAX_ERROR_BODY]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            client = scope.get("client")
            log.info(
                "detect",
                extra={
                    "method": scope["method"],
                    "client": client[0] if client else None,
                    "status": status,
                    "error": _error_code(body) if status >= 400 else None,
                    "duration_ms": round((time.perf_counter() - start) * 1000, 1),
                    **asdict(record),
                },
            )


def _error_code(body: bytes) -> str | None:
    """The ``error.code`` of an error answer's body."""
    try:
        return str(json.loads(body)["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return None
