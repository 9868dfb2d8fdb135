"""The transport-free core shared by :class:`Client` and :class:`AsyncClient`.

Everything that does not depend on sync or async I/O lives here: connection settings, TLS,
building each request, the upload source (which rewinds between attempts), and parsing
answers into models and errors into typed exceptions. The retry policy is
:mod:`deepfake_client._retries`, the SSE parser :mod:`deepfake_client._sse`; the two clients
only send what these build and sleep for as long as they say.
"""

from __future__ import annotations

import logging
import mimetypes
import os
import ssl
import uuid
import warnings
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import IO, Any, Literal, TypeVar

import httpx
from pydantic import BaseModel

from . import errors

log = logging.getLogger("deepfake_client")

#: A video (or a still image) to upload: a path, or a binary file object open for reading.
VideoInput = str | os.PathLike[str] | IO[bytes]
#: ``progress(bytes_sent, total_bytes_or_None)`` during an upload.
ProgressCallback = Callable[[int, int | None], None]
Aggregation = Literal["mean", "median", "topk_mean", "confident", "max", "sequence"]

DEFAULT_TIMEOUT = httpx.Timeout(300.0, connect=10.0)
CHUNK = 64 * 1024
USER_AGENT = "deepfake-client-python"

M = TypeVar("M", bound=BaseModel)


