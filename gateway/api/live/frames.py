"""Binary messages to upright RGB frames: still images one by one, or one video stream.

An image goes through the upload's own reader (:func:`gateway.pipeline.image.decode_image_bytes`:
type by its first bytes, the pixel limit before decoding, EXIF orientation) and the frame
rule (:func:`gateway.pipeline.image.shaped_frame`, :class:`gateway.pipeline.video.FrameShaper`).
A stream's chunks go into a :class:`BytePipe`, bounded in bytes, that PyAV reads on a
thread (:class:`StreamDecoder`); it demuxes with the one container format the hello named and
never seeks, picks frames at most ``max_fps`` per second of stream time and turns them
upright (:func:`contract.frames.display_rotation`) with the same frame rule.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import av
import numpy as np

from contract.frames import display_rotation

from ... import metrics
from ...errors import ImageTooLarge, InvalidVideo
from ...pipeline.image import decode_image_bytes, shaped_frame
from ...pipeline.video import FrameShaper, SampledFrame

log = logging.getLogger(__name__)

#: What FFmpeg may read before the first frame: a live stream must not wait for seconds of
#: data (its defaults are 5 MB and 5 s) before anything is scored.
_OPEN_OPTIONS = {"probesize": "1000000", "analyzeduration": "1000000"}
#: Client-facing reason; FFmpeg's text goes to the log.
UNREADABLE = "the stream cannot be read as the container the hello named"


@dataclass(frozen=True)
class LiveFrame:
    """One frame to score: the shaped frame, its upright size as received, and when it came."""

    frame: SampledFrame
    #: ``(width, height)`` upright, before the frame rule's scaling.
    size: tuple[int, int]
    #: ``time.monotonic()`` when its message was received (or it was decoded).
    received: float


@dataclass(frozen=True)
class FrameRule:
    """The sizes every frame of one session is shaped to (the pipeline's and the version's)."""

    max_side: int
    min_side: int = 0
    canvas: int | None = None

    def shaper(self) -> FrameShaper:
        return FrameShaper(max_side=self.max_side, min_side=self.min_side, canvas=self.canvas)


class ImageReader:
    """Still images of one session, each decoded on its own (call :meth:`read` on a thread)."""

    def __init__(self, rule: FrameRule, max_pixels: int) -> None:
        self.rule = rule
        self.max_pixels = max_pixels
        self._shaper: FrameShaper | None = None
        self._size: tuple[int, int] | None = None

    def read(self, data: bytes, *, index: int, t_s: float, received: float) -> LiveFrame:
        """The frame in ``data``; :class:`~gateway.errors.InvalidImage` or
        :class:`~gateway.errors.ImageTooLarge` as for an uploaded image."""
        pixels = decode_image_bytes(data, self.max_pixels)
        size = (int(pixels.shape[1]), int(pixels.shape[0]))
        if size != self._size:
            # A new picture size (a camera switched): a new shape, never a distorted one.
            self._shaper, self._size = self.rule.shaper(), size
        assert self._shaper is not None
        frame = shaped_frame(pixels, self._shaper, index=index, t_s=t_s)
        return LiveFrame(frame, size, received)


class BytePipe:
    """Bytes from the event loop to one reading thread, at most ``capacity`` held.

    :meth:`put` (on the loop) waits while the pipe is full; :meth:`read` (on the thread)
    waits for bytes and returns ``b""`` once the pipe is closed and empty, or aborted.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._chunks: collections.deque[bytes] = collections.deque()
        self._held = 0
        self._closed = False
        self._aborted = False
        self._cond = threading.Condition()
        self._loop = asyncio.get_running_loop()
        self._room = asyncio.Event()

    @property
    def held(self) -> int:
        """Bytes in the pipe now."""
        return self._held

    async def put(self, chunk: bytes) -> None:
        """Add ``chunk`` (at most ``capacity`` bytes), once there is room for it."""
        assert len(chunk) <= self.capacity
        while True:
            with self._cond:
                if self._aborted or self._closed:
                    return
                if self._held + len(chunk) <= self.capacity:
                    self._chunks.append(chunk)
                    self._held += len(chunk)
                    self._cond.notify_all()
                    return
                self._room.clear()
            await self._room.wait()

    def close(self) -> None:
        """No more bytes: the reader gets what is held, then the end."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def abort(self) -> None:
        """Stop now: the reader gets the end at once, whatever is held."""
        with self._cond:
            self._aborted = True
            self._chunks.clear()
            self._held = 0
            self._cond.notify_all()
        self._loop.call_soon_threadsafe(self._room.set)

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (PyAV's reads), waiting for some; ``b""`` at the end."""
        with self._cond:
            while not self._chunks and not self._closed and not self._aborted:
                self._cond.wait()
            if self._aborted or not self._chunks:
                return b""
            chunk = self._chunks.popleft()
            if 0 <= size < len(chunk):
                chunk, rest = chunk[:size], chunk[size:]
                self._chunks.appendleft(rest)
            self._held -= len(chunk)
        self._loop.call_soon_threadsafe(self._room.set)
        return chunk


