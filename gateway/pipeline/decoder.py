"""The decode thread and its bridge to asyncio.

PyAV decodes on a thread of its own per upload (it releases the GIL in FFmpeg) while
the event loop sends the batches already decoded to Serving and serves other requests;
batches cross over through an ``asyncio.Queue`` fed with ``call_soon_threadsafe``.
The thread spends at most its :class:`~gateway.pipeline.budget.DecodeBudget` and ends soon after
the request stops wanting frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

from .budget import DecodeBudget, DecodeCancelled, DecodeLimits
from .sources import iter_upload_frames
from .video import SampledFrame, VideoInfo

log = logging.getLogger(__name__)
_ids = itertools.count(1)

_DONE = object()


class ThreadedDecoder:
    """Decodes the frames at ``times`` on a worker thread, in batches of ``batch_size``
    (a still image's one frame included: :mod:`gateway.pipeline.sources`).

    :meth:`start` begins decoding on a new thread; :meth:`batches` yields the batches on
    the event loop and raises there whatever the thread raised; :meth:`stop` makes the
    thread give up at the next packet (a failed or cancelled request). ``limits`` bound
    what the decode may cost. ``seconds`` is the thread's decode time once it has finished.
    """

    def __init__(
        self,
        path: Path,
        info: VideoInfo,
        times: list[float],
        *,
        batch_size: int,
        max_side: int,
        min_side: int,
        canvas: int | None,
        threads: bool,
        limits: DecodeLimits,
    ) -> None:
        self._path, self._info, self._times = path, info, times
        self._batch_size = batch_size
        self._max_side, self._min_side = max_side, min_side
        self._canvas, self._threads = canvas, threads
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._stop = threading.Event()
        self._budget = DecodeBudget(limits, cancel=self._stop)
        self.seconds = 0.0
        self.thread: threading.Thread | None = None

    def start(self) -> asyncio.Future[None]:
        """Start decoding; the future completes when the thread has finished."""
        loop = asyncio.get_running_loop()
        finished: asyncio.Future[None] = loop.create_future()

        def put(item: object) -> None:
            # The loop may have closed first (shutdown): nobody waits any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._queue.put_nowait, item)

        def done() -> None:
            if not finished.done():
                finished.set_result(None)

        def produce() -> None:
            start = time.perf_counter()
            self._budget.start()
            batch: list[SampledFrame] = []
            try:
                for frame in iter_upload_frames(
                    self._path,
                    self._info,
                    self._times,
                    max_side=self._max_side,
                    min_side=self._min_side,
                    canvas=self._canvas,
                    threads=self._threads,
                    budget=self._budget,
                ):
                    if self._stop.is_set():
                        return
                    batch.append(frame)
                    if len(batch) == self._batch_size:
                        put(batch)
                        batch = []
                if batch:
                    put(batch)
                put(_DONE)
            except DecodeCancelled:
                log.info("decode cancelled", extra={"pixels": self._budget.pixels})
            except BaseException as exc:  # handed over to the event loop and raised there
                put(exc)
            finally:
                self.seconds = time.perf_counter() - start
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(done)

        # A thread per upload, not a shared pool: a decode never waits behind another
        # one for a worker, and it is gone once it stops.
        self.thread = threading.Thread(target=produce, name=f"decode-{next(_ids)}", daemon=True)
        self.thread.start()
        return finished

    def stop(self) -> None:
        """Ask the thread to stop at the next packet."""
        self._stop.set()

    async def batches(self) -> AsyncIterator[list[SampledFrame]]:
        """The decoded batches in order, until the thread is done."""
        while True:
            item = await self._queue.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, list)
            yield item
