"""Per-key request rate and concurrency quotas, against the real gateway."""

from __future__ import annotations

import pytest

from tests.conftest import uploads_receiving, wait_for
from tests.gateway.api.rawhttp import detect_head, open_tls

pytestmark = pytest.mark.slow


def _empty_detect(gw, key: str):  # type: ignore[no-untyped-def]
    with gw.client() as client:
        return client.post(
            "/v1/detect",
            headers={"Authorization": f"Bearer {key}", "Content-Type": "video/mp4"},
            content=b"",
        )


def test_rate_limit_per_key_gets_429_with_retry_after(gateway_factory, serving) -> None:
    gw = gateway_factory(
        serving.target, GATEWAY_API_KEYS="key-a,key-b", GATEWAY_RATE_LIMIT_PER_MIN="3"
    )
    for _ in range(3):
        assert _empty_detect(gw, "key-a").json()["error"]["code"] == "missing_video"
    limited = _empty_detect(gw, "key-a")
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    assert int(limited.headers["retry-after"]) >= 1
    # Another key has its own bucket.
    assert _empty_detect(gw, "key-b").json()["error"]["code"] == "missing_video"


def test_concurrent_requests_per_key_are_capped(gateway_factory, serving) -> None:
    gw = gateway_factory(
        serving.target, GATEWAY_API_KEYS="key-a,key-b", GATEWAY_MAX_IN_FLIGHT_PER_KEY="1"
    )
    with open_tls(gw) as held:
        held.sendall(detect_head("key-a", 1_000_000))  # an upload in progress for key-a
        wait_for(lambda: uploads_receiving(gw) >= 1, "the held upload is being received")
        second = _empty_detect(gw, "key-a")
        assert second.status_code == 429
        assert second.json()["error"]["code"] == "rate_limited"
        assert int(second.headers["retry-after"]) >= 1
        assert _empty_detect(gw, "key-b").json()["error"]["code"] == "missing_video"
