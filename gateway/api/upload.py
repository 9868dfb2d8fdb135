"""Receive stage: stream a request body to a temporary file within size, time and form limits.

Accepts ``multipart/form-data`` with the file in the field ``video`` (or ``image``) or a
raw body with ``Content-Type: video/*``, ``image/*`` (or ``application/octet-stream``).
The declared type only admits the body: what the file is, is read from its bytes later
(:mod:`gateway.pipeline.sources`).  The body is never
held in memory: chunks go straight to disk, the limits are checked as they arrive and
the SHA-256 of the video is computed on the way.  The temporary file's name is the
gateway's own; a client-supplied file name is never read.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from .. import metrics
from ..errors import (
    BadRequest,
    ClientDisconnected,
    GatewayError,
    MissingVideo,
    RequestTimeout,
    UnsupportedMediaType,
    UploadTooLarge,
)

log = logging.getLogger(__name__)

VIDEO_FIELD = "video"
#: The same, under the name a still image is more naturally sent with.
IMAGE_FIELD = "image"
_FILE_FIELDS = (VIDEO_FIELD, IMAGE_FIELD)
#: The JSON field of a job fetched from a URL; as a form field beside a file, it is refused.
MEDIA_URL_FIELD = "media_url"
#: The request body every upload route documents in OpenAPI: what :func:`receive_upload` reads.
UPLOAD_REQUEST_BODY: dict[str, object] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "description": f"The file in '{VIDEO_FIELD}' (or '{IMAGE_FIELD}'): a video, or "
                "a JPEG, PNG or WebP image.",
                "properties": {
                    VIDEO_FIELD: {"type": "string", "format": "binary"},
                    IMAGE_FIELD: {"type": "string", "format": "binary"},
                },
                "anyOf": [{"required": [VIDEO_FIELD]}, {"required": [IMAGE_FIELD]}],
            }
        },
        "video/*": {"schema": {"type": "string", "format": "binary"}},
        "image/*": {"schema": {"type": "string", "format": "binary"}},
    },
}
# Multipart framing around a part besides its headers: boundary, CRLFs.
_PART_FRAMING = 256


@dataclass(frozen=True)
class UploadLimits:
    """How much, how slowly and in what shape a client may send a body."""

    max_bytes: int
    #: Longest wait for the next body chunk.
    idle_timeout_s: float = 10.0
    #: Slowest average rate accepted once ``grace_s`` has passed.
    min_bytes_per_s: int = 16384
    grace_s: float = 5.0
    max_parts: int = 16
    max_part_header_bytes: int = 8192

    @property
    def multipart_overhead(self) -> int:
        """Most bytes a multipart body may carry besides the video."""
        return self.max_parts * (self.max_part_header_bytes + _PART_FRAMING)


@dataclass(frozen=True)
class Upload:
    """A received video: the caller owns ``path`` and must delete it."""

    path: Path
    size: int
    sha256: str


class _FieldWriter:
    """Streaming multipart callbacks that copy the ``video`` (or ``image``) part into ``out``."""

    def __init__(self, out: BinaryIO, limits: UploadLimits) -> None:
        self.out = out
        self.limits = limits
        self.written = 0
        self.digest = hashlib.sha256()
        self.found = False
        self.parts = 0
        self._header_bytes = 0
        self._in_video = False
        self._header_field = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > self.limits.max_parts:
            raise BadRequest(f"multipart body has more than {self.limits.max_parts} parts")
        self._headers = {}
        self._header_bytes = 0

    def _count_header(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self.limits.max_part_header_bytes:
            raise BadRequest(
                f"multipart part headers over {self.limits.max_part_header_bytes} bytes"
            )

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._count_header(end - start)
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._count_header(end - start)
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._header_field.strip().lower()] = self._header_value.strip()
        self._header_field = b""
        self._header_value = b""

    def on_headers_finished(self) -> None:
        # Only the field name matters; ``filename`` is deliberately never looked at.
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        if name == MEDIA_URL_FIELD:
            raise BadRequest(
                f"give a file or a {MEDIA_URL_FIELD} (as a JSON body to /v1/jobs), not both"
            )
        self._in_video = name in _FILE_FIELDS and not self.found
        if self._in_video:
            self.found = True

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if not self._in_video:
            return
        self.written += end - start
        if self.written > self.limits.max_bytes:
            raise UploadTooLarge(f"upload exceeds the limit of {self.limits.max_bytes} bytes")
        chunk = data[start:end]
        self.digest.update(chunk)
        self.out.write(chunk)

    def on_part_end(self) -> None:
        self._in_video = False


async def _chunks(request: Request, limits: UploadLimits, budget: int) -> AsyncIterator[bytes]:
    """The body's chunks, cut off when idle, too slow on average, or over ``budget`` bytes."""
    stream = request.stream().__aiter__()
    started = time.monotonic()
    received = 0
    while True:
        try:
            async with asyncio.timeout(limits.idle_timeout_s):
                chunk = await anext(stream)
        except StopAsyncIteration:
            return
        except TimeoutError as exc:
            metrics.UPLOADS_CUT_OFF.labels(reason="idle").inc()
            raise RequestTimeout(
                f"no upload data for {limits.idle_timeout_s:g} s; request cut off"
            ) from exc
        except ClientDisconnect as exc:
            raise ClientDisconnected("client disconnected during upload") from exc
        received += len(chunk)
        if received > budget:
            raise UploadTooLarge(f"upload exceeds the limit of {limits.max_bytes} bytes")
        elapsed = time.monotonic() - started
        if elapsed > limits.grace_s and received < limits.min_bytes_per_s * elapsed:
            metrics.UPLOADS_CUT_OFF.labels(reason="slow").inc()
            raise RequestTimeout(
                f"upload slower than {limits.min_bytes_per_s} bytes/s; request cut off"
            )
        if chunk:
            yield chunk


