"""Jobs: the SDK's behaviour on the documented shape, then against the real gateway.

The live tests need ``/v1/jobs`` in the gateway's OpenAPI document; where the gateway under
test has no jobs API they fail (they do not skip), naming what is missing.
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from deepfake_client import AsyncClient, Client, errors

from tests.clients.conftest import gateway_has_jobs
from tests.clients.test_client import DETECTION
from tests.conftest import GatewayHandle


def _job(state: str, **extra: object) -> dict:
    return {"id": "job_1", "status": state, "progress": {"stage": "queued"}, **extra}


class FakeJobs:
    """A jobs API as documented, in a mock transport: 202 + Location + Retry-After."""

    def __init__(self, states: list[str], fail_first_creates: int = 0) -> None:
        self.states = states
        self.fail_first_creates = fail_first_creates
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path, method = request.url.path, request.method
        if (method, path) == ("POST", "/v1/jobs"):
            request.read()
            if self.fail_first_creates:
                self.fail_first_creates -= 1
                raise httpx.ReadError("connection reset", request=request)
            headers = {"Location": "/v1/jobs/job_1", "Retry-After": "0"}
            return httpx.Response(202, json=_job("queued"), headers=headers)
        if (method, path) == ("GET", "/v1/jobs/job_1"):
            state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
            result = DETECTION if state == "succeeded" else None
            return httpx.Response(
                200, json=_job(state, result=result), headers={"Retry-After": "0"}
            )
        if (method, path) == ("GET", "/v1/jobs/job_1/events"):
            events = [("progress", "queued"), ("progress", "running"), ("end", "succeeded")]
            text = "".join(f"event: {e}\ndata: {json.dumps(_job(s))}\n\n" for e, s in events)
            return httpx.Response(
                200, text=": hello\n\n" + text, headers={"Content-Type": "text/event-stream"}
            )
        if (method, path) == ("GET", "/v1/jobs"):
            if "cursor" not in request.url.params:
                return httpx.Response(200, json={"jobs": [_job("running")], "next_cursor": "c2"})
            return httpx.Response(200, json={"jobs": [{**_job("queued"), "id": "job_0"}]})
        if (method, path) == ("POST", "/v1/jobs/job_1/cancel"):
            return httpx.Response(200, json=_job("canceled"))
        if (method, path) == ("DELETE", "/v1/jobs/job_1"):
            return httpx.Response(204)
        return httpx.Response(404, json={"error": {"code": "not_found", "message": path}})


def _client(fake: FakeJobs) -> Client:
    return Client("https://gw.test", transport=httpx.MockTransport(fake), backoff=0.01)


def test_create_sends_one_idempotency_key_for_all_its_retries(tmp_path) -> None:
    video = tmp_path / "a.mp4"
    video.write_bytes(b"\0" * 1000)
    fake = FakeJobs(["queued"], fail_first_creates=2)
    with _client(fake) as client:
        job = client.jobs.create(video, frames=4, metadata={"batch": "b7"})
    creates = [r for r in fake.requests if r.method == "POST"]
    keys = {r.headers["Idempotency-Key"] for r in creates}
    assert len(creates) == 3 and len(keys) == 1
    assert creates[-1].url.params["frames"] == "4"
    assert creates[-1].url.params["metadata.batch"] == "b7"
    assert (job.id, job.state, job.location, job.retry_after) == (
        "job_1",
        "queued",
        "/v1/jobs/job_1",
        0.0,
    )


def test_each_create_call_has_its_own_key_unless_given(tmp_path) -> None:
    video = tmp_path / "a.mp4"
    video.write_bytes(b"\0")
    fake = FakeJobs(["queued"])
    with _client(fake) as client:
        client.jobs.create(video)
        client.jobs.create(video)
        client.jobs.create(video, idempotency_key="mine")
    keys = [r.headers["Idempotency-Key"] for r in fake.requests]
    assert keys[0] != keys[1] and keys[2] == "mine"


def test_a_job_reads_its_state_as_status_or_state() -> None:
    from deepfake_client import Job

    assert Job.model_validate({"id": "j", "state": "queued"}).status == "queued"
    job = Job.model_validate({"id": "j", "status": "running", "progress": {"stage": "decode"}})
    assert job.state == "running" and job.model_extra == {"progress": {"stage": "decode"}}


def test_wait_polls_until_succeeded_and_returns_the_result() -> None:
    fake = FakeJobs(["queued", "running", "succeeded"])
    with _client(fake) as client:
        job = client.jobs.wait("job_1", timeout=10)
    assert job.state == "succeeded" and job.result is not None and job.result.verdict == "real"
    assert len([r for r in fake.requests if r.url.path == "/v1/jobs/job_1"]) == 3


def test_wait_follows_the_event_stream() -> None:
    fake = FakeJobs(["succeeded"])
    with _client(fake) as client:
        job = client.jobs.wait("job_1", events=True)
    assert job.result is not None
    paths = [r.url.path for r in fake.requests]
    assert paths == ["/v1/jobs/job_1/events", "/v1/jobs/job_1"]


def test_a_job_that_fails_raises_job_failed_unless_asked_not_to() -> None:
    fake = FakeJobs(["failed"])
    with _client(fake) as client:
        with pytest.raises(errors.JobFailed) as caught:
            client.jobs.wait("job_1")
        assert caught.value.job.state == "failed"
        assert client.jobs.wait("job_1", raise_on_failure=False).state == "failed"


def test_wait_gives_up_after_its_timeout() -> None:
    fake = FakeJobs(["running"])
    with _client(fake) as client, pytest.raises(errors.WaitTimeout):
        client.jobs.wait("job_1", timeout=0.05)


def test_list_cancel_delete() -> None:
    fake = FakeJobs(["running"])
    with _client(fake) as client:
        page = client.jobs.list(limit=1)
        assert [j.state for j in page.jobs] == ["running"] and page.next_cursor == "c2"
        assert [j.id for j in client.jobs.iter(limit=1)] == ["job_1", "job_0"]
        assert client.jobs.cancel("job_1").state == "canceled"
        client.jobs.delete("job_1")
        with pytest.raises(errors.NotFound):
            client.jobs.get("job_2")


def test_the_async_client_waits_the_same_way() -> None:
    fake = FakeJobs(["queued", "succeeded"])

    async def run() -> str:
        transport = httpx.MockTransport(fake)
        async with AsyncClient("https://gw.test", transport=transport) as client:
            polled = await client.jobs.wait("job_1")
            streamed = await client.jobs.wait("job_1", events=True)
            return polled.state + "/" + streamed.state

    assert asyncio.run(run()) == "succeeded/succeeded"


# The live tests: the real gateway's jobs API.


@pytest.fixture
def jobs_gateway(gateway: GatewayHandle, live_openapi: dict) -> GatewayHandle:
    """The shared gateway; whether it has the jobs API is checked in each test (so that its
    absence is a test failure, not a setup error)."""
    gateway.has_jobs = gateway_has_jobs(live_openapi)  # type: ignore[attr-defined]
    return gateway


def _require_jobs(gateway: GatewayHandle) -> None:
    if not gateway.has_jobs:  # type: ignore[attr-defined]
        pytest.fail("the gateway under test has no /v1/jobs in its OpenAPI document")


def test_live_a_job_runs_to_its_verdict(jobs_gateway: GatewayHandle, make_clip) -> None:
    gw = jobs_gateway
    _require_jobs(gw)
    with Client(gw.url, api_key=gw.api_key, ca_cert=gw.cafile) as client:
        job = client.jobs.create(make_clip(), frames=4)
        assert job.state in ("queued", "running", "succeeded")
        done = client.jobs.wait(job.id, timeout=120)
        assert done.result is not None and done.result.verdict in ("real", "fake", "inconclusive")
        assert job.id in {j.id for j in client.jobs.iter()}
        client.jobs.delete(job.id)
        with pytest.raises(errors.ApiError) as caught:
            client.jobs.get(job.id)
        assert caught.value.status in (404, 410)


def test_live_wait_follows_the_event_stream(jobs_gateway: GatewayHandle, make_clip) -> None:
    gw = jobs_gateway
    _require_jobs(gw)
    with Client(gw.url, api_key=gw.api_key, ca_cert=gw.cafile) as client:
        job = client.jobs.create(make_clip(), frames=4)
        started = time.monotonic()
        done = client.jobs.wait(job.id, events=True, timeout=120)
        assert done.state == "succeeded" and time.monotonic() - started < 120


def test_live_the_same_idempotency_key_makes_one_job(
    jobs_gateway: GatewayHandle, make_clip
) -> None:
    gw = jobs_gateway
    _require_jobs(gw)
    clip = make_clip()
    with Client(gw.url, api_key=gw.api_key, ca_cert=gw.cafile) as client:
        first = client.jobs.create(clip, idempotency_key="same-upload-1")
        second = client.jobs.create(clip, idempotency_key="same-upload-1")
        assert first.id == second.id


def test_live_a_job_can_be_canceled(jobs_gateway: GatewayHandle, make_clip) -> None:
    gw = jobs_gateway
    _require_jobs(gw)
    with Client(gw.url, api_key=gw.api_key, ca_cert=gw.cafile) as client:
        job = client.jobs.create(make_clip(frames=90))
        canceled = client.jobs.cancel(job.id)
        assert canceled.state in ("canceled", "succeeded", "running")
        final = client.jobs.wait(job.id, timeout=120, raise_on_failure=False)
        assert final.state in ("canceled", "succeeded")
