"""A bounded download verified against a pinned sha256, and why one was not used.

Downloads are streamed to a file with a size cap, a socket timeout and an overall deadline;
any failure removes the file and is raised as a :class:`DownloadError` with its reason.
"""

from __future__ import annotations

import hashlib
import http.client
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Literal

#: Per socket operation (connect, each read): short, so an offline machine falls back fast.
DEFAULT_TIMEOUT_S = 10.0
#: The whole download may not take longer than this, however the bytes trickle in.
DEFAULT_DEADLINE_S = 120.0
_CHUNK = 64 * 1024
#: No download may exceed this many bytes (the files are about 0.2 MB).
MAX_DOWNLOAD_BYTES = 8 * 1024 * 1024


#: Why a download was not used (``reason`` of the log record and of :class:`DownloadError`).
Reason = Literal[
    "disabled",
    "unreachable",
    "timeout",
    "http_error",
    "incomplete",
    "too_large",
    "checksum",
    "import_failed",
]


class DownloadError(RuntimeError):
    """A download that must not be used; ``reason`` says why, in one word."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason: Reason = reason


def _is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, TimeoutError | socket.timeout) or (
        isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, TimeoutError)
    )


def download_verified(
    url: str,
    destination: Path,
    *,
    sha256: str,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    deadline_s: float = DEFAULT_DEADLINE_S,
) -> int:
    """Stream ``url`` into ``destination`` and check its sha256; return the bytes written.

    Raises :class:`DownloadError` (and removes ``destination``) when the server cannot be
    reached, answers an HTTP error, stalls past ``timeout_s`` or ``deadline_s``, sends more
    than ``max_bytes`` or less than its ``Content-Length``, or the bytes do not hash to
    ``sha256``. Only ``http``, ``https`` and ``file`` URLs are fetched.
    """
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https", "file"):
        raise DownloadError("unreachable", f"unsupported URL scheme {scheme!r} in {url}")
    digest = hashlib.sha256()
    written = 0
    started = time.monotonic()
    try:
        with (
            urllib.request.urlopen(url, timeout=timeout_s) as response,
            destination.open("wb") as out,
        ):
            declared = response.headers.get("Content-Length")
            expected = int(declared) if declared and declared.isdigit() else None
            if expected is not None and expected > max_bytes:
                raise DownloadError("too_large", f"{url} announces {expected} bytes > {max_bytes}")
            while chunk := response.read(_CHUNK):
                written += len(chunk)
                if written > max_bytes:
                    raise DownloadError("too_large", f"{url} sent more than {max_bytes} bytes")
                if time.monotonic() - started > deadline_s:
                    raise DownloadError("timeout", f"{url} took longer than {deadline_s:g} s")
                digest.update(chunk)
                out.write(chunk)
        # http.client returns a short body without complaint when the peer closes early.
        if expected is not None and written != expected:
            raise DownloadError("incomplete", f"{url} ended after {written} of {expected} bytes")
        if digest.hexdigest() != sha256:
            raise DownloadError(
                "checksum", f"{url} has sha256 {digest.hexdigest()}, expected {sha256}"
            )
    except DownloadError:
        destination.unlink(missing_ok=True)
        raise
    except urllib.error.HTTPError as exc:
        destination.unlink(missing_ok=True)
        raise DownloadError("http_error", f"{url} answered HTTP {exc.code}") from exc
    except http.client.IncompleteRead as exc:
        destination.unlink(missing_ok=True)
        raise DownloadError("incomplete", f"{url} ended early: {exc!r}") from exc
    except (OSError, http.client.HTTPException, ValueError) as exc:
        # URLError, refused/reset connections and DNS failures are OSErrors.
        destination.unlink(missing_ok=True)
        if _is_timeout(exc):
            raise DownloadError("timeout", f"{url} timed out after {timeout_s:g} s") from exc
        if isinstance(exc, http.client.HTTPException | ConnectionResetError):
            raise DownloadError("incomplete", f"{url} dropped the connection: {exc!r}") from exc
        raise DownloadError("unreachable", f"{url} could not be fetched: {exc!r}") from exc
    return written
