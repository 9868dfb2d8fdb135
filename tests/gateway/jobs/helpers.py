"""Talking to the jobs API of a real gateway in tests."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import GatewayHandle

ENDED = {"succeeded", "failed", "canceled", "expired"}
KEY_A = "alpha-test-key-0123456789"
KEY_B = "beta-test-key-9876543210"


class Jobs:
    """A client of one gateway's jobs API under one API key."""

    def __init__(self, gateway: GatewayHandle, key: str = KEY_A) -> None:
        self.gateway = gateway
        self.key = key

    def http(self) -> httpx.Client:
        return self.gateway.client(headers={"Authorization": f"Bearer {self.key}"})

    def submit(
        self,
        clip: Path,
        *,
        headers: dict[str, str] | None = None,
        path: str = "/v1/jobs",
        **params: Any,
    ) -> httpx.Response:
        with self.http() as client:
            return client.post(
                path,
                params=params,
                headers={"Content-Type": "video/mp4", **(headers or {})},
                content=clip.read_bytes(),
            )

    def get(self, job_id: str) -> httpx.Response:
        with self.http() as client:
            return client.get(f"/v1/jobs/{job_id}")

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with self.http() as client:
            return client.request(method, path, **kwargs)

    def wait(self, job_id: str, timeout_s: float = 120.0, until: set[str] = ENDED) -> dict:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            body = self.get(job_id).json()
            if body["status"] in until:
                return body
            time.sleep(0.2)
        raise AssertionError(f"job {job_id} still {body['status']} after {timeout_s} s")

    def events(self, job_id: str) -> list[tuple[str, dict]]:
        """Every server-sent event of the job until the stream ends."""
        found: list[tuple[str, dict]] = []
        event = "message"
        with self.http() as client, client.stream("GET", f"/v1/jobs/{job_id}/events") as resp:
            assert resp.status_code == 200
            assert resp.headers["content-type"].startswith("text/event-stream")
            for line in resp.iter_lines():
                if line.startswith("event: "):
                    event = line[len("event: ") :]
                elif line.startswith("data: "):
                    found.append((event, json.loads(line[len("data: ") :])))
        return found

    def webhook_secret(self) -> str:
        response = self.call("POST", "/v1/webhook-secret")
        assert response.status_code == 201, response.text
        return response.json()["secret"]


def comparable(result: dict) -> dict:
    """A detection body without what differs between two runs of the same video (the
    receipt signs the request id and the time)."""
    return {k: v for k, v in result.items() if k not in ("request_id", "timings_ms", "receipt")}
