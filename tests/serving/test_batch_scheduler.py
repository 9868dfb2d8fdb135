"""The batch scheduler's queueing rules, on a real loaded SavedModel in this process.

The batch threads are held at a gate inside the run function: a stall of the
model is the one fault these tests cannot produce otherwise.
"""

from __future__ import annotations

import threading
import time

import grpc
import numpy as np
import pytest

import contract
from serving.batching import BatchScheduler
from serving.config import BatchingOptions
from serving.errors import ServingError
from serving.servable import Servable

from .conftest import frames

OUT = (contract.FAKE_PROBABILITY,)


def options(**overrides) -> BatchingOptions:
    values = dict(
        max_batch_size=8,
        batch_timeout_micros=0,
        max_enqueued_batches=2,
        num_batch_threads=1,
        thread_pool_name="test",
        allowed_batch_sizes=(),
        pad_variable_length_inputs=False,
    )
    values.update(overrides)
    return BatchingOptions(**values)


@pytest.fixture(scope="module")
def servable(tiny_model_dir):
    loaded = Servable.load("deepfake", 1, str(tiny_model_dir[0]))
    yield loaded
    loaded.close()


class GatedRun:
    """Wraps Servable.run; every call waits at the gate and records its batch size."""

    def __init__(self, servable: Servable) -> None:
        self.servable = servable
        self.gate = threading.Event()
        self.sizes: list[int] = []
        self.inside = 0
        self.max_inside = 0
        self._lock = threading.Lock()

    def __call__(self, signature, inputs, outputs):
        with self._lock:
            self.sizes.append(len(inputs[contract.FRAMES_INPUT]))
            self.inside += 1
            self.max_inside = max(self.max_inside, self.inside)
        self.gate.wait(30)
        try:
            return self.servable.run(signature, inputs, outputs)
        finally:
            with self._lock:
                self.inside -= 1


def submit_async(scheduler, run, batch):
    result: dict[str, object] = {}

    def go():
        try:
            result["out"] = scheduler.submit(
                "owner", run, "serving_default", {contract.FRAMES_INPUT: batch}, OUT
            )
        except ServingError as exc:
            result["error"] = exc

    thread = threading.Thread(target=go)
    thread.start()
    return thread, result


def queued(scheduler: BatchScheduler) -> list[int]:
    """Sizes of the batches waiting in the scheduler's queues."""
    with scheduler._cond:
        return [b.size for q in scheduler._queues.values() for b in q.batches]


def wait_until(predicate, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_full_queue_is_unavailable_and_waiting_tasks_merge(servable):
    scheduler = BatchScheduler(options(max_enqueued_batches=2))
    run = GatedRun(servable)
    try:
        first, first_result = submit_async(scheduler, run, frames(n=8, h=8, w=8))
        wait_until(lambda: run.inside == 1)  # the only thread is busy with batch 1
        waiting = [submit_async(scheduler, run, frames(n=4, h=8, w=8, seed=s)) for s in (1, 2)]
        # Two tasks of 4 merge into one batch of 8; a third batch fills the queue (2 batches).
        wait_until(lambda: queued(scheduler) == [8])
        third, third_result = submit_async(scheduler, run, frames(n=8, h=8, w=8, seed=3))
        wait_until(lambda: queued(scheduler) == [8, 8])
        full = submit_async(scheduler, run, frames(n=1, h=8, w=8, seed=4))
        full[0].join(10)
        error = full[1]["error"]
        assert isinstance(error, ServingError)
        assert error.code == grpc.StatusCode.UNAVAILABLE
        assert "queue to which this task was submitted is full" in error.message
        run.gate.set()
        for thread, _ in [(first, None), *waiting, (third, None)]:
            thread.join(30)
        assert "out" in first_result and "out" in third_result
        assert all("out" in result for _, result in waiting)
        assert run.sizes == [8, 8, 8]  # the two 4-frame tasks ran as one batch
        alone = {contract.FRAMES_INPUT: frames(n=4, h=8, w=8, seed=1)}
        expected = servable.run("serving_default", alone, OUT)[contract.FAKE_PROBABILITY]
        got = waiting[0][1]["out"][contract.FAKE_PROBABILITY]
        np.testing.assert_allclose(got, expected, rtol=1e-5)
    finally:
        run.gate.set()
        scheduler.stop()


def test_batch_timeout_holds_an_underfull_batch(servable):
    scheduler = BatchScheduler(options(batch_timeout_micros=300_000))
    run = GatedRun(servable)
    run.gate.set()
    try:
        start = time.monotonic()
        scheduler.submit("owner", run, "serving_default", {contract.FRAMES_INPUT: frames(n=1)}, OUT)
        assert time.monotonic() - start >= 0.28
        start = time.monotonic()
        full = frames(n=8, h=8, w=8)
        scheduler.submit("owner", run, "serving_default", {contract.FRAMES_INPUT: full}, OUT)
        assert run.sizes == [1, 8]
    finally:
        scheduler.stop()


def test_num_batch_threads_run_batches_concurrently(servable):
    scheduler = BatchScheduler(options(num_batch_threads=2, max_enqueued_batches=4))
    run = GatedRun(servable)
    try:
        tasks = [submit_async(scheduler, run, frames(n=8, h=8, w=8, seed=s)) for s in range(2)]
        wait_until(lambda: run.inside == 2)
        assert run.max_inside == 2
        run.gate.set()
        for thread, result in tasks:
            thread.join(30)
            assert "out" in result
    finally:
        run.gate.set()
        scheduler.stop()


def test_inputs_need_a_common_batch_dimension(servable):
    scheduler = BatchScheduler(options())
    try:
        with pytest.raises(ServingError, match="at least one dimension"):
            scheduler.submit("o", servable.run, "serving_default", {"frames": np.uint8(1)}, OUT)
    finally:
        scheduler.stop()


def test_pad_variable_length_inputs_pads_with_first_element(servable):
    from serving.batching_util import pad_to_common_shape

    a = np.full((1, 2, 2, 3), 7, np.uint8)
    b = np.zeros((1, 3, 4, 3), np.uint8)
    padded_a, padded_b = pad_to_common_shape([a, b])
    assert padded_a.shape == padded_b.shape == (1, 3, 4, 3)
    assert (padded_a == 7).all()  # TF Serving pads with the tensor's first element
