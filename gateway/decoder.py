"""The decode thread and its bridge to asyncio.

PyAV decodes on a worker thread (it releases the GIL in FFmpeg) while the event loop
sends the batches already decoded to Serving; batches cross over through an
``asyncio.Queue`` fed with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

from .video import SampledFrame, VideoInfo, iter_frames

_DONE = object()


class ThreadedDecoder:
    """Decodes the frames at ``times`` on a worker thread, in batches of ``batch_size``.

    :meth:`start` begins decoding; :meth:`batches` yields the batches on the event loop
    and raises there whatever the thread raised; :meth:`stop` makes the thread give up at
    the next frame (a failed or cancelled request). ``seconds`` is the thread's decode
    time once it has finished.
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
    ) -> None:
        self._path, self._info, self._times = path, info, times
        self._batch_size = batch_size
        self._max_side, self._min_side = max_side, min_side
        self._canvas, self._threads = canvas, threads
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._stop = threading.Event()
        self.seconds = 0.0

    def start(self) -> asyncio.Future[None]:
        """Start decoding; the future completes when the thread has finished."""
        loop = asyncio.get_running_loop()

        def put(item: object) -> None:
            loop.call_soon_threadsafe(self._queue.put_nowait, item)

        def produce() -> None:
            start = time.perf_counter()
            batch: list[SampledFrame] = []
            try:
                for frame in iter_frames(
                    self._path,
                    self._info,
                    self._times,
                    max_side=self._max_side,
                    min_side=self._min_side,
                    canvas=self._canvas,
                    threads=self._threads,
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
            except BaseException as exc:  # handed over to the event loop and raised there
                put(exc)
            finally:
                self.seconds = time.perf_counter() - start

        return loop.run_in_executor(None, produce)

    def stop(self) -> None:
        """Ask the thread to stop at the next frame."""
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
