"""Live sessions on asyncio: :class:`AsyncLiveSession`, made by :meth:`AsyncClient.live`.

::

    async with client.live() as session:             # images: JPEG, PNG or WebP frames
        sender = asyncio.create_task(send_camera(session))
        async for verdict in session:                # until the summary
            print(verdict.t, verdict.verdict, verdict.score)
    summary = session.summary                        # with its receipt

The session reads the gateway's messages in a task of its own, so that credit arrives while
the program sends; :mod:`deepfake_client._live` holds what the messages change.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.typing import Subprotocol

from . import _live, errors
from ._core import Upload, VideoInput
from .live_models import LiveReady, LiveSummary, LiveVerdict

__all__ = ["AsyncLiveSession"]


class AsyncLiveSession:
    """One live session: send frames as they come, read rolling verdicts, ``end()``.

    Frames are sent only against the gateway's credit: :meth:`send_frame` drops a frame
    there is no credit for (counted in :attr:`frames_dropped`), unless asked to wait.
    Iterating yields each :class:`~deepfake_client.live_models.LiveVerdict` as it comes and
    stops when the session ends. The key goes in ``Sec-WebSocket-Protocol``, never the URL.
    """

    def __init__(
        self,
        connection: _live.Connection,
        options: _live.LiveOptions,
        *,
        open_timeout: float = 30.0,
        max_message: int = 16 * 1024 * 1024,
    ) -> None:
        self._connection = connection
        self.options = options
        self._open_timeout = open_timeout
        self._max_message = max_message
        self._state = _live.LiveState()
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        # Set whenever the state changes (credit, a verdict, the summary, the close).
        self._changed = asyncio.Event()

    async def __aenter__(self) -> AsyncLiveSession:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> LiveReady:
        """Connect, send the ``hello`` and wait for ``ready``; raises the typed error of a
        refusal (``InvalidApiKey``, an ``ApiError`` ``too_many_streams``, ...)."""
        conn = self._connection
        try:
            self._ws = await connect(
                conn.url(),
                ssl=conn.ssl_context(),
                subprotocols=[Subprotocol(p) for p in conn.subprotocols()],
                user_agent_header=conn.user_agent,
                open_timeout=self._open_timeout,
                max_size=self._max_message,
                # JPEG frames and video chunks do not compress; deflate would only cost CPU.
                compression=None,
            )
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
            raise errors.TransportError(f"cannot open {conn.url()}: {exc}") from exc
        key = None if conn.key_in_header() else conn.api_key
        try:
            # A refusal may already be on its way (a wrong key in the header is refused at
            # once): the error message is still read below.
            with contextlib.suppress(ConnectionClosed):
                await self._ws.send(self.options.hello(key))
            async with asyncio.timeout(self._open_timeout):
                while self._state.ready is None and self._state.error is None:
                    self._state.on_message(await self._ws.recv())
        except ConnectionClosed as exc:
            self._closed(exc)
        except TimeoutError as exc:
            await self._ws.close()
            raise errors.TransportError("no ready from the gateway in time") from exc
        if self._state.ready is None:
            await self._ws.close()
            failure = self._state.failure() or self._state.error
            raise failure or errors.TransportError("the gateway refused the session")
        self._reader = asyncio.create_task(self._read())
        return self._state.ready

    def _closed(self, exc: ConnectionClosed) -> None:
        frame = exc.rcvd or exc.sent
        self._state.on_close(frame.code if frame else None, frame.reason if frame else "")
        self._changed.set()

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for message in self._ws:
                self._state.on_message(message)
                self._changed.set()
        except ConnectionClosed as exc:
            self._closed(exc)
            return
        self._state.on_close(self._ws.close_code, self._ws.close_reason or "")
        self._changed.set()

    async def _wait_change(self, timeout: float | None) -> bool:
        """Wait until the state changes; False on timeout."""
        self._changed.clear()
        try:
            async with asyncio.timeout(timeout):
                await self._changed.wait()
        except TimeoutError:
            return False
        return True

    @property
    def ready(self) -> LiveReady:
        """The gateway's ``ready``: session id, model, limits, first credit."""
        if self._state.ready is None:
            raise RuntimeError("the session is not open: use `async with` or await open()")
        return self._state.ready

    @property
    def credit(self) -> int:
        """Frames the gateway will take now."""
        return self._state.credit

    @property
    def credit_granted(self) -> int:
        """Every credit the gateway has granted (a client honouring it never sent more)."""
        return self._state.credit_granted

    @property
    def frames_sent(self) -> int:
        """Binary messages sent: frames, or video chunks."""
        return self._state.frames_sent

    @property
    def frames_dropped(self) -> int:
        """Frames not sent for want of credit (the gateway's own drops are in verdicts)."""
        return self._state.frames_dropped

    @property
    def sha256(self) -> str:
        """SHA-256 of every byte sent, in order: the ``media.sha256`` a receipt signs."""
        return self._state.sha256

    @property
    def last_verdict(self) -> LiveVerdict | None:
        """The newest rolling verdict."""
        return self._state.last_verdict

    @property
    def verdicts_received(self) -> list[LiveVerdict]:
        """Every rolling verdict received so far, in order (iterating does not take them)."""
        return list(self._state.received)

    @property
    def summary(self) -> LiveSummary | None:
        """The summary, once the session has ended with one."""
        return self._state.summary

    @property
    def close_code(self) -> int | None:
        """The WebSocket close code, once closed."""
        return self._state.close_code

    async def wait_credit(self, timeout: float | None = None) -> bool:
        """Wait until there is credit (True), the session closes or ``timeout`` passes."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._state.credit <= 0:
            if self._state.closed:
                return False
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            await self._wait_change(left)
        return True

    async def send_frame(self, frame: bytes, *, wait: float | None = 0.0) -> bool:
        """Send one frame (a JPEG, PNG or WebP image; or a video chunk) against one credit.

        Without credit the frame waits up to ``wait`` seconds (None: until there is credit)
        and is then dropped: False, counted in :attr:`frames_dropped`. Raises the session's
        error if it has closed.
        """
        if self._ws is None:
            raise RuntimeError("the session is not open")
        if self._state.closed or self._state.ended:
            raise self._state.send_error("the session has ended")
        if self._state.credit <= 0 and wait != 0:
            await self.wait_credit(wait)
        if not self._state.take_credit():
            if self._state.closed and (failure := self._state.failure()):
                raise failure
            self._state.frames_dropped += 1
            return False
        self._state.sent(frame)
        try:
            await self._ws.send(frame)
        except ConnectionClosed as exc:
            self._closed(exc)
            raise self._state.send_error(str(exc)) from exc
        return True

    async def send_video(
        self, video: VideoInput, *, duration: float | None = None, chunk: int = _live.VIDEO_CHUNK
    ) -> int:
        """Stream a video file (a path or a binary file object) as chunks; the bytes sent.

        A chunk is never dropped (the stream would not decode, nor match its receipt): each
        waits for credit. With ``duration`` (the video's seconds) the chunks are spread over
        that time, as a camera would produce them; without, they go as fast as credit allows.
        """
        pacer = _live.Pacer(Upload(video), duration)
        for data in _live.video_chunks(pacer.upload, chunk):
            await asyncio.sleep(pacer.delay())
            await self.send_frame(data, wait=None)
            pacer.sent(len(data))
        return pacer.bytes_sent

    def __aiter__(self) -> AsyncIterator[LiveVerdict]:
        return self._verdicts()

    async def _verdicts(self) -> AsyncIterator[LiveVerdict]:
        while True:
            while self._state.verdicts:
                yield self._state.verdicts.popleft()
            if self._state.closed or self._state.summary is not None:
                if failure := self._state.failure():
                    raise failure
                return
            await self._wait_change(None)

    async def finish(self) -> None:
        """Tell the gateway there are no more frames (without waiting for the summary)."""
        if self._ws is None or self._state.ended or self._state.closed:
            return
        self._state.ended = True
        with contextlib.suppress(ConnectionClosed):
            await self._ws.send(_live.END_MESSAGE)

    async def end(self, timeout: float | None = 60.0) -> LiveSummary:
        """Send ``end`` and return the summary over the whole stream, with its receipt.

        Raises the session's typed error if it closed without one, and
        :class:`~deepfake_client.errors.TransportError` if none came within ``timeout``.
        """
        await self.finish()
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._state.summary is None:
            if failure := self._state.failure():
                raise failure
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise errors.TransportError(f"no summary within {timeout} s of the end")
            await self._wait_change(left)
        return self._state.summary

    async def close(self) -> None:
        """Close the connection (after :meth:`end`, or to abandon the session)."""
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