class StreamDecoder:
    """One video stream read from a :class:`BytePipe` on a thread (:meth:`run`).

    Each picked frame is handed to ``deliver`` (from the thread: it must be thread-safe);
    frames are picked at most ``max_fps`` per second of stream time and only while
    ``wanted()`` says the scorer can take one; the rest are counted in :attr:`dropped`.
    """

    def __init__(
        self,
        pipe: BytePipe,
        container: str,
        rule: FrameRule,
        *,
        max_fps: float,
        max_pixels: int,
        wanted: Callable[[], bool],
        deliver: Callable[[LiveFrame], None],
    ) -> None:
        self.pipe = pipe
        self.container = container
        self.rule = rule
        self.max_fps = max_fps
        self.max_pixels = max_pixels
        self.wanted = wanted
        self.deliver = deliver
        #: Frames out of the codec, and those not handed on.
        self.decoded = 0
        self.dropped = 0

    def start(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[None]:
        """:meth:`run` on a thread of its own (a pool's thread would be held for the whole
        session, away from every other request); its outcome, on ``loop``."""
        done: asyncio.Future[None] = loop.create_future()

        def report(exc: BaseException | None) -> None:
            if done.cancelled():
                return
            if exc is None:
                done.set_result(None)
            else:
                done.set_exception(exc)

        def run() -> None:
            outcome: BaseException | None = None
            try:
                self.run()
            except BaseException as exc:  # the session says how it ends
                outcome = exc
            # A loop closed meanwhile (the gateway stopping) has no one left to tell.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(report, outcome)

        # Read even when the session ended first, so that no failure goes unretrieved.
        done.add_done_callback(lambda f: f.cancelled() or f.exception())
        threading.Thread(target=run, name="live-stream-decoder", daemon=True).start()
        return done

    def run(self) -> None:
        """Decode until the pipe ends; :class:`InvalidVideo` when the stream cannot be read,
        :class:`ImageTooLarge` for a frame past the pixel limit."""
        try:
            container = av.open(
                self.pipe,
                mode="r",
                format=self.container,
                container_options=dict(_OPEN_OPTIONS),
                metadata_errors="ignore",
            )
        except (av.error.FFmpegError, UnicodeDecodeError, ValueError, OSError) as exc:
            log.info("live stream refused: not openable", extra={"error": str(exc)})
            raise InvalidVideo(UNREADABLE) from exc
        with container:
            if not container.streams.video:
                raise InvalidVideo("the stream holds no video")
            self._decode(container, container.streams.video[0])

    def _decode(self, container: av.container.InputContainer, stream: av.VideoStream) -> None:
        shaper: FrameShaper | None = None
        rotation = 0
        next_t = -np.inf
        step = 1.0 / self.max_fps
        last_t = 0.0
        start: float | None = None
        try:
            for packet in container.demux(stream):
                for frame in packet.decode():
                    self.decoded += 1
                    if frame.width * frame.height > self.max_pixels:
                        raise ImageTooLarge(
                            f"video frame of {frame.width}x{frame.height} pixels exceeds "
                            f"the limit of {self.max_pixels} pixels"
                        )
                    t = float(frame.time) if frame.time is not None else last_t + step
                    last_t = t
                    # Stream time from the first frame (an MPEG-TS clock starts anywhere).
                    start = t if start is None else start
                    t -= start
                    # A millisecond of slack: a 5 fps pick of a 30 fps stream is not skewed.
                    if t + 1e-3 < next_t or not self.wanted():
                        self._drop()
                        continue
                    next_t = t + step
                    if shaper is None:
                        rotation = display_rotation(stream, frame)
                        shaper = self.rule.shaper()
                    image, content = shaper.shape(frame, rotation)
                    height, width = frame.height, frame.width
                    if rotation in (90, 270):
                        width, height = height, width
                    sampled = SampledFrame(
                        index=self.decoded - 1, t_s=round(t, 3), image=image, content=content
                    )
                    self.deliver(LiveFrame(sampled, (width, height), time.monotonic()))
        except av.error.FFmpegError as exc:
            log.info("live stream stopped", extra={"error": str(exc), "frames": self.decoded})
            if self.decoded == 0:
                raise InvalidVideo(UNREADABLE) from exc

    def _drop(self) -> None:
        self.dropped += 1
        metrics.LIVE_FRAMES.labels(outcome="dropped").inc()
