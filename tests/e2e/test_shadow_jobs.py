"""Jobs shadowed through the real HTTPS gateway, its job workers and local Serving.

A sampled job's plaintext copy goes to the shadow canary as a ``/v1/detect`` upload does:
its disagreements are counted in ``/metrics`` and ``GET /v1/models`` and logged with the
job's ids, the shadow's faults and a full queue fail no job, and no plaintext copy outlives
its shadow run, its drop or the gateway's shutdown. ``python -m gateway worker`` shadows
the jobs it runs too.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stack.processes import ManagedProcess
from tests.conftest import (
    MODEL_NAME,
    REPO,
    GatewayHandle,
    ServingHandle,
    metric_total,
    start_serving,
    wait_for,
)
from tests.gateway.jobs.media_server import MediaServer, serve_bytes, start_media_server
from tests.tiny_model import export_tiny_model

from .shadows import (
    POLL_S,
    Blackhole,
    log_lines,
    outcome,
    serving_config,
    shadow_counts,
    shadow_status,
    uploads_left,
    write_atomically,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def media_server() -> Iterator[MediaServer]:
    found, httpd = start_media_server()
    yield found
    httpd.shutdown()
    httpd.server_close()


def submit(gw: GatewayHandle, clip: bytes, **params: object) -> str:
    """An upload job; its id."""
    with gw.client() as client:
        response = client.post(
            "/v1/jobs",
            headers={**gw.auth(), "Content-Type": "video/mp4"},
            content=clip,
            params={"frames": 4, **params},
        )
    assert response.status_code == 202, response.text
    return response.json()["id"]


def submit_url(gw: GatewayHandle, url: str, **params: object) -> str:
    """A media URL job; its id."""
    with gw.client() as client:
        response = client.post(
            "/v1/jobs", headers=gw.auth(), json={"media_url": url, "frames": 4, **params}
        )
    assert response.status_code == 202, response.text
    return response.json()["id"]


def succeeded(gw: GatewayHandle, job_id: str) -> dict:
    """The job once it ended, which must be a success."""
    found: dict = {}

    def ended() -> bool:
        with gw.client() as client:
            found.update(client.get(f"/v1/jobs/{job_id}", headers=gw.auth()).json())
        return found["status"] in ("succeeded", "failed", "canceled", "expired")

    wait_for(ended, f"job {job_id} ended", timeout_s=120)
    assert found["status"] == "succeeded", found.get("error")
    return found


def plaintext_left(gw: GatewayHandle) -> list[str]:
    """Decrypted copies of job media: temporary uploads and the workers' working copies."""
    work = gw.var_dir / "jobs" / "media" / "work"
    return uploads_left(gw) + (sorted(p.name for p in work.iterdir()) if work.is_dir() else [])


@dataclass
class TwoVersions:
    """A Serving of versions 1 and 2 (labelled ``canary``), from a config file it polls."""

    serving: ServingHandle
    base: Path
    config: Path

    def unload_2(self) -> None:
        write_atomically(self.config, serving_config(self.base, [1]))


@pytest.fixture
def two_versions(tmp_path: Path) -> Iterator[TwoVersions]:
    base = tmp_path / "models"
    export_tiny_model(base, MODEL_NAME, version=1, seed=1)
    export_tiny_model(base, MODEL_NAME, version=2, seed=2)
    config = tmp_path / "models.config"
    write_atomically(config, serving_config(base / MODEL_NAME, [1, 2], canary=2))
    serving = start_serving(
        base / MODEL_NAME,
        tmp_path / "serving.log",
        extra=(
            f"--model_config_file={config}",
            f"--model_config_file_poll_wait_seconds={POLL_S}",
            "--allow_version_labels_for_unavailable_models",
        ),
    )
    yield TwoVersions(serving, base / MODEL_NAME, config)
    serving.process.stop()


