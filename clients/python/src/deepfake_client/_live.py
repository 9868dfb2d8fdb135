"""The transport-free core of a live session, shared by the sync and async sessions.

Everything that does not depend on threads or asyncio lives here: where to connect and how
to authenticate, the ``hello``, the bookkeeping of the gateway's credit, what each message
from the gateway changes, and which error a close stands for. The sessions
(:mod:`deepfake_client.live`, :mod:`deepfake_client.live_sync`) only move bytes and wait.
"""

from __future__ import annotations

import hashlib
import json
import re
import ssl
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from . import errors
from ._core import Upload
from .live_models import LiveContainer, LiveInput, LiveReady, LiveSummary, LiveVerdict

#: The subprotocol of this version of the protocol.
SUBPROTOCOL = "deepfake-live.v1"
#: The path of the endpoint, under the client's base URL.
LIVE_PATH = "/v1/live"
#: Rolling verdicts kept for a reader that has not taken them yet (the newest win).
VERDICT_BACKLOG = 1000
#: Bytes per binary message when a video file is streamed: credit counts messages and comes
#: at most ``max_fps`` a second, so chunks this large let 5 a second carry 10 Mbit/s.
VIDEO_CHUNK = 256 * 1024
#: A key may go in ``Sec-WebSocket-Protocol`` only if it is an HTTP token (RFC 9110).
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


@dataclass(frozen=True)
class Connection:
    """Where a client's live sessions connect: its base URL, key and TLS settings."""

    base_url: str
    api_key: str | None
    #: The client's TLS setting: a context, or False when verification is off (warned).
    tls: ssl.SSLContext | bool
    user_agent: str

    def url(self) -> str:
        """``wss://`` (or ``ws://``) of the base URL, with ``/v1/live`` appended; no key."""
        parts = urlsplit(self.base_url)
        scheme = {"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme)
        return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + LIVE_PATH, "", ""))

    def ssl_context(self) -> ssl.SSLContext | None:
        """The context for ``wss://``: the client's own, or an unverifying one for
        ``verify=False`` (already warned about when the client was made)."""
        if urlsplit(self.base_url).scheme != "https":
            return None
        if isinstance(self.tls, ssl.SSLContext):
            return self.tls
        if self.tls is False:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        return ssl.create_default_context()

    def key_in_header(self) -> bool:
        """Whether the key can travel as a subprotocol (else it goes in the ``hello``)."""
        return bool(self.api_key) and bool(_TOKEN.match(self.api_key or ""))

    def subprotocols(self) -> list[str]:
        """What the client offers: the protocol, and ``key.<api key>`` when it can."""
        offered = [SUBPROTOCOL]
        if self.key_in_header():
            offered.append(f"key.{self.api_key}")
        return offered


@dataclass(frozen=True)
class LiveOptions:
    """The ``hello``'s settings (unset ones are left to the gateway)."""

    input: LiveInput = "images"
    container: LiveContainer | None = None
    model_version: int | None = None
    model_label: str | None = None
    window: float | None = None
    operating_point: str | None = None

    def hello(self, api_key: str | None) -> str:
        """The ``hello`` message; ``api_key`` only when it did not go in the header."""
        given = {
            "type": "hello",
            "api_key": api_key,
            "input": self.input,
            "container": self.container,
            "model_version": self.model_version,
            "model_label": self.model_label,
            "window": self.window,
            "operating_point": self.operating_point,
        }
        return json.dumps({k: v for k, v in given.items() if v is not None})


END_MESSAGE = json.dumps({"type": "end"})


def close_status(code: int) -> int:
    """The HTTP status a close code stands for (``4xxx`` -> ``xxx``; 1013 -> 503)."""
    if 4000 <= code < 5000:
        return code - 4000
    return 503 if code == 1013 else 0


