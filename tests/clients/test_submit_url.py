"""``jobs.submit_url``: a JSON job naming a media URL, on both clients (a mock transport)."""

from __future__ import annotations

import asyncio
import json

import httpx
from deepfake_client import AsyncClient, Client


class FakeGateway:
    """Answers ``POST /v1/jobs`` with a queued job; the first ``resets`` calls break off."""

    def __init__(self, resets: int = 0) -> None:
        self.resets = resets
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        if self.resets:
            self.resets -= 1
            raise httpx.ReadError("connection reset", request=request)
        body = json.loads(request.content)
        job = {
            "id": "job_1",
            "status": "queued",
            "input": {"size_bytes": 0, "sha256": "", "duration_s": 0.0, **body},
        }
        return httpx.Response(202, json=job, headers={"Location": "/v1/jobs/job_1"})


def test_submit_url_sends_the_url_and_options_as_json_with_one_key_for_its_retries() -> None:
    fake = FakeGateway(resets=1)
    transport = httpx.MockTransport(fake)
    with Client("https://gw.test", transport=transport, backoff=0.01) as client:
        job = client.jobs.submit_url(
            "https://media.example/clip.mp4",
            frames=8,
            explain=True,
            operating_point="low_false_positive",
            callback_url="https://hooks.example/df",
            metadata={"case": "A-17"},
        )
    assert job.id == "job_1" and job.location == "/v1/jobs/job_1"
    first, last = fake.requests
    assert first.headers["Idempotency-Key"] == last.headers["Idempotency-Key"]
    assert last.headers["Content-Type"] == "application/json"
    assert last.url.path == "/v1/jobs" and not last.url.params
    assert json.loads(last.content) == {
        "media_url": "https://media.example/clip.mp4",
        "frames": 8,
        "explain": True,
        "operating_point": "low_false_positive",
        "callback_url": "https://hooks.example/df",
        "metadata": {"case": "A-17"},
    }


def test_submit_url_leaves_unset_options_out() -> None:
    fake = FakeGateway()
    with Client("https://gw.test", transport=httpx.MockTransport(fake)) as client:
        client.jobs.submit_url("https://media.example/a.jpg", idempotency_key="mine")
    (request,) = fake.requests
    assert json.loads(request.content) == {"media_url": "https://media.example/a.jpg"}
    assert request.headers["Idempotency-Key"] == "mine"


def test_the_async_client_submits_urls_the_same_way() -> None:
    fake = FakeGateway()

    async def run() -> str:
        transport = httpx.MockTransport(fake)
        async with AsyncClient("https://gw.test", transport=transport) as client:
            job = await client.jobs.submit_url("https://media.example/clip.mp4", frames=4)
            return job.id

    assert asyncio.run(run()) == "job_1"
    body = json.loads(fake.requests[0].content)
    assert body == {"media_url": "https://media.example/clip.mp4", "frames": 4}