def sniff_image_type(head: bytes) -> str | None:
    """``image/jpeg``, ``image/png`` or ``image/webp`` when ``head`` (a file's first bytes)
    starts like one; None otherwise."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


class InsecureTransportWarning(UserWarning):
    """TLS certificate verification was turned off with ``verify=False``."""


def ssl_context(verify: bool | str | os.PathLike[str] | ssl.SSLContext, ca_cert: Any) -> Any:
    """The ``verify=`` for httpx: the system trust store, a CA file, or (warned) nothing.

    ``ca_cert`` (a PEM file) wins over ``verify=True``; ``verify=False`` is honoured only
    when asked explicitly, with an :class:`InsecureTransportWarning`.
    """
    if isinstance(verify, ssl.SSLContext):
        return verify
    if verify is False:
        warnings.warn(
            "TLS certificate verification is off: anyone on the path can read and alter "
            "the traffic",
            InsecureTransportWarning,
            stacklevel=3,
        )
        return False
    cafile = ca_cert if ca_cert is not None else (verify if verify is not True else None)
    if cafile is not None:
        return ssl.create_default_context(cafile=os.fspath(cafile))
    return ssl.create_default_context()


class Upload:
    """A video (or image) body that can be sent again: paths reopen, file objects seek back.

    ``progress`` is called with the bytes sent so far on each chunk of each attempt.
    """

    def __init__(self, video: VideoInput, progress: ProgressCallback | None = None) -> None:
        self.progress = progress
        if isinstance(video, str | os.PathLike):
            self.path: Path | None = Path(video)
            self.file: IO[bytes] | None = None
            self.name = self.path.name
            self.size: int | None = self.path.stat().st_size
        else:
            self.path = None
            self.file = video
            self.name = Path(str(getattr(video, "name", "video"))).name
            try:
                self.start = video.tell()
                size = os.fstat(video.fileno()).st_size - self.start
                self.size = size if size >= 0 else None
            except (AttributeError, OSError, ValueError):
                self.start, self.size = self._measure(video)

    @staticmethod
    def _measure(video: IO[bytes]) -> tuple[int, int | None]:
        try:
            start = video.tell()
            end = video.seek(0, os.SEEK_END)
            video.seek(start)
            return start, end - start
        except (AttributeError, OSError, ValueError) as exc:
            raise TypeError("a file object to upload must be seekable (to retry)") from exc

    def _head(self) -> bytes:
        """The first bytes of the body (a file object is sought back where it was)."""
        if self.path is not None:
            with self.path.open("rb") as file:
                return file.read(16)
        assert self.file is not None
        self.file.seek(self.start)
        head = self.file.read(16)
        self.file.seek(self.start)
        return head

    @property
    def content_type(self) -> str:
        """``video/*`` or ``image/*`` type from the file name, else a JPEG, PNG or WebP
        image's from its first bytes; ``video/mp4`` when neither says anything. (The
        gateway reads what the file is from its bytes; the type only has to admit it.)"""
        guessed, _ = mimetypes.guess_type(self.name)
        if guessed and guessed.startswith(("video/", "image/")):
            return guessed
        return sniff_image_type(self._head()) or "video/mp4"

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": self.content_type}
        if self.size is not None:
            headers["Content-Length"] = str(self.size)
        return headers

    def _chunks(self, file: IO[bytes]) -> Iterator[bytes]:
        sent = 0
        while chunk := file.read(CHUNK):
            sent += len(chunk)
            if self.progress is not None:
                self.progress(sent, self.size)
            yield chunk

    def iter_sync(self) -> Iterator[bytes]:
        """The body of one attempt, from the start of the video."""
        if self.path is not None:
            with self.path.open("rb") as file:
                yield from self._chunks(file)
        else:
            assert self.file is not None
            self.file.seek(self.start)
            yield from self._chunks(self.file)

    async def iter_async(self) -> AsyncIterator[bytes]:
        """The body of one attempt, from the start of the video (local reads block briefly)."""
        for chunk in self.iter_sync():
            yield chunk


@dataclass
class RequestSpec:
    """One API call: what to send, whether it may be retried, what answers it."""

    method: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    json_body: Any = None
    upload: Upload | None = None
    #: Retrying resends the same effect: safe methods, detect, or an Idempotency-Key.
    retryable: bool = True
    timeout: httpx.Timeout | None = None


def detect_params(
    *,
    model_version: int | None,
    model_label: str | None,
    frames: int | None,
    fps: float | None,
    aggregation: str | None,
    explain: bool = False,
    operating_point: str | None = None,
    robustness: bool = False,
) -> dict[str, Any]:
    """The query parameters of ``/v1/detect`` and ``/v1/jobs``; unset ones left out."""
    given = {
        "model_version": model_version,
        "model_label": model_label,
        "frames": frames,
        "fps": fps,
        "aggregation": aggregation,
        "explain": "true" if explain else None,
        "operating_point": operating_point,
        "robustness": "true" if robustness else None,
    }
    return {k: v for k, v in given.items() if v is not None}


def upload_spec(
    path: str,
    video: VideoInput,
    params: dict[str, Any],
    progress: ProgressCallback | None,
    headers: dict[str, str] | None = None,
) -> RequestSpec:
    """A raw ``video/*`` upload to ``path``."""
    upload = Upload(video, progress)
    return RequestSpec(
        "POST", path, params=params, headers={**upload.headers(), **(headers or {})}, upload=upload
    )


def new_idempotency_key() -> str:
    """A fresh ``Idempotency-Key``: the same for every retry of one call."""
    return str(uuid.uuid4())


def build_request(client: httpx.Client | httpx.AsyncClient, spec: RequestSpec) -> httpx.Request:
    """The httpx request of one attempt (a fresh body stream each time)."""
    content: Any = None
    if spec.upload is not None:
        is_async = isinstance(client, httpx.AsyncClient)
        content = spec.upload.iter_async() if is_async else spec.upload.iter_sync()
    extensions = {"timeout": spec.timeout.as_dict()} if spec.timeout is not None else None
    return client.build_request(
        spec.method,
        spec.path,
        params=spec.params or None,
        headers=spec.headers,
        json=spec.json_body,
        content=content,
        extensions=extensions,
    )


def retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date), if the answer has one."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    from datetime import UTC, datetime

    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def error_of(response: httpx.Response) -> errors.ApiError:
    """The typed error of a non-2xx answer (needs the body read)."""
    code: str | None = None
    message = response.reason_phrase or "error"
    try:
        body = response.json()
        detail = body.get("error") if isinstance(body, dict) else None
        if isinstance(detail, dict):
            code = detail.get("code")
            message = str(detail.get("message", message))
    except (ValueError, UnicodeDecodeError):
        pass
    if code is None:
        code = f"http_{response.status_code}"
    return errors.error_for(
        response.status_code,
        code,
        message,
        retry_after=retry_after(response),
        request_id=response.headers.get("x-request-id"),
    )


def parse(response: httpx.Response, model: type[M]) -> M:
    """The answer's body as ``model``, or the typed error of an error answer."""
    if response.is_error:
        raise error_of(response)
    return model.model_validate(response.json())


def check(response: httpx.Response) -> None:
    """Raise the typed error of an error answer; nothing otherwise."""
    if response.is_error:
        raise error_of(response)


def transport_error(exc: httpx.TransportError) -> errors.TransportError:
    """The SDK's error for a request that got no answer."""
    return errors.TransportError(f"{type(exc).__name__}: {exc}")


def default_headers(api_key: str | None, extra: Mapping[str, str] | None) -> dict[str, str]:
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    headers.update(extra or {})
    return headers


def settings_from_env(
    base_url: str | None, api_key: str | None, ca_cert: Any
) -> tuple[str, str | None, Any]:
    """Fill what was not given from ``DEEPFAKE_URL``, ``DEEPFAKE_API_KEY``, ``DEEPFAKE_CA_CERT``."""
    url = base_url or os.environ.get("DEEPFAKE_URL")
    if not url:
        raise ValueError("no gateway URL: pass base_url= or set DEEPFAKE_URL")
    return (
        url,
        api_key if api_key is not None else os.environ.get("DEEPFAKE_API_KEY"),
        ca_cert if ca_cert is not None else os.environ.get("DEEPFAKE_CA_CERT") or None,
    )
