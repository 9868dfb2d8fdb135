"""The jobs API end to end: a real gateway, real Serving, a real HTTPS webhook receiver."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from tests.conftest import GatewayHandle, start_gateway, wait_for
from tests.videos import write_clip

from .helpers import KEY_A, KEY_B, Jobs, comparable
from .webhook_receiver import Receiver

KEY_C = "gamma-test-key-5555555555"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", frames=30)


@pytest.fixture(scope="module")
def gw(
    serving, receiver: Receiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayHandle]:
    """A gateway with two API keys whose callbacks may reach the loopback receiver."""
    handle = start_gateway(
        tmp_path_factory.mktemp("jobs-gw"),
        serving.target,
        {
            "GATEWAY_API_KEYS": f"{KEY_A},{KEY_B},{KEY_C}",
            "GATEWAY_WEBHOOK_ALLOW_LOOPBACK": "true",
            "GATEWAY_WEBHOOK_PORTS": str(receiver.port),
            "GATEWAY_WEBHOOK_CA_FILE": str(receiver.ca_file),
            "GATEWAY_WEBHOOK_RETRY_BASE_S": "0.3",
            "GATEWAY_JOB_POLL_S": "0.1",
        },
    )
    yield handle
    handle.process.stop()


def test_job_is_accepted_polled_streamed_and_matches_detect(gw: GatewayHandle, clip: Path) -> None:
    jobs = Jobs(gw)
    response = jobs.submit(clip, frames=8)
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"
    assert int(response.headers["retry-after"]) >= 1
    assert job["status"] in ("queued", "running")
    assert job["input"]["size_bytes"] == clip.stat().st_size
    assert job["input"]["duration_s"] == pytest.approx(1.0, abs=0.1)
    assert job["expires_at"]

    events = jobs.events(job["id"])
    assert events[-1][0] == "end"
    assert all(name == "progress" for name, _ in events[:-1])
    final = events[-1][1]
    assert final["status"] == "succeeded"
    assert final["progress"]["frames_done"] == final["progress"]["frames_total"] == 8

    polled = jobs.wait(job["id"])
    assert polled["status"] == "succeeded"
    assert polled["model_version"] == polled["result"]["model"]["version"]
    assert polled["finished_at"] and polled["expires_at"] > polled["finished_at"]
    assert polled["input"]["sha256"] == hashlib.sha256(clip.read_bytes()).hexdigest()
    sync = jobs.submit(clip, path="/v1/detect", frames=8)
    assert sync.status_code == 200
    assert comparable(polled["result"]) == comparable(sync.json())


def test_detect_honours_prefer_respond_async_and_wait(gw: GatewayHandle, clip: Path) -> None:
    jobs = Jobs(gw)
    accepted = jobs.submit(clip, path="/v1/detect", headers={"Prefer": "respond-async"})
    assert accepted.status_code == 202
    assert accepted.headers["preference-applied"] == "respond-async"
    assert jobs.wait(accepted.json()["id"])["status"] == "succeeded"
    waited = jobs.submit(clip, path="/v1/detect", headers={"Prefer": "respond-async, wait=60"})
    assert waited.status_code == 200, waited.text
    assert waited.json()["verdict"] in ("real", "fake", "inconclusive")
    assert waited.headers["content-location"].startswith("/v1/jobs/")


def test_idempotent_replay_and_mismatch(gw: GatewayHandle, clip: Path) -> None:
    jobs = Jobs(gw)
    key = {"Idempotency-Key": f"idem-{time.time_ns()}"}
    first = jobs.submit(clip, headers=key, frames=4)
    assert first.status_code == 202 and "idempotent-replayed" not in first.headers
    again = jobs.submit(clip, headers=key, frames=4)
    assert again.status_code == 202
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    other = jobs.submit(clip, headers=key, frames=5)
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_mismatch"
    # Keys belong to the API key that used them.
    theirs = Jobs(gw, KEY_B).submit(clip, headers=key, frames=5)
    assert theirs.status_code == 202 and "idempotent-replayed" not in theirs.headers


def test_another_keys_jobs_are_not_found(gw: GatewayHandle, clip: Path) -> None:
    mine, theirs = Jobs(gw, KEY_A), Jobs(gw, KEY_B)
    job_id = mine.submit(clip, frames=4).json()["id"]
    for method, path in [
        ("GET", f"/v1/jobs/{job_id}"),
        ("GET", f"/v1/jobs/{job_id}/events"),
        ("GET", f"/v1/jobs/{job_id}/deliveries"),
        ("POST", f"/v1/jobs/{job_id}/cancel"),
        ("DELETE", f"/v1/jobs/{job_id}"),
    ]:
        response = theirs.call(method, path)
        assert response.status_code == 404, (method, path)
        assert response.json()["error"]["code"] == "job_not_found"
    assert job_id not in [j["id"] for j in theirs.call("GET", "/v1/jobs").json()["jobs"]]
    assert mine.wait(job_id)["status"] == "succeeded"


def test_listing_pages_with_a_cursor_and_delete(gw: GatewayHandle, clip: Path) -> None:
    jobs = Jobs(gw, KEY_B)
    ids = [jobs.submit(clip, frames=2).json()["id"] for _ in range(3)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = jobs.call("GET", "/v1/jobs", params=params).json()
        seen += [j["id"] for j in page["jobs"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen[:3] == list(reversed(ids))
    assert len(seen) == len(set(seen))
    jobs.wait(ids[0])
    assert jobs.call("DELETE", f"/v1/jobs/{ids[0]}").status_code == 204
    assert jobs.get(ids[0]).status_code == 404


def test_private_and_malformed_callbacks_are_refused(gw: GatewayHandle, clip: Path) -> None:
    jobs = Jobs(gw)
    jobs.webhook_secret()
    for url in [
        "https://10.0.0.1/hook",
        "https://192.168.1.10/hook",
        "https://169.254.169.254/latest",
        "https://[fd00::1]/hook",
        "https://100.64.0.1/hook",
        "http://example.com/hook",
        "https://8.8.8.8:8080/hook",
    ]:
        response = jobs.submit(clip, callback_url=url)
        assert response.status_code == 422, url
        assert response.json()["error"]["code"] == "callback_refused", url


def test_signed_webhook_reaches_the_receiver(
    gw: GatewayHandle, clip: Path, receiver: Receiver
) -> None:
    receiver.reset()
    jobs = Jobs(gw)
    secret = jobs.webhook_secret()
    response = jobs.submit(clip, callback_url=receiver.url, **{"metadata.order": "A-17"})
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    [hook] = receiver.wait_for(1)
    payload = Webhook(secret).verify(hook.body, hook.headers)
    assert hook.headers["webhook-signature"].startswith("v1,")
    assert len(hook.body) < 20 * 1024
    data = payload["data"]
    assert payload["type"] == "job.succeeded"
    assert data["id"] == job_id and data["status"] == "succeeded"
    job = jobs.wait(job_id)
    assert data["verdict"] == job["result"]["verdict"]
    assert data["score"] == job["result"]["score"]
    assert data["model_version"] == job["model_version"]
    assert data["metadata"] == {"order": "A-17"}
    assert data["links"]["self"] == f"/v1/jobs/{job_id}"
    with pytest.raises(Exception, match="signature"):
        Webhook(Jobs(gw, KEY_B).webhook_secret()).verify(hook.body, hook.headers)


def test_failed_deliveries_are_retried_and_redeliverable(
    gw: GatewayHandle, clip: Path, receiver: Receiver
) -> None:
    jobs = Jobs(gw)
    secret = jobs.webhook_secret()
    receiver.reset(script=[500, 302])
    job_id = jobs.submit(clip, callback_url=receiver.url).json()["id"]
    hooks = receiver.wait_for(3)
    assert len({h.headers["webhook-id"] for h in hooks}) == 1
    for hook in hooks:
        Webhook(secret).verify(hook.body, hook.headers)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        [delivery] = jobs.call("GET", f"/v1/jobs/{job_id}/deliveries").json()["deliveries"]
        if delivery["state"] == "delivered":
            break
        time.sleep(0.1)
    assert delivery["state"] == "delivered"
    assert [a["status"] for a in delivery["log"]] == [500, 302, 204]
    again = jobs.call("POST", f"/v1/jobs/{job_id}/deliveries/redeliver")
    assert again.status_code == 202
    hooks = receiver.wait_for(4)
    assert hooks[-1].headers["webhook-id"] == hooks[0].headers["webhook-id"]


def test_receiver_gone_stops_retries(gw: GatewayHandle, clip: Path, receiver: Receiver) -> None:
    jobs = Jobs(gw)
    jobs.webhook_secret()
    receiver.reset(script=[410])
    job_id = jobs.submit(clip, callback_url=receiver.url).json()["id"]
    receiver.wait_for(1)

    def state() -> str:
        [delivery] = jobs.call("GET", f"/v1/jobs/{job_id}/deliveries").json()["deliveries"]
        return delivery["state"]

    # Stopped for good: the one 410 was the only attempt, and none is scheduled.
    wait_for(lambda: state() == "stopped", "the delivery stopped after the 410")
    assert len(receiver.received) == 1


def test_callbacks_need_a_webhook_secret(gw: GatewayHandle, clip: Path, receiver: Receiver) -> None:
    response = Jobs(gw, KEY_C).submit(clip, callback_url=receiver.url)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "webhook_secret_missing"


def test_metrics_show_jobs_and_deliveries(gw: GatewayHandle) -> None:
    def metrics() -> str:
        with gw.client() as client:
            return client.get("/metrics").text

    # The gauges are refreshed every few seconds, not per request.
    wait_for(lambda: 'gateway_jobs{status="succeeded"}' in metrics(), "the job gauges refreshed")
    text = metrics()
    assert 'gateway_jobs{status="succeeded"}' in text
    assert "gateway_job_queue_depth" in text
    assert "gateway_job_seconds_bucket" in text
    assert 'gateway_webhook_deliveries_total{outcome="delivered"}' in text


def test_openapi_documents_the_job_endpoints(gw: GatewayHandle) -> None:
    with gw.client() as client:
        spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path, method in [
        ("/v1/jobs", "post"),
        ("/v1/jobs", "get"),
        ("/v1/jobs/{job_id}", "get"),
        ("/v1/jobs/{job_id}", "delete"),
        ("/v1/jobs/{job_id}/cancel", "post"),
        ("/v1/jobs/{job_id}/events", "get"),
        ("/v1/jobs/{job_id}/deliveries", "get"),
        ("/v1/jobs/{job_id}/deliveries/redeliver", "post"),
        ("/v1/webhook-secret", "post"),
    ]:
        assert method in paths[path], (path, method)
    submit = paths["/v1/jobs"]["post"]
    assert {"Location", "Retry-After", "Idempotent-Replayed"} <= set(
        submit["responses"]["202"]["headers"]
    )
    names = {p["name"] for p in submit["parameters"]}
    assert {"callback_url", "Idempotency-Key", "frames", "metadata.{name}"} <= names
    detect = {p["name"] for p in paths["/v1/detect"]["post"]["parameters"]}
    assert {"prefer", "Idempotency-Key", "callback_url", "frames"} <= detect


def test_a_key_over_its_active_jobs_cap_gets_429(serving, tmp_path: Path, clip: Path) -> None:
    handle = start_gateway(
        tmp_path / "capped",
        serving.target,
        {
            "GATEWAY_API_KEYS": f"{KEY_A},{KEY_B}",
            "GATEWAY_JOB_WORKERS": "0",  # jobs stay queued
            "GATEWAY_JOB_MAX_ACTIVE_PER_KEY": "1",
        },
    )
    try:
        jobs, theirs = Jobs(handle, KEY_A), Jobs(handle, KEY_B)
        first = jobs.submit(clip, frames=4, headers={"Idempotency-Key": "once"})
        assert first.status_code == 202, first.text
        refused = jobs.submit(clip, frames=4)
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "rate_limited"
        assert "1 queued or running jobs" in refused.json()["error"]["message"]
        assert int(refused.headers["retry-after"]) > 0
        # The same request again is its replay, not a new job; another key is not held up.
        replay = jobs.submit(clip, frames=4, headers={"Idempotency-Key": "once"})
        assert replay.status_code == 202 and replay.headers["idempotent-replayed"] == "true"
        assert replay.json()["id"] == first.json()["id"]
        assert theirs.submit(clip, frames=4).status_code == 202
        listed = jobs.call("GET", "/v1/jobs").json()["jobs"]
        assert [j["id"] for j in listed] == [first.json()["id"]]
        with handle.client() as client:
            assert 'gateway_rate_limited_total{quota="jobs"} 1.0' in client.get("/metrics").text
    finally:
        handle.process.stop()
