"""What decoding one upload may cost: CPU time, decoded pixels and wall-clock time.

A small file can be expensive to decode (a long GOP crossed frame by frame, a huge
resolution, a stream crafted to be slow). The decode thread checks its
:class:`DecodeBudget` at every packet and frame and stops with
:class:`~gateway.errors.VideoLimitExceeded` once any part is spent, or with
:class:`DecodeCancelled` once the request no longer wants the frames.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from ..errors import VideoLimitExceeded


@dataclass(frozen=True)
class DecodeLimits:
    """Per-upload decoding limits (``GATEWAY_DECODE_*``)."""

    #: CPU seconds of the decode thread (``time.thread_time``). FFmpeg's helper threads,
    #: used when cores are idle, are not counted; the pixel and time limits still bound them.
    cpu_s: float
    #: Sum of the areas of every frame decoded, sampled or not.
    max_pixels: int
    #: Wall-clock seconds from the start of decoding.
    timeout_s: float


class DecodeCancelled(Exception):
    """The request went away (failed, timed out, disconnected): decoding stops quietly."""


class DecodeBudget:
    """The part of :class:`DecodeLimits` one decode has spent; used on the decode thread only.

    :meth:`start` must run on the thread that decodes, as CPU time is that thread's own.
    """

    def __init__(self, limits: DecodeLimits, cancel: threading.Event | None = None) -> None:
        self.limits = limits
        self._cancel = cancel or threading.Event()
        self._cpu_start = 0.0
        self._deadline = 0.0
        self.pixels = 0

    def start(self) -> None:
        """Start counting CPU time and the deadline from now, on the calling thread."""
        self._cpu_start = time.thread_time()
        self._deadline = time.monotonic() + self.limits.timeout_s
        self.pixels = 0

    @property
    def cpu_s(self) -> float:
        """CPU seconds the calling (decode) thread has spent since :meth:`start`."""
        return time.thread_time() - self._cpu_start

    def check(self) -> None:
        """Raise if decoding must stop: cancelled, or over any limit."""
        if self._cancel.is_set():
            raise DecodeCancelled
        if self.cpu_s > self.limits.cpu_s:
            raise VideoLimitExceeded(
                f"decoding the video needed more than {self.limits.cpu_s:g} CPU seconds"
            )
        if time.monotonic() > self._deadline:
            raise VideoLimitExceeded(
                f"decoding the video took longer than {self.limits.timeout_s:g} s"
            )

    def add_frame(self, width: int, height: int) -> None:
        """Count one decoded frame; raise once the decoded pixels exceed the limit."""
        self.pixels += width * height
        if self.pixels > self.limits.max_pixels:
            raise VideoLimitExceeded(
                f"decoding the video needed more than {self.limits.max_pixels} pixels"
            )
        self.check()
