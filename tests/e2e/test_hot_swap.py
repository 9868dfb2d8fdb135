"""Hot swap through the gateway: publish N+1 and roll back to N under load with no failed
request; a live session pinned to the version unloaded keeps its summary."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from deepfake_client import AsyncClient, errors
from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc
from websockets.exceptions import ConnectionClosed

from tests.conftest import MODEL_NAME, quota_refusals, start_serving
from tests.gateway.api.live.client import LiveClient, jpeg_frames, open_live
from tests.tiny_model import export_tiny_model

pytestmark = pytest.mark.slow

CLIENTS = 8
POLL_S = 1


def _config(base: Path, policy: str) -> str:
    return (
        "model_config_list {\n  config {\n"
        f'    name: "{MODEL_NAME}"\n    base_path: "{base}"\n    model_platform: "tensorflow"\n'
        f"    model_version_policy {{ {policy} }}\n  }}\n}}\n"
    )


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@dataclass
class Outcome:
    start: float
    end: float
    status: int
    version: int | None


class StatusWatcher(threading.Thread):
    """Polls GetModelStatus and records which versions were AVAILABLE when."""

    def __init__(self, target: str) -> None:
        super().__init__(daemon=True)
        self.target = target
        self.samples: list[tuple[float, frozenset[int]]] = []
        self.failures: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with grpc.insecure_channel(self.target) as channel:
            stub = model_service_pb2_grpc.ModelServiceStub(channel)
            request = get_model_status_pb2.GetModelStatusRequest()
            request.model_spec.name = MODEL_NAME
            while True:
                # One last poll after the stop, so the watch outlasts the last request.
                last = self.stop.is_set()
                try:
                    response = stub.GetModelStatus(request, timeout=5)
                except grpc.RpcError as exc:
                    # The watcher only observes: a failed poll (the loaded 2-core machine once
                    # broke a connection's preface) records nothing rather than ending the
                    # watch, and the test checks below that the watch covered the run.
                    self.failures.append(f"{exc.code()}: {exc.details()}")
                    if last:
                        return
                    time.sleep(0.05)
                    continue
                available = frozenset(
                    s.version
                    for s in response.model_version_status
                    if s.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
                )
                self.samples.append((time.monotonic(), available))
                if last:
                    return
                time.sleep(0.02)

    def available_during(self, start: float, end: float) -> set[int]:
        """Versions AVAILABLE in some sample taken in [start, end] or just around it."""
        seen: set[int] = set()
        before = [s for s in self.samples if s[0] <= start]
        if before:
            seen |= before[-1][1]
        for t, versions in self.samples:
            if start <= t <= end:
                seen |= versions
        after = [s for s in self.samples if s[0] >= end]
        if after:
            seen |= after[0][1]
        return seen


def test_publish_then_roll_back_under_load(tmp_path, gateway_factory, make_clip) -> None:
    base = tmp_path / "models"
    export_tiny_model(base, MODEL_NAME, version=1, seed=1)
    config = tmp_path / "models.config"
    _write_atomically(config, _config(base / MODEL_NAME, "latest { num_versions: 1 }"))
    serving = start_serving(
        base / MODEL_NAME,
        tmp_path / "serving.log",
        extra=(
            f"--model_config_file={config}",
            f"--model_config_file_poll_wait_seconds={POLL_S}",
            f"--file_system_poll_wait_seconds={POLL_S}",
        ),
    )
    watcher = StatusWatcher(serving.target)
    watcher.start()
    # The limits this load depends on, stated: room for every client at once, and no
    # per-minute quota (the clients send as fast as the machine lets them; the quota has its
    # own tests).
    gw = gateway_factory(
        serving.target,
        GATEWAY_MAX_IN_FLIGHT=str(CLIENTS),
        GATEWAY_MAX_QUEUE=str(CLIENTS),
        GATEWAY_MAX_IN_FLIGHT_PER_KEY=str(CLIENTS),
        GATEWAY_RATE_LIMIT_PER_MIN="0",
    )
    clip = make_clip(frames=8, width=160, height=120).read_bytes()
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client_loop() -> None:
        with gw.client() as client:
            while not stop.is_set():
                start = time.monotonic()
                try:
                    response = client.post(
                        "/v1/detect",
                        headers={**gw.auth(), "Content-Type": "video/mp4"},
                        content=clip,
                        params={"frames": 4},
                    )
                    status = response.status_code
                    version = response.json()["model"]["version"] if status == 200 else None
                except Exception:  # a transport failure counts as a failed request
                    status, version = -1, None
                with lock:
                    outcomes.append(Outcome(start, time.monotonic(), status, version))

    def wait_for_version(version: int, since: float, timeout_s: float) -> float:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with lock:
                hits = [o for o in outcomes if o.version == version and o.start > since]
            if hits:
                return min(o.end for o in hits) - since
            time.sleep(0.1)
        raise AssertionError(f"version {version} never answered within {timeout_s} s")

    threads = [threading.Thread(target=client_loop) for _ in range(CLIENTS)]
    try:
        for thread in threads:
            thread.start()
        time.sleep(2)
        published = time.monotonic()
        export_tiny_model(base, MODEL_NAME, version=2, seed=2)
        forward_s = wait_for_version(2, published, 60)
        time.sleep(2)
        rolled_back = time.monotonic()
        _write_atomically(config, _config(base / MODEL_NAME, "specific { versions: 1 }"))
        back_s = wait_for_version(1, rolled_back, 60)
        # Load goes on past the point after which version 2 must never answer again.
        time.sleep(max(0.0, rolled_back + back_s + 5 * POLL_S + 2 - time.monotonic()))
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
        watcher.stop.set()
        watcher.join(10)
        serving.process.stop()

    assert quota_refusals(gw) == 0
    failed = [o for o in outcomes if o.status != 200]
    assert not failed, f"{len(failed)} of {len(outcomes)} requests failed: {failed[:5]}"
    assert len(outcomes) > 4 * CLIENTS
    # The watch covered every request, without long blind spots or many failed polls.
    times = [t for t, _ in watcher.samples]
    assert times and times[0] < min(o.start for o in outcomes), watcher.failures[:3]
    assert times[-1] > max(o.end for o in outcomes), watcher.failures[:3]
    assert max(b - a for a, b in itertools.pairwise(times)) < 5.0
    assert len(watcher.failures) < 0.1 * len(times), watcher.failures[:3]
    for o in outcomes:
        assert o.version in watcher.available_during(o.start, o.end), o
    # Version 2 answered nothing before it was published, nothing long after the rollback.
    assert all(o.start > published for o in outcomes if o.version == 2)
    late = rolled_back + back_s + 5 * POLL_S
    after = [o for o in outcomes if o.start > late]
    assert after, "no request started late enough to show the rollback held"
    assert all(o.version == 1 for o in after), [o for o in after if o.version != 1][:3]
    # The switch shows within a few poll intervals (plus the load and warmup of a tiny model).
    assert forward_s < 10 * POLL_S + 5, forward_s
    assert back_s < 10 * POLL_S + 5, back_s


def test_a_live_session_whose_version_is_unloaded_keeps_its_summary(
    tmp_path, gateway_factory, make_clip
) -> None:
    # A live session is pinned to the version that answered its hello; publishing the next
    # one unloads it ("latest 1"). The frames it scored are not lost: the summary over them
    # (with its receipt) comes before the error and the close that asks for a new session.
    base = tmp_path / "models"
    export_tiny_model(base, MODEL_NAME, version=1, seed=1)
    serving = start_serving(
        base / MODEL_NAME,
        tmp_path / "serving.log",
        extra=(f"--file_system_poll_wait_seconds={POLL_S}",),
    )
    watcher = StatusWatcher(serving.target)
    try:
        gw = gateway_factory(serving.target)
        frames = jpeg_frames(make_clip(frames=6, width=160, height=120), 6)

        async def run() -> tuple[LiveClient, int | None]:
            client = await open_live(gw, key=gw.api_key, hello={"type": "hello"})
            ready = await client.until("ready")
            assert ready["model"]["version"] == 1
            for frame in frames[:3]:
                await client.send_with_credit(frame)
            while (
                not client.of_type("verdict") or client.of_type("verdict")[-1]["frames_scored"] < 3
            ):
                await client.next()
            export_tiny_model(base, MODEL_NAME, version=2, seed=2)
            watcher.start()
            deadline = time.monotonic() + 60
            while not watcher.samples or watcher.samples[-1][1] != {2}:
                assert time.monotonic() < deadline, "version 1 was never unloaded"
                await asyncio.sleep(0.2)
            for frame in frames[3:]:  # scored by the unloaded version: the session ends
                with contextlib.suppress(ConnectionClosed):
                    await client.send_with_credit(frame)
            code, _ = await client.closed()
            return client, code

        async def through_the_sdk() -> tuple[Exception | None, object]:
            # The SDK's session on version 2, unloaded by version 3: a frame sent after the
            # summary raises the error that ended the session (what the soak counts).
            async with AsyncClient(gw.url, api_key=gw.api_key, ca_cert=gw.cafile) as sdk:
                session = sdk.live()
                async with session:
                    assert session.ready.model.version == 2
                    for frame in frames[:2]:
                        assert await session.send_frame(frame, wait=30)
                    while session.last_verdict is None or session.last_verdict.frames_scored < 2:
                        await asyncio.sleep(0.05)
                    export_tiny_model(base, MODEL_NAME, version=3, seed=3)
                    raised = None
                    deadline = time.monotonic() + 60
                    try:
                        while time.monotonic() < deadline:
                            await session.send_frame(frames[2], wait=5)
                            await asyncio.sleep(0.2)
                    except errors.DeepfakeError as exc:
                        raised = exc
                    return raised, session.summary

        client, code = asyncio.run(run())
        raised, sdk_summary = asyncio.run(through_the_sdk())
    finally:
        watcher.stop.set()
        if watcher.is_alive():
            watcher.join(10)
        serving.process.stop()

    (summary,) = client.of_type("summary")
    (error,) = client.of_type("error")
    assert code == 1013 and error["code"] == "model_not_found"
    assert "version 1" in error["message"] and "new session" in error["message"]
    assert summary["frames_scored"] == 3 and summary["verdict"] in ("fake", "real", "inconclusive")
    assert summary["receipt"], "the summary carries its signed receipt"
    kinds = [h.message["type"] for h in client.heard]
    assert kinds.index("summary") < kinds.index("error")
    assert isinstance(raised, errors.ApiError) and raised.code == "model_not_found", raised
    assert sdk_summary is not None and sdk_summary.frames_scored >= 2
