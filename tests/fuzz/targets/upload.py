"""The request body: :func:`gateway.api.upload.receive_upload` on an ASGI request made of the bytes.

An input is one flag byte, then header lines (``name: value``) up to an empty line, then
the body. The flag byte picks the limits (bit 0: the gateway's defaults, or the smallest
its settings allow, so that the limit paths are reached by small inputs), the chunk size
the body arrives in (bits 1-4) and whether the client disconnects at the end (bit 5).
Header values keep only bytes an HTTP/1.1 server lets through.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import tempfile
from pathlib import Path

from starlette.requests import Request

from gateway.api.upload import UploadLimits, receive_upload
from gateway.errors import (
    BadRequest,
    ClientDisconnected,
    MissingVideo,
    RequestTimeout,
    UnsupportedMediaType,
    UploadTooLarge,
)
from tests.fuzz.support import gateway_default

#: What receive_upload documents raising for a client's body.
EXPECTED = (
    BadRequest,
    ClientDisconnected,
    MissingVideo,
    RequestTimeout,
    UnsupportedMediaType,
    UploadTooLarge,
)
DEFAULT_LIMITS = UploadLimits(
    max_bytes=gateway_default("max_upload_bytes"),
    idle_timeout_s=gateway_default("upload_idle_timeout_s"),
    min_bytes_per_s=gateway_default("upload_min_bytes_per_s"),
    grace_s=gateway_default("upload_grace_s"),
    max_parts=gateway_default("max_form_parts"),
    max_part_header_bytes=gateway_default("max_part_header_bytes"),
)
#: The smallest the settings accept (GATEWAY_MAX_PART_HEADER_BYTES is at least 256).
TIGHT_LIMITS = UploadLimits(max_bytes=1024, max_parts=2, max_part_header_bytes=256)
#: Bytes h11 refuses in a header value (controls but tab; DEL).
_NOT_IN_HEADER = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_DIRECTORY = Path(tempfile.mkdtemp(prefix="fuzz-upload-"))
_RUNNER = asyncio.Runner()


def _request(data: bytes) -> tuple[Request, bytes, UploadLimits]:
    """The request ``data`` describes, its body, and the limits it is received under."""
    flags = data[0] if data else 0
    head, _, body = data[1:].partition(b"\n\n")
    headers = []
    for line in head.split(b"\n")[:16]:
        name, sep, value = line.partition(b":")
        name = name.strip().lower()
        if sep and re.fullmatch(rb"[!#$%&'*+.^_`|~0-9a-z-]+", name):
            headers.append((name, _NOT_IN_HEADER.sub(b"", value).strip()))
    chunk = 1 << ((flags >> 1) & 0x0F)
    pieces = [body[i : i + chunk] for i in range(0, len(body), chunk)] or [b""]
    disconnect = bool(flags & 0x20)
    messages = [
        {"type": "http.request", "body": p, "more_body": i < len(pieces) - 1 or disconnect}
        for i, p in enumerate(pieces)
    ]
    if disconnect:
        messages.append({"type": "http.disconnect"})

    async def receive() -> dict[str, object]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/detect",
        "query_string": b"",
        "headers": headers,
        "http_version": "1.1",
    }
    return Request(scope, receive), body, TIGHT_LIMITS if flags & 1 else DEFAULT_LIMITS


async def _receive(data: bytes) -> None:
    request, body, limits = _request(data)
    try:
        upload = await receive_upload(request, limits=limits, directory=_DIRECTORY)
    except EXPECTED:
        leftovers = list(_DIRECTORY.iterdir())
        assert not leftovers, f"temporary file left after an error: {leftovers}"
        return
    try:
        written = upload.path.read_bytes()
        assert len(written) == upload.size > 0
        assert hashlib.sha256(written).hexdigest() == upload.sha256
        assert upload.size <= limits.max_bytes
        raw = request.headers.get("content-type", "").lower().startswith(("video/", "image/"))
        if raw:
            assert written == body, "a raw body must be stored as sent"
    finally:
        upload.path.unlink()


def TestOneInput(data: bytes) -> None:
    """Receive the request ``data`` describes; only the documented refusals are expected."""
    _RUNNER.run(_receive(data))
