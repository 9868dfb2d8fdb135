"""Readiness, metrics, logs, backpressure and Serving faults, against real processes."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time

import pytest

from stack.processes import free_port
from tests.conftest import MODEL_NAME, start_serving, wait_for

pytestmark = pytest.mark.slow


def test_readyz_reflects_serving(gateway, gateway_factory) -> None:
    with gateway.client() as client:
        assert client.get("/readyz").status_code == 200
    dead = gateway_factory(f"127.0.0.1:{free_port()}", SERVING_RETRIES="0")
    with dead.client() as client:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.headers["retry-after"]
        assert client.get("/healthz").status_code == 200


def test_serving_unreachable_gets_503_with_retry_after(gateway_factory, make_clip) -> None:
    gw = gateway_factory(f"127.0.0.1:{free_port()}", SERVING_RETRIES="1")
    response = gw.detect(make_clip(frames=10))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "serving_unavailable"
    assert int(response.headers["retry-after"]) > 0


def test_deadline_gets_504(gateway_factory, make_clip) -> None:
    # A Serving that accepts and never answers: the deadline, not the machine's speed,
    # is what ends the call (a 1 ms deadline against a real Serving raced a fast answer).
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        gw = gateway_factory(
            f"127.0.0.1:{silent.getsockname()[1]}", SERVING_TIMEOUT_S="0.5", SERVING_RETRIES="0"
        )
        response = gw.detect(make_clip(frames=10))
    finally:
        silent.close()
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "serving_timeout"


def _metric(gw, line: str) -> bool:  # type: ignore[no-untyped-def]
    with gw.client() as client:
        return line in client.get("/metrics").text.splitlines()


def test_more_videos_than_the_limits_get_429(gateway_factory, make_clip) -> None:
    # A "Serving" that takes connections and never answers: videos wait on it in their slot.
    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))
        hole.listen(64)
        gw = gateway_factory(
            f"127.0.0.1:{hole.getsockname()[1]}",
            GATEWAY_MAX_IN_FLIGHT="1",
            GATEWAY_MAX_QUEUE="1",
            SERVING_TIMEOUT_S="15",
            SERVING_RETRIES="0",
        )
        clip = make_clip(frames=5)
        held = [threading.Thread(target=gw.detect, args=(clip,), daemon=True) for _ in range(2)]
        for thread in held:  # one processing, one waiting
            thread.start()
        deadline = time.monotonic() + 15
        while not (
            _metric(gw, "gateway_videos_in_flight 1.0") and _metric(gw, "gateway_videos_queued 1.0")
        ):
            assert time.monotonic() < deadline, "the two videos never took the slots"
            time.sleep(0.2)
        response = gw.detect(clip)
        assert response.status_code == 429
        assert response.json()["error"]["code"] == "overloaded"
        assert int(response.headers["retry-after"]) > 0
    # Serving gone, the held videos fail; once the slots free up, work is admitted again.
    for thread in held:
        thread.join(30)
    response = gw.detect(clip)
    assert response.status_code == 503, response.text


def test_serving_stopped_mid_request_gets_503(
    gateway_factory, model_base, make_clip, tmp_path
) -> None:
    own = start_serving(model_base / MODEL_NAME, tmp_path / "serving.log")
    # The upload pauses on purpose while Serving stops: no slow-client cut-off meanwhile.
    gw = gateway_factory(
        own.target,
        SERVING_RETRIES="1",
        GATEWAY_UPLOAD_GRACE_S="60",
        GATEWAY_UPLOAD_IDLE_TIMEOUT_S="60",
    )
    clip = make_clip(frames=30).read_bytes()
    upload_started = threading.Event()
    release = threading.Event()

    def body():  # type: ignore[no-untyped-def]
        yield clip[:1000]
        upload_started.set()
        release.wait(30)
        yield clip[1000:]

    result = {}

    def send() -> None:
        with gw.client() as client:
            result["response"] = client.post(
                "/v1/detect", headers={**gw.auth(), "Content-Type": "video/mp4"}, content=body()
            )

    thread = threading.Thread(target=send)
    thread.start()
    assert upload_started.wait(10)
    own.process.stop()  # Serving goes away while the request is in progress
    release.set()
    thread.join(60)
    response = result["response"]
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "serving_unavailable"
    assert response.headers["retry-after"]


def test_metrics_count_requests_and_time_stages(gateway, make_clip) -> None:
    assert gateway.detect(make_clip(frames=10)).status_code == 200
    with gateway.client() as client:
        text = client.get("/metrics").text
    assert 'gateway_requests_total{method="POST",route="/v1/detect",status="200"}' in text
    for stage in ("upload", "probe", "decode", "inference", "aggregate"):
        assert f'gateway_stage_seconds_count{{stage="{stage}"}}' in text
    assert "gateway_frames_analyzed_total" in text


def test_logs_are_json_with_request_id_and_no_video_bytes(gateway, make_clip) -> None:
    with gateway.client() as client:
        response = client.post(
            "/v1/detect",
            headers={
                **gateway.auth(),
                "Content-Type": "video/mp4",
                "X-Request-ID": "trace-me-123",
            },
            content=make_clip(frames=10).read_bytes(),
        )
    assert response.status_code == 200
    assert response.json()["request_id"] == "trace-me-123"

    def traced() -> list[dict]:
        lines = (gateway.var_dir / "gateway.log").read_text().splitlines()
        records = [json.loads(line) for line in lines if line.startswith("{")]
        return [r for r in records if r.get("request_id") == "trace-me-123"]

    # The access line is written just after the answer is sent.
    wait_for(lambda: any(r.get("route") == "/v1/detect" for r in traced()), "the access line")
    lines = (gateway.var_dir / "gateway.log").read_text().splitlines()
    mine = traced()
    assert any(r.get("route") == "/v1/detect" and r.get("status") == 200 for r in mine)
    assert not any("ftyp" in line or "avc1" in line for line in lines)


def test_models_lists_versions_and_states(gateway) -> None:
    with gateway.client() as client:
        response = client.get("/v1/models", headers=gateway.auth())
        assert client.get("/v1/models").status_code == 401
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == MODEL_NAME
    assert {"version": 1, "state": "AVAILABLE"}.items() <= body["versions"][0].items()
    # What the version says about itself: the tiny model's threshold and 32-pixel input.
    described = {"threshold": 0.5, "frame_min_side": 32, "sequence_length": 0, "kind": "detector"}
    assert described.items() <= body["versions"][0].items()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_tls_is_1_2_or_newer(gateway) -> None:
    host, port = "localhost", int(gateway.url.rsplit(":", 1)[1])
    ctx = gateway.ssl_context()
    with (
        socket.create_connection((host, port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname=host) as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
    old = gateway.ssl_context()
    old.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    with socket.create_connection((host, port), timeout=5) as raw, pytest.raises(ssl.SSLError):
        old.wrap_socket(raw, server_hostname=host)
