"""One live session after its ``ready``: frames in, scores, rolling verdicts, a summary.

Three tasks share the session (four with a video stream): the receiver reads messages
(credit, the frame size limit, decoding images on a thread, feeding the video pipe); the
scorer scores the frames in hand in batches; the ticker grants paced credit, sends the
``verdict`` every :data:`VERDICT_EVERY_S` and enforces the session's length and idle time;
the decoder thread reads the stream. The first of them to stop the session raises
:class:`Close`, saying how (docs/live.md, "Limits and closes").
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import logging
import time
from dataclasses import dataclass

from fastapi import WebSocket

from ... import metrics
from ...errors import ImageTooLarge, InvalidImage, InvalidVideo, ModelNotFound, UpstreamError
from ...pipeline.pipeline_config import PipelineConfig
from ...receipt_keys import ReceiptKeys
from ...settings import Settings
from ...upstream.serving_client import ServingClient
from . import protocol
from .channel import Channel, Close
from .credit import CreditLedger
from .frames import BytePipe, ImageReader, LiveFrame, StreamDecoder
from .scoring import SessionModel, score_batch
from .summary import summary_message
from .window import RollingWindow

log = logging.getLogger(__name__)

#: How often the ticker wakes (credit pacing, deadlines) and how often a verdict goes out.
TICK_S = 0.1
VERDICT_EVERY_S = 0.5
#: Undecodable frames in a row before the session is closed (4415).
MAX_BAD_FRAMES = 3
#: Longest wait, after ``end``, for the frames in hand to be scored.
DRAIN_S = 30.0


@dataclass(frozen=True)
class LiveLimits:
    """What the settings fix for every live session (``GATEWAY_LIVE_*``)."""

    max_fps: float
    max_seconds: float
    idle_s: float
    max_frame_bytes: int
    credit: int
    overrun: int
    video_buffer_bytes: int
    max_image_pixels: int
    max_pixels: int

    @classmethod
    def from_settings(cls, settings: Settings) -> LiveLimits:
        return cls(
            max_fps=settings.live_max_fps,
            max_seconds=settings.live_max_seconds,
            idle_s=settings.live_idle_seconds,
            max_frame_bytes=settings.live_max_frame_bytes,
            credit=settings.live_credit,
            overrun=settings.live_overrun_limit,
            video_buffer_bytes=settings.live_video_buffer_bytes,
            max_image_pixels=settings.max_image_pixels,
            max_pixels=settings.max_pixels,
        )

    @property
    def max_frames(self) -> int:
        """Frames one session may have scored: its length at its frame rate."""
        return max(1, int(self.max_seconds * self.max_fps))


class LiveSession:
    """One session's state and tasks; :meth:`run` until it closes."""

    def __init__(
        self,
        websocket: WebSocket,
        channel: Channel,
        *,
        session_id: str,
        hello: protocol.Hello,
        model: SessionModel,
        client: ServingClient,
        config: PipelineConfig,
        limits: LiveLimits,
        receipt_keys: ReceiptKeys | None,
    ) -> None:
        self.ws = websocket
        self.channel = channel
        self.session_id = session_id
        self.hello = hello
        self.model = model
        self.client = client
        self.config = config
        self.limits = limits
        self.receipt_keys = receipt_keys
        self.video = hello.input == "video"
        self.ledger = CreditLedger(
            limits.credit, None if self.video else limits.max_fps, limits.overrun
        )
        self.window = RollingWindow(hello.window, model.threshold, model.aggregation)
        self.sha256 = hashlib.sha256()
        self.seen = 0
        self.dropped = 0
        self._bad_in_row = 0
        self._pending: collections.deque[LiveFrame] = collections.deque()
        self._wake = asyncio.Event()
        self._scoring = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.started = time.monotonic()
        self._last_frame = self.started
        self._feeding = False
        self._reader = ImageReader(model.rule, limits.max_image_pixels)
        self._pipe: BytePipe | None = None
        self._decoder: StreamDecoder | None = None
        #: The decoder thread's outcome, once it runs.
        self._decoded: asyncio.Future[None] | None = None
        self._loop = asyncio.get_running_loop()

    async def run(self) -> Close:
        """Serve the session until it closes; how it closed."""
        await self.channel.send(
            protocol.Ready(
                session=self.session_id,
                model=protocol.ModelName(name=self.model.model.name, version=self.model.version),
                max_fps=self.limits.max_fps,
                max_seconds=self.limits.max_seconds,
                window=self.hello.window,
                credit=self.ledger.grant(),
            )
        )
        jobs = [self._receive(), self._tick(), self._score()]
        if self.video:
            self._pipe = BytePipe(self.limits.video_buffer_bytes)
            container = protocol.CONTAINERS[self.hello.container or "webm"]
            self._decoder = StreamDecoder(
                self._pipe,
                container,
                self.model.rule,
                max_fps=self.limits.max_fps,
                max_pixels=self.limits.max_pixels,
                wanted=self._wants_frame,
                deliver=lambda frame: self._loop.call_soon_threadsafe(self._offer, frame),
            )
            # Started here, before any task runs: the receiver may read the whole stream
            # and its end before another task gets a turn.
            self._decoded = self._decoder.start(self._loop)
            jobs.append(self._decode())
        tasks = [asyncio.create_task(job) for job in jobs]
        try:
            return await self._first_close(tasks)
        finally:
            if self._pipe is not None:
                self._pipe.abort()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _first_close(self, tasks: list[asyncio.Task[None]]) -> Close:
        running = set(tasks)
        while True:
            done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                exc = task.exception()
                if exc is None:
                    continue  # the decoder came to the stream's end: the session goes on
                if isinstance(exc, Close):
                    return exc
                if isinstance(exc, protocol.ProtocolError):
                    return Close.of_protocol(exc)
                log.error("live session failed", exc_info=exc)
                return Close(1011, "error", ("internal", "the session failed"))

    def summary(self) -> protocol.Summary:
        """The ``summary`` over every frame scored, with its receipt."""
        state = self.window.state(
            t=time.monotonic() - self.started,
            seen=self._seen(),
            dropped=self._dropped(),
            whole=True,
        )
        return summary_message(
            self.window,
            state,
            session=self.model,
            config=self.config,
            max_fps=self.limits.max_fps,
            media_sha256=self.sha256.hexdigest(),
            receipt_keys=self.receipt_keys,
        )

    def _seen(self) -> int:
        return self._decoder.decoded if self._decoder is not None else self.seen

    def _dropped(self) -> int:
        return self.dropped + (self._decoder.dropped if self._decoder is not None else 0)

    def _drop(self) -> None:
        self.dropped += 1
        metrics.LIVE_FRAMES.labels(outcome="dropped").inc()

    async def _grant(self) -> None:
        frames = self.ledger.grant()
        if frames:
            await self.channel.send(protocol.Credit(frames=frames))

    # The receiver.

    async def _receive(self) -> None:
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                raise Close(None, "disconnected")
            text = message.get("text")
            if text is not None:
                if isinstance(protocol.parse_client_text(text), protocol.Hello):
                    raise protocol.ProtocolError("bad_request", "the session has its hello")
                await self._finish()
                raise Close(protocol.CLOSE_NORMAL, "end", summary=True)
            data = message.get("bytes") or b""
            if len(data) > self.limits.max_frame_bytes:
                raise Close(
                    protocol.CLOSE_TOO_LARGE,
                    "frame_too_large",
                    ("frame_too_large", f"messages are at most {self.limits.max_frame_bytes} B"),
                )
            self.sha256.update(data)
            self._last_frame = time.monotonic()
            if self._pipe is not None:
                await self._feed(data)
            else:
                await self._image(data, self._last_frame)

    async def _feed(self, data: bytes) -> None:
        """A video chunk: never dropped, it waits for room in the pipe (credit or not)."""
        assert self._pipe is not None
        had_credit = self.ledger.take()
        self._feeding = True
        try:
            await self._pipe.put(data)
        finally:
            self._feeding = False
            self._last_frame = time.monotonic()
        if had_credit:
            self.ledger.done()
        await self._grant()

    async def _image(self, data: bytes, received: float) -> None:
        self.seen += 1
        if not self.ledger.take():
            self._drop()
            return
        try:
            frame = await asyncio.to_thread(
                self._reader.read,
                data,
                index=self.seen - 1,
                t_s=round(received - self.started, 3),
                received=received,
            )
        except InvalidImage as exc:
            self._drop()
            self.ledger.done()
            self._bad_in_row += 1
            if self._bad_in_row >= MAX_BAD_FRAMES:
                raise Close(
                    protocol.CLOSE_UNSUPPORTED,
                    "invalid_image",
                    ("invalid_image", f"{MAX_BAD_FRAMES} frames in a row: {exc.message}"),
                ) from exc
            await self._grant()
            return
        except ImageTooLarge as exc:
            raise Close.of_error(protocol.CLOSE_TOO_LARGE, exc) from exc
        self._bad_in_row = 0
        self._offer(frame)

    async def _finish(self) -> None:
        """After ``end``: the stream to its end, then every frame in hand scored (within
        :data:`DRAIN_S`; the summary is of what was scored by then)."""
        try:
            async with asyncio.timeout(DRAIN_S):
                if self._pipe is not None:
                    self._pipe.close()
                    await self._stream_end()
                while self._pending or self._scoring:
                    self._idle.clear()
                    await self._idle.wait()
        except TimeoutError:
            log.warning("live frames not scored in time after end", extra={"s": DRAIN_S})

    # Frames in hand and the scorer.

    def _wants_frame(self) -> bool:
        # Read from the decoder thread: a stale answer costs one frame, never a crash.
        return len(self._pending) + self._scoring < self.limits.credit

    def _offer(self, frame: LiveFrame) -> None:
        if self.video and not self._wants_frame():
            self._drop()
            return
        self._pending.append(frame)
        self._wake.set()

    def _take_batch(self) -> list[LiveFrame]:
        shape = self._pending[0].frame.image.shape
        batch: list[LiveFrame] = []
        while (
            self._pending
            and len(batch) < self.config.batch_size
            and self._pending[0].frame.image.shape == shape
        ):
            batch.append(self._pending.popleft())
        return batch

    async def _score(self) -> None:
        while True:
            while not self._pending:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
            batch = self._take_batch()
            self._scoring = len(batch)
            try:
                scored = await score_batch(self.client, self.model, self.config, batch)
            except ModelNotFound as exc:
                # The pinned version was unloaded (a new one published, or a rollback): the
                # frames it scored keep their summary, then the client opens a new session.
                version = f"version {self.model.version} of {self.model.model.name!r}"
                raise Close(
                    protocol.CLOSE_TRY_AGAIN,
                    exc.code,
                    (exc.code, f"{version} was unloaded mid-session: open a new session"),
                    summary=True,
                ) from exc
            except UpstreamError as exc:
                close = Close.of_error(protocol.CLOSE_TRY_AGAIN, exc, "serving_unavailable")
                close.summary = True  # what was scored before Serving went away is kept
                raise close from exc
            now = time.monotonic()
            latencies = [now - f.received for f in batch]
            self.window.add(
                scored.frames, [f.size for f in batch], latencies, face_aware=scored.face_aware
            )
            metrics.LIVE_FRAMES.labels(outcome="scored").inc(len(batch))
            for seconds in latencies:
                metrics.LIVE_LATENCY_SECONDS.observe(seconds)
            self._scoring = 0
            if not self.video:
                self.ledger.done(len(batch))
            if not self._pending:
                self._idle.set()
            await self._grant()
            if len(self.window.frames) >= self.limits.max_frames:
                raise Close(protocol.CLOSE_TIMEOUT, "session_too_long", summary=True)

    # The decoder (input "video").

    async def _decode(self) -> None:
        await self._stream_end()

    async def _stream_end(self) -> None:
        """Wait for the decoder thread; :class:`Close` when the stream could not be read."""
        assert self._decoded is not None
        try:
            await asyncio.shield(self._decoded)
        except InvalidVideo as exc:
            raise Close.of_error(protocol.CLOSE_UNSUPPORTED, exc) from exc
        except ImageTooLarge as exc:
            raise Close.of_error(protocol.CLOSE_TOO_LARGE, exc) from exc

    # The ticker.

    async def _tick(self) -> None:
        last_verdict = self.started
        while True:
            await asyncio.sleep(TICK_S)
            now = time.monotonic()
            if now - self.started > self.limits.max_seconds:
                raise Close(protocol.CLOSE_TIMEOUT, "session_too_long", summary=True)
            if not self._feeding and now - self._last_frame > self.limits.idle_s:
                raise Close(protocol.CLOSE_TIMEOUT, "idle", summary=True)
            await self._grant()
            if now - last_verdict >= VERDICT_EVERY_S:
                last_verdict = now
                state = self.window.state(
                    t=now - self.started, seen=self._seen(), dropped=self._dropped()
                )
                await self.channel.send(state)