def disagreement_lines(var_dir: Path) -> list[dict]:
    path = var_dir / "shadow" / "disagreements.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_jobs_disagreeing_with_the_shadow_are_counted_logged_and_its_unload_fails_no_job(
    two_versions: TwoVersions, gateway_factory, make_clip, media_server: MediaServer
) -> None:
    serving = two_versions.serving
    # Any score difference disagrees: two seeds never score a clip alike.
    gw = gateway_factory(
        serving.target,
        GATEWAY_SHADOW_MODEL="canary",
        GATEWAY_SHADOW_SCORE_DELTA="0",
        GATEWAY_WEBHOOK_ALLOW_LOOPBACK="true",
        GATEWAY_JOB_POLL_S="0.1",
    )
    clip = make_clip(frames=8, width=160, height=120).read_bytes()
    media_server.routes["/clip.mp4"] = serve_bytes(clip)
    ids = [submit(gw, clip, model_version=1) for _ in range(3)]
    ids.append(submit_url(gw, media_server.url("/clip.mp4"), model_version=1))
    jobs = {job_id: succeeded(gw, job_id) for job_id in ids}
    assert {j["result"]["model"]["version"] for j in jobs.values()} == {1}
    wait_for(lambda: outcome(gw, "disagree") == 4, "four disagreements counted")
    assert shadow_counts(gw) == {("1", "2", "disagree"): 4.0}
    status = shadow_status(gw)
    assert (status["compared"], status["agreements"], status["disagreements"]) == (4, 0, 4)
    assert status["agreement_rate"] == 0.0
    # One line per job, naming the job and the request id its result carries.
    lines = disagreement_lines(gw.var_dir)
    assert sorted(x["job_id"] for x in lines) == sorted(ids)
    for line in lines:
        result = jobs[line["job_id"]]["result"]
        assert line["request_id"] == result["request_id"]
        assert line["primary"] == {
            "version": 1,
            "score": pytest.approx(result["score"], abs=1e-4),
            "verdict": result["verdict"],
        }
        assert line["shadow"]["version"] == 2
    logged = log_lines(gw, "shadow disagrees")
    assert sorted(e["disagreement"]["job_id"] for e in logged) == sorted(ids)
    assert sorted(e["request_id"] for e in logged) == sorted(
        j["result"]["request_id"] for j in jobs.values()
    )
    wait_for(lambda: plaintext_left(gw) == [], "every shadowed copy removed")

    # The fault: Serving drops version 2 and its label while jobs go on.
    two_versions.unload_2()

    def unloaded() -> bool:
        with gw.client() as client:
            versions = client.get("/v1/models", headers=gw.auth()).json()["versions"]
        return all(v["version"] != 2 or v["state"] != "AVAILABLE" for v in versions)

    wait_for(unloaded, "version 2 unloaded")
    later = [submit(gw, clip, model_version=1) for _ in range(2)]
    later.append(submit_url(gw, media_server.url("/clip.mp4"), model_version=1))
    for job_id in later:
        assert succeeded(gw, job_id)["result"]["model"]["version"] == 1
    wait_for(lambda: outcome(gw, "failed") == 3, "three shadow failures counted")
    assert shadow_counts(gw) == {
        ("1", "2", "disagree"): 4.0,
        ("1", "canary", "failed"): 3.0,
    }
    assert shadow_status(gw)["failed"] == 3
    failures = log_lines(gw, "shadow run failed")
    assert sorted(e["job_id"] for e in failures) == sorted(later)
    wait_for(lambda: plaintext_left(gw) == [], "every failed run's copy removed")


def test_the_worker_process_shadows_its_jobs(
    two_versions: TwoVersions, gateway_factory, make_clip, tmp_path: Path
) -> None:
    env = {"GATEWAY_JOB_WORKERS": "0", "GATEWAY_JOB_POLL_S": "0.1"}
    gw = gateway_factory(two_versions.serving.target, **env)
    shadow_env = {"GATEWAY_SHADOW_MODEL": "canary", "GATEWAY_SHADOW_SCORE_DELTA": "0"}
    # The worker reads the gateway's job store and KEK from the same var directory.
    worker = ManagedProcess(
        "worker",
        [sys.executable, "-m", "gateway", "worker"],
        env={
            "GATEWAY_VAR_DIR": str(gw.var_dir),
            "SERVING_TARGET": two_versions.serving.target,
            "MODEL_NAME": MODEL_NAME,
            **env,
            **shadow_env,
        },
        log_path=tmp_path / "worker.log",
        cwd=REPO,
    )
    try:
        clip = make_clip(frames=8, width=160, height=120).read_bytes()
        ids = [submit(gw, clip, model_version=1) for _ in range(2)]
        for job_id in ids:
            succeeded(gw, job_id)
        wait_for(lambda: len(disagreement_lines(gw.var_dir)) == 2, "two disagreements logged")
        assert sorted(x["job_id"] for x in disagreement_lines(gw.var_dir)) == sorted(ids)
        assert '"shadow disagrees"' in (tmp_path / "worker.log").read_text()
        wait_for(lambda: plaintext_left(gw) == [], "every shadowed copy removed")
    finally:
        assert worker.stop() == 0, worker.log_tail()


def test_dropped_and_pending_shadow_runs_of_jobs_leave_no_plaintext(
    gateway_factory, make_clip, serving: ServingHandle
) -> None:
    hung = Blackhole()
    hung.start()
    try:
        gw = gateway_factory(
            serving.target,
            GATEWAY_SHADOW_MODEL="2",
            GATEWAY_SHADOW_SERVING_TARGET=hung.target,
            GATEWAY_SHADOW_QUEUE="1",
            GATEWAY_JOB_POLL_S="0.1",
            # The hung shadow call must outlast the jobs below.
            SERVING_TIMEOUT_S="110",
        )
        clip = make_clip(frames=8, width=160, height=120).read_bytes()
        succeeded(gw, submit(gw, clip))
        wait_for(lambda: metric_total(gw, "gateway_shadow_queued") == 0, "the worker took it")
        # One run hangs, one waits in the queue, the other three are dropped: no job waits.
        for _ in range(4):
            assert succeeded(gw, submit(gw, clip))["result"]["model"]["version"] == 1
        assert outcome(gw, "dropped") == 3
        assert shadow_status(gw)["dropped"] == 3
        assert metric_total(gw, "gateway_shadow_queued") == 1
        # Only the copies of the hung and the queued runs are left, out of the work folder.
        assert len(uploads_left(gw)) == 2
        assert plaintext_left(gw) == uploads_left(gw)
        gw.process.stop()
        assert plaintext_left(gw) == []
        (line,) = log_lines(gw, "shadow runs dropped at shutdown")
        assert line["count"] == 1
    finally:
        hung.close()
