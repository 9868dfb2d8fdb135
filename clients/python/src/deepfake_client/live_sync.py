"""Live sessions without asyncio: :class:`LiveSession`, made by :meth:`Client.live`.

::

    with client.live(input="video", container="mp4") as session:
        session.send_video("clip.mp4")               # waits for credit chunk by chunk
        summary = session.end()                      # with its receipt
    for verdict in session.verdicts_received: ...

The same calls as :class:`deepfake_client.live.AsyncLiveSession`, not awaited. A thread of
the session reads the gateway's messages, so that credit arrives while the program sends
from another (iterating the session and sending from two threads is safe).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

from . import _live, errors
from ._core import Upload, VideoInput
from .live_models import LiveReady, LiveSummary, LiveVerdict

__all__ = ["LiveSession"]


class LiveSession:
    """One live session (see :class:`~deepfake_client.live.AsyncLiveSession`)."""

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
        self._stack = contextlib.ExitStack()
        self._reader: threading.Thread | None = None
        # Guards the state; notified whenever it changes.
        self._changed = threading.Condition()

    def __enter__(self) -> LiveSession:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> LiveReady:
        """Connect, send the ``hello`` and wait for ``ready``; raises the typed error of a
        refusal."""
        conn = self._connection
        try:
            # Entered as a context (the stack closes it): websockets' way for its sync client.
            self._ws = self._stack.enter_context(
                connect(
                    conn.url(),
                    ssl=conn.ssl_context(),
                    subprotocols=[Subprotocol(p) for p in conn.subprotocols()],
                    user_agent_header=conn.user_agent,
                    open_timeout=self._open_timeout,
                    max_size=self._max_message,
                    compression=None,
                )
            )
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
            raise errors.TransportError(f"cannot open {conn.url()}: {exc}") from exc
        key = None if conn.key_in_header() else conn.api_key
        deadline = time.monotonic() + self._open_timeout
        try:
            # A refusal may already be on its way (a wrong key in the header is refused at
            # once): the error message is still read below.
            with contextlib.suppress(ConnectionClosed):
                self._ws.send(self.options.hello(key))
            while self._state.ready is None and self._state.error is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                self._state.on_message(self._ws.recv(timeout=left))
        except ConnectionClosed as exc:
            self._closed(exc)
        except TimeoutError as exc:
            self._ws.close()
            raise errors.TransportError("no ready from the gateway in time") from exc
        if self._state.ready is None:
            self._ws.close()
            failure = self._state.failure() or self._state.error
            raise failure or errors.TransportError("the gateway refused the session")
        self._reader = threading.Thread(target=self._read, name="deepfake-live", daemon=True)
        self._reader.start()
        return self._state.ready

    def _closed(self, exc: ConnectionClosed) -> None:
        frame = exc.rcvd or exc.sent
        with self._changed:
            self._state.on_close(frame.code if frame else None, frame.reason if frame else "")
            self._changed.notify_all()

    def _read(self) -> None:
        assert self._ws is not None
        try:
            for message in self._ws:
                with self._changed:
                    self._state.on_message(message)
                    self._changed.notify_all()
        except ConnectionClosed as exc:
            self._closed(exc)
            return
        with self._changed:
            self._state.on_close(self._ws.close_code, self._ws.close_reason or "")
            self._changed.notify_all()

    def _wait(self, timeout: float | None) -> None:
        """Wait (holding the lock) until the state changes or ``timeout`` passes."""
        self._changed.wait(timeout)

    @property
    def ready(self) -> LiveReady:
        """The gateway's ``ready``: session id, model, limits, first credit."""
        if self._state.ready is None:
            raise RuntimeError("the session is not open: use `with` or call open()")
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

    def wait_credit(self, timeout: float | None = None) -> bool:
        """Wait until there is credit (True), the session closes or ``timeout`` passes."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while self._state.credit <= 0:
                if self._state.closed:
                    return False
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._wait(left)
            return True

    def send_frame(self, frame: bytes, *, wait: float | None = 0.0) -> bool:
        """Send one frame against one credit; without credit it waits up to ``wait``
        seconds (None: until there is credit), then is dropped (False, counted)."""
        if self._ws is None:
            raise RuntimeError("the session is not open")
        if self._state.credit <= 0 and wait != 0:
            self.wait_credit(wait)
        with self._changed:
            if self._state.closed or self._state.ended:
                raise self._state.send_error("the session has ended")
            if not self._state.take_credit():
                self._state.frames_dropped += 1
                return False
            self._state.sent(frame)
        try:
            self._ws.send(frame)
        except ConnectionClosed as exc:
            self._closed(exc)
            raise self._state.send_error(str(exc)) from exc
        return True

    def send_video(
        self, video: VideoInput, *, duration: float | None = None, chunk: int = _live.VIDEO_CHUNK
    ) -> int:
        """Stream a video file as chunks, each waiting for credit (never dropped); paced
        over ``duration`` seconds when given. The bytes sent."""
        pacer = _live.Pacer(Upload(video), duration)
        for data in _live.video_chunks(pacer.upload, chunk):
            time.sleep(pacer.delay())
            self.send_frame(data, wait=None)
            pacer.sent(len(data))
        return pacer.bytes_sent

    def __iter__(self) -> Iterator[LiveVerdict]:
        """Each rolling verdict as it comes, until the session ends."""
        while True:
            with self._changed:
                while not self._state.verdicts and not (
                    self._state.closed or self._state.summary is not None
                ):
                    self._wait(None)
                if self._state.verdicts:
                    verdict = self._state.verdicts.popleft()
                else:
                    if failure := self._state.failure():
                        raise failure
                    return
            yield verdict

    def finish(self) -> None:
        """Tell the gateway there are no more frames (without waiting for the summary)."""
        with self._changed:
            if self._ws is None or self._state.ended or self._state.closed:
                return
            self._state.ended = True
        with contextlib.suppress(ConnectionClosed):
            self._ws.send(_live.END_MESSAGE)

    def end(self, timeout: float | None = 60.0) -> LiveSummary:
        """Send ``end`` and return the summary with its receipt (see the async ``end``)."""
        self.finish()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while self._state.summary is None:
                if failure := self._state.failure():
                    raise failure
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise errors.TransportError(f"no summary within {timeout} s of the end")
                self._wait(left)
            return self._state.summary

    def close(self) -> None:
        """Close the connection (after :meth:`end`, or to abandon the session)."""
        self._stack.close()
        if self._reader is not None:
            self._reader.join(timeout=10)
