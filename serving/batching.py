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
* inputs are concatenated along dimension 0 (all inputs of a task must share
  it); with ``allowed_batch_sizes`` the batch is padded up to the next allowed
  size by repeating the first row of the last task; tensors whose other
  dimensions differ fail the whole batch unless ``pad_variable_length_inputs``,
  which pads them with their own first element;
* outputs are split back along dimension 0; an output without it fails the
  batch ("Batched output tensor has 0 dimensions").
"""

from __future__ import annotations

import bisect
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import grpc
import numpy as np

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


def batch_size_of(inputs: Mapping[str, np.ndarray]) -> int:
    """ComputeTensorBatchSize: every input needs a dimension 0, and the same one."""
    sizes = set()
    for array in inputs.values():
        if array.ndim == 0:
            raise invalid_argument("Batching Run() input tensors must have at least one dimension")
        sizes.add(array.shape[0])
    if len(sizes) > 1:
        raise invalid_argument("Batching Run() input tensors must have equal 0th-dimension size")
    return sizes.pop() if sizes else 0


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
            merged, padded = self._merge(batch)
            if queue.on_batch is not None:
                queue.on_batch(padded)
            outputs = queue.run(queue.signature, merged, queue.outputs)
            self._split(batch, outputs, padded)
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

    def _merge(self, batch: _Batch) -> tuple[dict[str, np.ndarray], int]:
        """MergeInputTensors: concatenate per input, pad to the next allowed size."""
        allowed = self.options.allowed_batch_sizes
        padded_size = batch.size
        if allowed:
            padded_size = allowed[bisect.bisect_left(allowed, batch.size)]
        merged: dict[str, np.ndarray] = {}
        for name in batch.tasks[0].inputs:
            parts = [task.inputs[name] for task in batch.tasks]
            if self.options.pad_variable_length_inputs:
                parts = _pad_to_common_shape(parts)
            elif any(p.shape[1:] != parts[0].shape[1:] for p in parts[1:]):
                raise ServingError(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"Tensors with name '{name}' from different tasks have different shapes "
                    "and padding is turned off.Set pad_variable_length_inputs to true, or "
                    "ensure that all tensors with the same namehave equal dimensions starting "
                    "with the first dim.",
                )
            if padded_size > batch.size:
                last = parts[-1]
                parts.append(np.repeat(last[:1], padded_size - batch.size, axis=0))
            merged[name] = np.concatenate(parts, axis=0)
        return merged, padded_size

    def _split(self, batch: _Batch, outputs: Mapping[str, np.ndarray], padded: int) -> None:
        """SplitOutputTensors: slice every output along dimension 0 per task."""
        for array in outputs.values():
            if array.ndim == 0:
                raise ServingError(
                    grpc.StatusCode.FAILED_PRECONDITION, "Batched output tensor has 0 dimensions"
                )
            if array.shape[0] != padded:
                raise ServingError(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    "Batched output tensor's 0th dimension does not equal the sum of the 0th "
                    "dimension sizes of the input tensors",
                )
        offset = 0
        for task in batch.tasks:
            task.outputs = {
                name: array[offset : offset + task.size] for name, array in outputs.items()
            }
            offset += task.size

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


def _pad_to_common_shape(parts: list[np.ndarray]) -> list[np.ndarray]:
    """AddPadding (batching_util.cc): pad every dim but 0 with the tensor's first element."""
    rank = parts[0].ndim
    if any(p.ndim != rank for p in parts):
        raise invalid_argument("Tensors in a batch must have the same rank")
    target = [max(p.shape[d] for p in parts) for d in range(rank)]
    out = []
    for part in parts:
        pads = [(0, 0)] + [(0, target[d] - part.shape[d]) for d in range(1, rank)]
        if all(after == 0 for _, after in pads):
            out.append(part)
            continue
        if part.size == 0:
            raise invalid_argument("Got empty tensor in batch of non-empty tensors.")
        out.append(np.pad(part, pads, mode="constant", constant_values=part.reshape(-1)[0]))
    return out
