"""The shadow canary through the real HTTPS gateway and the real local Serving.

A shadow version scores sampled detections after their answer: its disagreements are
counted and logged, its faults (a version Serving unloads, a Serving process that stops,
then dies) and a full queue are counted without failing or holding up any answer, and no
upload file outlives its shadow run, its drop or the gateway's shutdown.
"""

from __future__ import annotations

import json
import os
import signal

import pytest

from tests.conftest import (
    MODEL_NAME,
    GatewayHandle,
    ServingHandle,
    metric_total,
    start_serving,
    wait_for,
)
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


def detect(gw: GatewayHandle, clip: bytes, **params: object) -> dict:
    with gw.client() as client:
        response = client.post(
            "/v1/detect",
            headers={**gw.auth(), "Content-Type": "video/mp4"},
            content=clip,
            params={"frames": 4, **params},
        )
    assert response.status_code == 200, response.text
    return response.json()


def test_a_disagreeing_shadow_is_counted_logged_and_its_unload_fails_no_answer(
    tmp_path, gateway_factory, make_clip
) -> None:
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
    try:
        # Any score difference disagrees: two seeds never score a clip alike.
        gw = gateway_factory(
            serving.target, GATEWAY_SHADOW_MODEL="canary", GATEWAY_SHADOW_SCORE_DELTA="0"
        )
        clip = make_clip(frames=8, width=160, height=120).read_bytes()
        answers = [detect(gw, clip, model_version=1) for _ in range(4)]
        assert {a["model"]["version"] for a in answers} == {1}
        wait_for(lambda: outcome(gw, "disagree") == 4, "four disagreements counted")
        assert shadow_counts(gw) == {("1", "2", "disagree"): 4.0}
        status = shadow_status(gw)
        assert status["model"] == "canary" and status["label"] == "canary"
        assert status["version"] == 2
        assert (status["compared"], status["agreements"], status["disagreements"]) == (4, 0, 4)
        assert status["agreement_rate"] == 0.0
        # One line per disagreement, naming the request whose answer it shadowed.
        lines = [
            json.loads(x)
            for x in (gw.var_dir / "shadow" / "disagreements.jsonl").read_text().splitlines()
        ]
        assert sorted(x["request_id"] for x in lines) == sorted(a["request_id"] for a in answers)
        by_id = {a["request_id"]: a for a in answers}
        for line in lines:
            answer = by_id[line["request_id"]]
            assert line["primary"] == {
                "version": 1,
                "score": pytest.approx(answer["score"], abs=1e-4),
                "verdict": answer["verdict"],
            }
            assert line["shadow"]["version"] == 2
            assert line["score_delta"] != 0
            assert line["verdict_changed"] == (line["shadow"]["verdict"] != answer["verdict"])
        logged = log_lines(gw, "shadow disagrees")
        assert sorted(e["request_id"] for e in logged) == sorted(by_id)

        # The fault: Serving drops version 2 and its label while requests go on.
        write_atomically(config, serving_config(base / MODEL_NAME, [1]))

        def unloaded() -> bool:
            with gw.client() as client:
                versions = client.get("/v1/models", headers=gw.auth()).json()["versions"]
            return all(v["version"] != 2 or v["state"] != "AVAILABLE" for v in versions)

        wait_for(unloaded, "version 2 unloaded")
        for _ in range(3):
            assert detect(gw, clip, model_version=1)["model"]["version"] == 1
        wait_for(lambda: outcome(gw, "failed") == 3, "three shadow failures counted")
        assert shadow_counts(gw) == {
            ("1", "2", "disagree"): 4.0,
            ("1", "canary", "failed"): 3.0,
        }
        assert shadow_status(gw)["failed"] == 3
        assert metric_total(gw, "gateway_requests_total") > 0
        assert uploads_left(gw) == []
    finally:
        serving.process.stop()


def test_a_stopped_then_killed_shadow_serving_drops_and_fails_without_failing_answers(
    tmp_path, gateway_factory, make_clip, serving: ServingHandle
) -> None:
    shadow_base = tmp_path / "shadow-models"
    export_tiny_model(shadow_base, MODEL_NAME, version=2, seed=2)
    shadow_serving = start_serving(shadow_base / MODEL_NAME, tmp_path / "shadow-serving.log")
    try:
        gw = gateway_factory(
            serving.target,
            GATEWAY_SHADOW_MODEL="2",
            GATEWAY_SHADOW_SERVING_TARGET=shadow_serving.target,
            GATEWAY_SHADOW_QUEUE="2",
            # The stalled shadow call must outlast the requests below.
            SERVING_TIMEOUT_S="110",
        )
        clip = make_clip(frames=8, width=160, height=120).read_bytes()
        detect(gw, clip)
        wait_for(lambda: shadow_status(gw)["compared"] == 1, "the first comparison")

        # Stopped: the shadow worker hangs on its call, the queue fills, the rest is dropped.
        os.kill(shadow_serving.process.pid, signal.SIGSTOP)
        detect(gw, clip)
        wait_for(lambda: metric_total(gw, "gateway_shadow_queued") == 0, "the worker took it")
        for _ in range(5):
            assert detect(gw, clip)["model"]["version"] == 1
        assert outcome(gw, "dropped") == 3  # two of the five wait in the queue
        assert metric_total(gw, "gateway_shadow_queued") == 2
        # Only the files of the running and the queued shadow runs are left.
        assert len(uploads_left(gw)) == 3

        # Killed: the call in flight and the queued ones fail; answers go on.
        os.kill(shadow_serving.process.pid, signal.SIGKILL)
        wait_for(lambda: outcome(gw, "failed") == 3, "the three pending runs failed")
        for _ in range(2):
            assert detect(gw, clip)["model"]["version"] == 1
        wait_for(lambda: outcome(gw, "failed") == 5, "later runs failed too")
        counts = shadow_counts(gw)
        assert sum(counts.values()) == 9  # every request sent, each with one outcome
        assert counts[("1", "2", "dropped")] == 3 and counts[("1", "2", "failed")] == 5
        status = shadow_status(gw)
        assert (status["compared"], status["failed"], status["dropped"]) == (1, 5, 3)
        wait_for(lambda: uploads_left(gw) == [], "every upload removed")
    finally:
        shadow_serving.process.stop()


def test_shutdown_removes_the_uploads_of_pending_shadow_runs(
    gateway_factory, make_clip, serving: ServingHandle
) -> None:
    hung = Blackhole()
    hung.start()
    try:
        gw = gateway_factory(
            serving.target,
            GATEWAY_SHADOW_MODEL="2",
            GATEWAY_SHADOW_SERVING_TARGET=hung.target,
            GATEWAY_SHADOW_QUEUE="2",
            SERVING_TIMEOUT_S="110",
        )
        clip = make_clip(frames=8, width=160, height=120).read_bytes()
        for _ in range(3):
            detect(gw, clip)
        wait_for(lambda: len(uploads_left(gw)) == 3, "one running and two queued shadow runs")
        assert outcome(gw, "failed") == outcome(gw, "dropped") == 0
        gw.process.stop()
        assert uploads_left(gw) == []
        (line,) = log_lines(gw, "shadow runs dropped at shutdown")
        assert line["count"] == 2
    finally:
        hung.close()
