"""Hot swap under load: publish version 2, then roll back to 1, with clients never failing."""

from __future__ import annotations

import datetime
import os
import re
import shutil
import threading
import time

import grpc
import pytest
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

import contract
from serving import tensors

from .conftest import frames, publish, status_of, wait_for

pytestmark = pytest.mark.slow

CLIENTS = 8
_EVENT = re.compile(
    r"^(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO serving\.manager: "
    r"(?P<what>Successfully loaded|Done unloading) servable version "
    r"\{name: deepfake version: (?P<version>\d+)\}",
    re.M,
)


def loaded_intervals(log: str) -> dict[int, list[tuple[float, float]]]:
    """version -> [(loaded at, unloaded at or +inf)] from the server's own log lines."""
    intervals: dict[int, list[tuple[float, float]]] = {}
    for match in _EVENT.finditer(log):
        stamp = datetime.datetime.strptime(match["ts"], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        version = int(match["version"])
        spans = intervals.setdefault(version, [])
        if match["what"] == "Successfully loaded":
            spans.append((stamp, float("inf")))
        else:
            start, _ = spans[-1]
            spans[-1] = (start, stamp)
    return intervals


class Clients:
    """Threads calling Predict without pause, recording (sent, received, version, error)."""

    def __init__(self, target: str, n: int) -> None:
        self.records: list[tuple[float, float, int | None, str | None]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop, args=(target, i), daemon=True) for i in range(n)
        ]

    def _loop(self, target: str, seed: int) -> None:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "deepfake"
        request.inputs[contract.FRAMES_INPUT].CopyFrom(
            tensors.from_numpy(frames(n=4, h=32, w=32, seed=seed))
        )
        with grpc.insecure_channel(target) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            while not self._stop.is_set():
                sent = time.time()
                try:
                    response = stub.Predict(request, timeout=30)
                    version, error = response.model_spec.version.value, None
                except grpc.RpcError as exc:
                    version, error = None, f"{exc.code().name}: {exc.details()}"
                with self._lock:
                    self.records.append((sent, time.time(), version, error))

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def seen_since(self, since: float) -> set[int | None]:
        with self._lock:
            return {version for sent, _, version, _ in self.records if sent >= since}


def test_hot_swap_under_load_without_failed_calls(tmp_path, tiny_model_dir, start_server):
    base = tmp_path / "deepfake"
    base.mkdir()
    publish(tiny_model_dir[0], base, 1)
    server = start_server(
        "--model_name=deepfake", f"--model_base_path={base}", "--file_system_poll_wait_seconds=1"
    )
    assert server.wait_available() == 1
    clients = Clients(server.target, CLIENTS)
    clients.start()
    try:
        time.sleep(1.0)
        published = time.time()
        publish(tiny_model_dir[0], base, 2)  # staged copy, then rename into place
        wait_for(lambda: clients.seen_since(time.time() - 0.5) == {2}, 120, "only v2 answers")
        switch_up = time.time() - published
        with server.channel() as channel:
            wait_for(lambda: status_of(channel).get(1, ("",))[0] == "END", 60, "v1 unloaded")

        removed = time.time()
        os.rename(base / "2", base / ".removed-2")  # roll back: 2 leaves the base path at once
        shutil.rmtree(base / ".removed-2")
        wait_for(lambda: clients.seen_since(time.time() - 0.5) == {1}, 120, "only v1 answers")
        switch_back = time.time() - removed
        with server.channel() as channel:
            wait_for(lambda: status_of(channel).get(2, ("",))[0] == "END", 60, "v2 unloaded")
        time.sleep(0.5)
    finally:
        clients.stop()

    records = clients.records
    failures = [r for r in records if r[3] is not None]
    assert not failures, failures[:5]
    versions = {r[2] for r in records}
    assert versions == {1, 2}
    intervals = loaded_intervals(server.log())
    assert len(intervals[1]) == 2  # loaded at start, unloaded, loaded again for the rollback
    slack = 0.005  # the log's millisecond resolution
    for sent, received, version, _ in records:
        spans = intervals[version]
        assert any(start - slack <= received and sent <= end + slack for start, end in spans), (
            f"version {version} answered between {sent} and {received} but was loaded {spans}"
        )
    # Each switch shows within a few poll intervals (1 s) plus the load itself.
    assert switch_up < 30 and switch_back < 30
    print(
        f"\nhot swap: {len(records)} calls by {CLIENTS} clients, 0 failed; "
        f"switch to v2 seen after {switch_up:.1f}s, back to v1 after {switch_back:.1f}s"
    )
