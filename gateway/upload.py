"""Receive stage: stream a request body to a temporary file within a size limit.

Accepts ``multipart/form-data`` with the file in the field ``video`` or a raw body
with ``Content-Type: video/*`` (or ``application/octet-stream``).  The body is never
held in memory: chunks go straight to disk and the limit is checked as they arrive.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from .errors import (
    BadRequest,
    ClientDisconnected,
    MissingVideo,
    UnsupportedMediaType,
    UploadTooLarge,
)

VIDEO_FIELD = "video"
# Multipart framing around the file: boundaries and part headers.
_MULTIPART_OVERHEAD = 64 * 1024


class _FieldWriter:
    """Streaming multipart callbacks that copy the ``video`` part into ``out``."""

    def __init__(self, out: object, max_bytes: int) -> None:
        self.out = out
        self.max_bytes = max_bytes
        self.written = 0
        self.found = False
        self._in_video = False
        self._header_field = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}

    def on_part_begin(self) -> None:
        self._headers = {}

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._header_field.strip().lower()] = self._header_value.strip()
        self._header_field = b""
        self._header_value = b""

    def on_headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        self._in_video = name == VIDEO_FIELD and not self.found
        if self._in_video:
            self.found = True

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if not self._in_video:
            return
        self.written += end - start
        if self.written > self.max_bytes:
            raise UploadTooLarge(f"upload exceeds the limit of {self.max_bytes} bytes")
        self.out.write(data[start:end])  # type: ignore[attr-defined]

    def on_part_end(self) -> None:
        self._in_video = False


async def _chunks(request: Request) -> AsyncIterator[bytes]:
    try:
        async for chunk in request.stream():
            if chunk:
                yield chunk
    except ClientDisconnect as exc:
        raise ClientDisconnected("client disconnected during upload") from exc


def _check_declared_length(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise UploadTooLarge(f"upload of {declared} bytes exceeds the limit of {limit} bytes")


async def receive_upload(request: Request, *, max_bytes: int, directory: Path | None) -> Path:
    """Write the uploaded video to a new temporary file and return its path.

    The caller owns the file and must delete it; on any error here it is already gone.
    """
    mime, params = parse_options_header(request.headers.get("content-type", ""))
    mime_text = mime.decode("latin-1").lower()
    is_multipart = mime_text == "multipart/form-data"
    is_raw = mime_text.startswith("video/") or mime_text == "application/octet-stream"
    if not (is_multipart or is_raw):
        raise UnsupportedMediaType(
            f"unsupported Content-Type {mime_text or '(none)'!r}: send multipart/form-data "
            f"with a '{VIDEO_FIELD}' field, or a raw body with Content-Type video/*"
        )
    _check_declared_length(request, max_bytes + (_MULTIPART_OVERHEAD if is_multipart else 0))
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="upload-", suffix=".video", dir=directory)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            if is_multipart:
                boundary = params.get(b"boundary")
                if not boundary:
                    raise BadRequest("multipart body without a boundary")
                writer = _FieldWriter(out, max_bytes)
                parser = MultipartParser(
                    boundary,
                    callbacks={
                        "on_part_begin": writer.on_part_begin,
                        "on_header_field": writer.on_header_field,
                        "on_header_value": writer.on_header_value,
                        "on_header_end": writer.on_header_end,
                        "on_headers_finished": writer.on_headers_finished,
                        "on_part_data": writer.on_part_data,
                        "on_part_end": writer.on_part_end,
                    },  # type: ignore[arg-type]
                )
                async for chunk in _chunks(request):
                    try:
                        parser.write(chunk)
                    except UploadTooLarge:
                        raise
                    except Exception as exc:  # python-multipart raises its own error types
                        raise BadRequest(f"malformed multipart body: {exc}") from exc
                parser.finalize()
                if not writer.found:
                    raise MissingVideo(f"multipart body has no '{VIDEO_FIELD}' field")
                size = writer.written
            else:
                size = 0
                async for chunk in _chunks(request):
                    size += len(chunk)
                    if size > max_bytes:
                        raise UploadTooLarge(f"upload exceeds the limit of {max_bytes} bytes")
                    out.write(chunk)
        if size == 0:
            raise MissingVideo("empty upload: no video bytes received")
        return path
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        raise