def _check_declared_length(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length")
    # ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise UploadTooLarge(f"upload of {declared} bytes exceeds the limit of {limit} bytes")


async def _receive_multipart(
    request: Request, boundary: bytes, out: BinaryIO, limits: UploadLimits
) -> tuple[int, str]:
    writer = _FieldWriter(out, limits)
    try:
        # In the try: the parser refuses some boundaries (longer than 256 bytes) when built.
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
        async for chunk in _chunks(request, limits, limits.max_bytes + limits.multipart_overhead):
            parser.write(chunk)
        parser.finalize()
    except (GatewayError, OSError):
        # A full disk while writing the part is the storage's failure, not the client's.
        raise
    except Exception as exc:  # python-multipart raises its own error types
        # Its text names offsets and internals: logged here, never sent.
        log.info("malformed multipart body", extra={"detail": str(exc)})
        raise BadRequest("malformed multipart body") from exc
    if not writer.found:
        raise MissingVideo(f"multipart body has no '{VIDEO_FIELD}' (or '{IMAGE_FIELD}') field")
    return writer.written, writer.digest.hexdigest()


async def _receive_raw(request: Request, out: BinaryIO, limits: UploadLimits) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    async for chunk in _chunks(request, limits, limits.max_bytes):
        size += len(chunk)
        digest.update(chunk)
        out.write(chunk)
    return size, digest.hexdigest()


async def receive_upload(
    request: Request, *, limits: UploadLimits, directory: Path | None
) -> Upload:
    """Write the uploaded video (or image) to a new temporary file in ``directory``.

    The caller owns the file and must delete it; on any error here it is already gone.
    """
    mime, params = parse_options_header(request.headers.get("content-type", ""))
    mime_text = mime.decode("latin-1").lower()
    is_multipart = mime_text == "multipart/form-data"
    is_raw = mime_text.startswith(("video/", "image/")) or mime_text == "application/octet-stream"
    if not (is_multipart or is_raw):
        raise UnsupportedMediaType(
            f"unsupported Content-Type {mime_text[:100] or '(none)'!r}: send multipart/form-data "
            f"with a '{VIDEO_FIELD}' field, or a raw body with Content-Type video/* or image/*"
        )
    boundary = params.get(b"boundary") if is_multipart else None
    if is_multipart and not boundary:
        raise BadRequest("multipart body without a boundary")
    _check_declared_length(
        request, limits.max_bytes + (limits.multipart_overhead if is_multipart else 0)
    )
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="upload-", suffix=".video", dir=directory)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            if boundary:
                size, sha256 = await _receive_multipart(request, boundary, out, limits)
            else:
                size, sha256 = await _receive_raw(request, out, limits)
        if size == 0:
            raise MissingVideo("empty upload: no video bytes received")
        return Upload(path, size, sha256)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        raise
