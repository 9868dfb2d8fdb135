"""Server-side batching: concurrent Predict calls merged into one session run.

Models TF Serving's BatchingSession on a SharedBatchScheduler
(batching/batching_session.cc, batching/batching_util.cc, TF's
shared_batch_scheduler.h):

* one queue per loaded version and (signature, requested outputs); every
  queue shares ``num_batch_threads`` threads;
* a task joins the open batch if it fits in ``max_batch_size``, otherwise the
  batch closes and a new one opens; a queue holding ``max_enqueued_batches``
  batches refuses new tasks with UNAVAILABLE;
* a batch runs when it is full, when ``batch_timeout_micros`` has passed since
  it opened, or when a newer batch exists; a free thread takes it then;
* its inputs are merged and its outputs split as ``batching_util`` describes.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import grpc
import numpy as np

from .batching_util import batch_size_of, merge_inputs, split_outputs
from .config import BatchingOptions
from .errors import ServingError, invalid_argument

log = logging.getLogger(__name__)

#: Runs a merged batch: (signature, inputs, output aliases) -> outputs.
RunFn = Callable[[str, Mapping[str, np.ndarray], Sequence[str]], dict[str, np.ndarray]]


@dataclass
class _Task:
    inputs: Mapping[str, np.ndarray]
    size: int
    done: threading.Event = field(default_factory=threading.Event)
    outputs: dict[str, np.ndarray] | None = None
    error: ServingError | None = None


@dataclass
class _Batch:
    opened: float
    tasks: list[_Task] = field(default_factory=list)
    size: int = 0
    closed: bool = False


class _Queue:
    """The batches waiting for one (version, signature, outputs)."""

    def __init__(
        self,
        key: tuple,
        run: RunFn,
        signature: str,
        outputs: tuple[str, ...],
        on_batch: Callable[[int], None] | None,
    ) -> None:
        self.key = key
        self.run = run
        self.signature = signature
        self.outputs = outputs
        self.on_batch = on_batch
        self.batches: deque[_Batch] = deque()


class BatchScheduler:
    """A SharedBatchScheduler: queues per servable signature, threads shared by all."""

    def __init__(self, options: BatchingOptions) -> None:
        self.options = options
        self._cond = threading.Condition()
        self._queues: dict[tuple, _Queue] = {}
        self._rr = itertools.count()
        self._stopping = False
        self._threads = [
            threading.Thread(target=self._work, name=f"{options.thread_pool_name}-{i}", daemon=True)
            for i in range(options.num_batch_threads)
        ]
        for thread in self._threads:
            thread.start()

    # --- Submitting -------------------------------------------------------------------------

    def submit(
        self,
        owner: object,
        run: RunFn,
        signature: str,
        inputs: Mapping[str, np.ndarray],
        outputs: Sequence[str],
        on_batch: Callable[[int], None] | None = None,
    ) -> dict[str, np.ndarray]:
        """Queue one Predict's inputs and wait for its slice of the batch outputs."""
        size = batch_size_of(inputs)
        task = _Task(inputs, size)
        key = (id(owner), signature, tuple(outputs))
        opts = self.options
        with self._cond:
            if self._stopping:
                raise ServingError(grpc.StatusCode.UNAVAILABLE, "Batch scheduler is stopping")
            if size > opts.max_batch_size:
                raise invalid_argument(
                    f"Task size {size} is larger than maximum input batch size "
                    f"{opts.max_batch_size}"
                )
            queue = self._queues.get(key)
            if queue is None:
                queue = _Queue(key, run, signature, tuple(outputs), on_batch)
                self._queues[key] = queue
            open_batch = queue.batches[-1] if queue.batches else None
            if (
                open_batch is None
                or open_batch.closed
                or (open_batch.size + size > opts.max_batch_size)
            ):
                if open_batch is not None:
                    open_batch.closed = True
                if len(queue.batches) >= opts.max_enqueued_batches:
                    raise ServingError(
                        grpc.StatusCode.UNAVAILABLE,
                        "The batch scheduling queue to which this task was submitted is full",
                    )
                open_batch = _Batch(opened=time.monotonic())
                queue.batches.append(open_batch)
            open_batch.tasks.append(task)
            open_batch.size += size
            if open_batch.size >= opts.max_batch_size:
                open_batch.closed = True
            self._cond.notify_all()
        task.done.wait()
        if task.error is not None:
            raise task.error
        assert task.outputs is not None
        return task.outputs

    def forget(self, owner: object) -> None:
        """Drop the (empty) queues of an unloaded version."""
        with self._cond:
            for key in [k for k in self._queues if k[0] == id(owner)]:
                queue = self._queues[key]
                if not queue.batches:
                    del self._queues[key]

    # --- Batch threads ----------------------------------------------------------------------

    def _ready(self, queue: _Queue, now: float) -> float | None:
        """0 when the queue's oldest batch may run now, else seconds until it may."""
        if not queue.batches:
            return None
        batch = queue.batches[0]
        if batch.closed or len(queue.batches) > 1:
            return 0.0
        wait = batch.opened + self.options.batch_timeout_micros / 1e6 - now
        return max(0.0, wait)

    def _take(self) -> tuple[_Queue, _Batch] | None:
        with self._cond:
            while not self._stopping:
                now = time.monotonic()
                queues = list(self._queues.values())
                if queues:
                    start = next(self._rr) % len(queues)
                    queues = queues[start:] + queues[:start]
                soonest: float | None = None
                for queue in queues:
                    wait = self._ready(queue, now)
                    if wait == 0.0:
                        batch = queue.batches.popleft()
                        batch.closed = True
                        return queue, batch
                    if wait is not None and (soonest is None or wait < soonest):
                        soonest = wait
                self._cond.wait(soonest)
        return None

    def _work(self) -> None:
        while True:
            taken = self._take()
            if taken is None:
                return
            queue, batch = taken
            self._process(queue, batch)

    def _process(self, queue: _Queue, batch: _Batch) -> None:
        try:
            merged, padded = merge_inputs(
                [task.inputs for task in batch.tasks],
                batch.size,
                self.options.allowed_batch_sizes,
                self.options.pad_variable_length_inputs,
            )
            if queue.on_batch is not None:
                queue.on_batch(padded)
            outputs = queue.run(queue.signature, merged, queue.outputs)
            slices = split_outputs(outputs, [task.size for task in batch.tasks], padded)
            for task, sliced in zip(batch.tasks, slices, strict=True):
                task.outputs = sliced
        except ServingError as exc:
            for task in batch.tasks:
                task.error = exc
        except Exception as exc:  # never leave a caller waiting
            log.exception("batch failed")
            error = ServingError(grpc.StatusCode.INTERNAL, str(exc))
            for task in batch.tasks:
                task.error = error
        finally:
            for task in batch.tasks:
                task.done.set()

    def stop(self) -> None:
        """Stop the batch threads (pending callers get UNAVAILABLE)."""
        with self._cond:
            self._stopping = True
            pending = [t for q in self._queues.values() for b in q.batches for t in b.tasks]
            self._queues.clear()
            self._cond.notify_all()
        for task in pending:
            task.error = ServingError(grpc.StatusCode.UNAVAILABLE, "Batch scheduler stopped")
            task.done.set()
        for thread in self._threads:
            thread.join()
