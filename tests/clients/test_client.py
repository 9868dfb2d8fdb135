"""The SDK's clients against the real HTTPS gateway: detect, models, TLS, retries."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from deepfake_client import AsyncClient, Client, InsecureTransportWarning, errors
from deepfake_client._retries import RetryPolicy

from tests.conftest import GatewayHandle, uploads_receiving, wait_for


def test_detect_a_generated_clip(client: Client, make_clip) -> None:
    result = client.detect(make_clip(frames=30), frames=4, aggregation="mean")
    assert result.verdict in ("real", "fake", "inconclusive")
    assert 0.0 <= result.score <= 1.0
    assert result.model.name == "deepfake" and result.model.version == 1
    assert result.aggregation == "mean"
    assert result.video.width == 320 and result.frames_analyzed > 0


def test_detect_a_file_object_from_where_it_stands(client: Client, make_clip) -> None:
    clip = make_clip()
    sent: list[tuple[int, int | None]] = []
    with clip.open("rb") as file:
        result = client.detect(file, progress=lambda done, total: sent.append((done, total)))
    assert result.video.height == 240
    assert sent[-1] == (clip.stat().st_size, clip.stat().st_size)


def test_detect_with_robustness_returns_typed_copies(client: Client, make_clip) -> None:
    result = client.detect(make_clip(width=160, height=120), frames=4, robustness=True)
    probe = result.robustness
    assert probe is not None and probe.complete
    assert [t.name for t in probe.transforms] == ["crf23", "crf30", "crf38", "half", "mirror"]
    assert probe.verdict_flips == sum(t.verdict != result.verdict for t in probe.transforms)
    assert client.detect(make_clip(), frames=4).robustness is None


def test_a_url_job_asks_for_robustness_in_its_json_body() -> None:
    from deepfake_client import jobs

    spec = jobs.url_job_spec(
        "https://media.example/clip.mp4",
        callback_url=None,
        metadata=None,
        idempotency_key="k",
        options={"model_version": None, "model_label": None, "frames": None, "fps": None,
                 "aggregation": None, "explain": False, "operating_point": None,
                 "robustness": True},
    )  # fmt: skip
    assert spec.json_body == {"media_url": "https://media.example/clip.mp4", "robustness": True}


def test_models_list(client: Client) -> None:
    listing = client.models.list()
    assert listing.name == "deepfake"
    (version,) = listing.versions
    assert version.version == 1 and version.state == "AVAILABLE"
    assert version.threshold == pytest.approx(0.5)


def test_the_async_client_detects_and_lists(gateway: GatewayHandle, make_clip) -> None:
    async def run() -> tuple[str, int]:
        async with AsyncClient(
            gateway.url, api_key=gateway.api_key, ca_cert=gateway.cafile
        ) as client:
            listing, result = await asyncio.gather(
                client.models.list(), client.detect(make_clip(), frames=4)
            )
            return result.verdict, listing.versions[0].version

    verdict, version = asyncio.run(run())
    assert verdict in ("real", "fake", "inconclusive") and version == 1


def test_the_async_client_raises_the_same_typed_errors(gateway: GatewayHandle) -> None:
    async def run() -> None:
        async with AsyncClient(gateway.url, api_key="wrong", ca_cert=gateway.cafile) as client:
            await client.models.list()

    with pytest.raises(errors.InvalidApiKey):
        asyncio.run(run())


def test_settings_come_from_the_environment(
    gateway: GatewayHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEEPFAKE_URL", gateway.url)
    monkeypatch.setenv("DEEPFAKE_API_KEY", gateway.api_key)
    monkeypatch.setenv("DEEPFAKE_CA_CERT", str(gateway.cafile))
    with Client() as client:
        assert client.models.list().name == "deepfake"


def test_tls_is_verified_by_default(gateway: GatewayHandle) -> None:
    # The gateway's certificate is self-signed: without its CA file nothing trusts it.
    with (
        Client(gateway.url, api_key=gateway.api_key, max_retries=0) as client,
        pytest.raises(errors.TransportError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        client.models.list()


def test_turning_verification_off_warns(gateway: GatewayHandle) -> None:
    with pytest.warns(InsecureTransportWarning):
        client = Client(gateway.url, api_key=gateway.api_key, verify=False)
    with client:
        assert client.models.list().name == "deepfake"


def test_retry_after_is_honoured_and_backoff_is_jittered() -> None:
    policy = RetryPolicy(max_retries=3, backoff=0.5, max_delay=30.0)
    assert all(2.0 <= policy.delay(0, 2.0) <= 2.25 for _ in range(50))
    assert policy.delay(0, 120.0) is None  # longer than max_delay: left to the caller
    waits = {policy.delay(2, None) for _ in range(50)}
    assert all(0 <= w <= 2.0 for w in waits) and len(waits) > 1


def _audit_lines(gateway: GatewayHandle) -> list[dict]:
    lines = []
    for line in (gateway.var_dir / "gateway.log").read_text().splitlines():
        if '"upload_bytes"' in line or '"sha256"' in line:
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
    return lines


@pytest.fixture
def one_request_per_key(own_gateway) -> GatewayHandle:
    """A gateway that answers 429 ``rate_limited`` to a second concurrent request of a key."""
    return own_gateway(GATEWAY_MAX_IN_FLIGHT_PER_KEY="1")


def _hold_the_slot(gateway: GatewayHandle, clip: Path, seconds: float) -> threading.Thread:
    """Upload ``clip`` slowly in a thread, holding the key's one slot for ``seconds``."""
    data = clip.read_bytes()

    def body() -> Iterator[bytes]:
        yield data[:100]
        time.sleep(seconds)
        yield data[100:]

    def run() -> None:
        with gateway.client() as http:
            http.post(
                "/v1/detect",
                headers={**gateway.auth(), "Content-Type": "video/mp4"},
                content=body(),
            )

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    wait_for(lambda: uploads_receiving(gateway) >= 1, "the gateway has the request in hand")
    return thread