@dataclass
class LiveState:
    """What a session knows: its credit, what it sent, and what the gateway said.

    Not thread-safe by itself: the sync session calls it under its lock, the async one from
    its event loop only.
    """

    ready: LiveReady | None = None
    #: Frames the gateway will take now.
    credit: int = 0
    #: Every credit granted: ``ready.credit`` and each ``credit`` message's.
    credit_granted: int = 0
    frames_sent: int = 0
    #: Frames the client did not send because it had no credit.
    frames_dropped: int = 0
    bytes_sent: int = 0
    last_verdict: LiveVerdict | None = None
    summary: LiveSummary | None = None
    #: The gateway's ``error`` message, as the typed error it stands for.
    error: errors.ApiError | None = None
    closed: bool = False
    close_code: int | None = None
    close_reason: str = ""
    ended: bool = False
    #: Verdicts not yet taken by the session's iterator.
    verdicts: deque[LiveVerdict] = field(default_factory=lambda: deque(maxlen=VERDICT_BACKLOG))
    #: Every verdict, in order (one a second: 600 for the longest session by default).
    received: list[LiveVerdict] = field(default_factory=list)
    _digest: Any = field(default_factory=hashlib.sha256)

    @property
    def sha256(self) -> str:
        """SHA-256 of the bytes sent so far, in order: what a summary's receipt signs."""
        return self._digest.hexdigest()

    def take_credit(self) -> bool:
        """Use one credit, if there is one."""
        if self.credit <= 0:
            return False
        self.credit -= 1
        return True

    def sent(self, data: bytes) -> None:
        self.frames_sent += 1
        self.bytes_sent += len(data)
        self._digest.update(data)

    def on_message(self, raw: str | bytes) -> None:
        """Apply one message of the gateway (unknown types are ignored, for newer ones)."""
        if isinstance(raw, bytes):
            return
        message = json.loads(raw)
        kind = message.get("type")
        if kind == "ready":
            self.ready = LiveReady.model_validate(message)
            self.credit = self.credit_granted = self.ready.credit
        elif kind == "credit":
            # A grant of that many more frames (docs/live.md: "how many more frames").
            granted = int(message.get("frames", 0))
            self.credit += granted
            self.credit_granted += granted
        elif kind == "verdict":
            verdict = LiveVerdict.model_validate(message)
            self.last_verdict = verdict
            self.verdicts.append(verdict)
            self.received.append(verdict)
        elif kind == "summary":
            self.summary = LiveSummary.model_validate(message)
        elif kind == "error":
            code = str(message.get("code") or "live_error")
            status = 503 if code == "serving_unavailable" else 0
            self.error = errors.error_for(status, code, str(message.get("message", code)))

    def on_close(self, code: int | None, reason: str) -> None:
        self.closed = True
        self.close_code = code
        self.close_reason = reason
        if self.error is not None and code is not None and not self.error.status:
            self.error.status = close_status(code)

    def send_error(self, detail: str) -> errors.DeepfakeError:
        """What a send on an ended session raises: why it ended (the gateway's ``error``
        even after a summary, as when the version was unloaded midway), else ``detail``."""
        return self.failure() or self.error or errors.TransportError(detail)

    def failure(self) -> errors.DeepfakeError | None:
        """Why the session ended without what was asked: None after a summary (a limit's
        close after one is a normal end) or before any close."""
        if self.summary is not None or not self.closed:
            return None
        if self.error is not None:
            return self.error
        code = self.close_code
        if code is None or code in (1000, 1001):
            return errors.TransportError(f"the live session closed ({code}) without a summary")
        status = close_status(code)
        if status:
            reason = self.close_reason or f"live_{code}"
            return errors.error_for(status, reason, f"the gateway closed the session: {reason}")
        return errors.TransportError(f"the live session was cut ({code} {self.close_reason})")


def video_chunks(upload: Upload, size: int) -> Iterator[bytes]:
    """The upload's bytes in pieces of ``size`` (the last one shorter), read as needed."""
    buffer = bytearray()
    for piece in upload.iter_sync():
        buffer += piece
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    if buffer:
        yield bytes(buffer)


class Pacer:
    """Spreads a file's bytes over ``duration`` seconds (None: no waiting), as a camera
    would produce them: a file's bytes are roughly even over its time."""

    def __init__(self, upload: Upload, duration: float | None) -> None:
        self.upload = upload
        self.duration = duration
        self.bytes_sent = 0
        self._start = time.monotonic()

    def delay(self) -> float:
        """Seconds to wait before the next chunk."""
        if not self.duration or not self.upload.size:
            return 0.0
        due = self._start + self.duration * self.bytes_sent / self.upload.size
        return max(0.0, due - time.monotonic())

    def sent(self, count: int) -> None:
        self.bytes_sent += count