@pytest.mark.slow
@pytest.mark.parametrize("as_file", [True, False], ids=["file-object", "path"])
def test_a_429_is_retried_after_retry_after_with_the_whole_upload(
    one_request_per_key: GatewayHandle,
    make_clip,
    caplog: pytest.LogCaptureFixture,
    as_file: bool,
) -> None:
    gateway = one_request_per_key
    clip = make_clip(frames=30)
    holder = _hold_the_slot(gateway, make_clip("holder.mp4", seed=7), seconds=2.0)
    caplog.set_level(logging.INFO, logger="deepfake_client")
    with Client(gateway.url, api_key=gateway.api_key, ca_cert=gateway.cafile, max_retries=6) as c:
        if as_file:
            with clip.open("rb") as file:
                result = c.detect(file, frames=4)
        else:
            result = c.detect(clip, frames=4)
    holder.join(timeout=60)
    retries = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert retries and "HTTP 429" in retries[0].getMessage()
    assert result.verdict in ("real", "fake", "inconclusive")
    # The gateway saw the whole clip on the attempt that succeeded: the body was rewound.
    digest = hashlib.sha256(clip.read_bytes()).hexdigest()
    # The audit line may be written just after the answer is sent: give it a moment.
    deadline = time.monotonic() + 10
    ok = [a for a in _audit_lines(gateway) if a.get("sha256") == digest]
    while not ok and time.monotonic() < deadline:
        time.sleep(0.2)
        ok = [a for a in _audit_lines(gateway) if a.get("sha256") == digest]
    assert ok and ok[-1]["upload_bytes"] == clip.stat().st_size


@pytest.mark.slow
def test_when_retries_run_out_the_429_is_raised_with_retry_after(
    one_request_per_key: GatewayHandle, make_clip
) -> None:
    gateway = one_request_per_key
    holder = _hold_the_slot(gateway, make_clip("holder.mp4", seed=7), seconds=2.0)
    with (
        Client(gateway.url, api_key=gateway.api_key, ca_cert=gateway.cafile, max_retries=0) as c,
        pytest.raises(errors.RateLimited) as caught,
    ):
        c.detect(make_clip())
    holder.join(timeout=60)
    assert caught.value.status == 429 and caught.value.retry_after == 1


def test_connection_failures_are_retried_then_raised(caplog: pytest.LogCaptureFixture) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ConnectError("connection refused", request=request)

    caplog.set_level(logging.INFO, logger="deepfake_client")
    transport = httpx.MockTransport(handler)
    with (
        Client("https://gw.test", transport=transport, max_retries=2, backoff=0.01) as client,
        pytest.raises(errors.TransportError, match="connection refused"),
    ):
        client.models.list()
    assert len(calls) == 3


DETECTION = {
    "verdict": "real",
    "score": 0.1,
    "threshold": 0.5,
    "aggregation": "mean",
    "model": {"name": "deepfake", "version": 1},
    "frames_analyzed": 1,
    "video": {
        "duration_s": 1.0,
        "fps": 30.0,
        "width": 2,
        "height": 2,
        "rotation": 0,
        "frames_sampled": 1,
    },
    "tracks": [],
    "timeline": [],
    "timings_ms": {
        "upload": 0,
        "probe": 0,
        "decode": 0,
        "inference": 0,
        "aggregate": 0,
        "total": 0,
    },
    "request_id": "r1",
}


def test_a_503_is_retried_and_each_attempt_sends_the_whole_file(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(bytes(range(256)) * 1000)
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.read())
        if len(bodies) < 3:
            body = {"error": {"code": "serving_unavailable", "message": "later"}}
            return httpx.Response(503, json=body, headers={"Retry-After": "0"})
        return httpx.Response(200, json=DETECTION)

    transport = httpx.MockTransport(handler)
    with (
        Client("https://gw.test", transport=transport, backoff=0.01) as client,
        video.open("rb") as file,
    ):
        file.read(10)  # a file object is sent from where it stands, on every attempt
        assert client.detect(file).verdict == "real"
    assert bodies == [video.read_bytes()[10:]] * 3


def test_an_in_memory_file_is_sent_whole_with_its_length() -> None:
    import io

    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        return httpx.Response(200, json=DETECTION)

    with Client("https://gw.test", transport=httpx.MockTransport(handler)) as client:
        client.detect(io.BytesIO(b"x" * 70_000), model_label="stable", fps=2.5)
    (request,) = seen
    assert request.headers["content-length"] == "70000" and request.content == b"x" * 70_000
    assert request.headers["content-type"] == "video/mp4"
    assert dict(request.url.params) == {"model_label": "stable", "fps": "2.5"}
