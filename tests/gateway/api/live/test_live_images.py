"""``/v1/live`` with JPEG frames cut from a real clip: ready, credit, rolling verdicts at
least once a second, and a summary whose receipt verifies with the SDK over the frames'
bytes; the key in the subprotocol or in the hello."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from pathlib import Path

import httpx
import pytest
from deepfake_client import verify_receipt

from tests.conftest import GatewayHandle, wait_for
from tests.gateway.api.live.client import jpeg_frames, metric, open_live
from tests.gateway.api.live.conftest import KEYS

pytestmark = pytest.mark.slow

FRAMES = 20
SCORED = 'gateway_live_frames_total{outcome="scored"}'
LATENCIES = "gateway_live_latency_seconds_count"
ENDED = 'gateway_live_closed_total{reason="end"}'
OPEN = "gateway_live_sessions"
SAMPLES = (SCORED, LATENCIES, ENDED, OPEN)


def _jwks(gateway: GatewayHandle) -> dict:
    with httpx.Client(base_url=gateway.url, verify=gateway.ssl_context()) as client:
        return client.get("/.well-known/jwks.json").json()


async def _stream(gateway: GatewayHandle, frames: list[bytes], **open_kwargs: object) -> tuple:
    client = await open_live(gateway, **open_kwargs)  # type: ignore[arg-type]
    ready = await client.until("ready")
    for frame in frames:
        await client.send_with_credit(frame)
        # A camera's pace: the frame rate the server grants (5 per second by default).
        await asyncio.sleep(0.2)
    await client.ws.send('{"type": "end"}')
    summary = await client.until("summary")
    code, _ = await client.closed()
    return client, ready, summary, code


def test_frames_of_a_real_clip_get_verdicts_and_a_verifiable_summary(
    live_gateway: GatewayHandle, face_clip: Path, tmp_path: Path
) -> None:
    frames = jpeg_frames(face_clip, FRAMES)
    before = {sample: metric(live_gateway, sample) for sample in SAMPLES}
    client, ready, summary, code = asyncio.run(
        _stream(live_gateway, frames, key=KEYS[0], hello={"type": "hello"})
    )
    after = {sample: metric(live_gateway, sample) for sample in SAMPLES}
    # /metrics counts the session: its frames scored and their latencies, its close.
    assert after[SCORED] == before[SCORED] + FRAMES
    assert after[LATENCIES] == before[LATENCIES] + FRAMES
    assert after[ENDED] == before[ENDED] + 1
    # The gauge drops as the session's handler returns, just after the client saw the close.
    wait_for(lambda: metric(live_gateway, OPEN) == 0, "no live session open", 10)
    assert ready["model"]["name"] == "deepfake" and ready["model"]["version"] == 1
    assert ready["credit"] >= 1 and ready["max_fps"] == 5 and ready["window"] == 10
    verdicts = client.of_type("verdict")
    # At least once a second, by the server's own clock (t is seconds since ready).
    times = [0.0, *(v["t"] for v in verdicts), summary["t"]]
    assert max(b - a for a, b in itertools.pairwise(times)) <= 1.0
    assert verdicts[-1]["frames_scored"] >= 1
    assert verdicts[-1]["verdict"] in ("fake", "real", "inconclusive")
    assert verdicts[-1]["frame_size"] == list(_size(frames[-1]))
    # Sent only with credit: every frame scored, none dropped.
    assert summary["frames_seen"] == FRAMES
    assert summary["frames_scored"] == FRAMES and summary["frames_dropped"] == 0
    assert summary["latency_ms"]["p95"] is not None
    assert code == 1000
    # The receipt is over the frames' bytes in order: one file of them verifies it.
    media = tmp_path / "frames.bin"
    media.write_bytes(b"".join(frames))
    assert summary["sha256"] == hashlib.sha256(media.read_bytes()).hexdigest()
    claims = verify_receipt(summary["receipt"], media, jwks=_jwks(live_gateway))
    assert claims["model"]["version"] == 1
    assert len(claims["sampling"]["frame_times_s"]) == FRAMES
    assert claims["verdict"] == summary["verdict"] and claims["score"] == summary["score"]


def _size(jpeg: bytes) -> tuple[int, int]:
    import io

    from PIL import Image

    with Image.open(io.BytesIO(jpeg)) as picture:
        return picture.size


def test_the_key_may_come_in_the_hello(live_gateway: GatewayHandle, face_clip: Path) -> None:
    frames = jpeg_frames(face_clip, 3)
    client, ready, summary, code = asyncio.run(
        _stream(live_gateway, frames, hello={"type": "hello", "api_key": KEYS[3]})
    )
    assert client.ws.subprotocol == "deepfake-live.v1"
    assert ready["type"] == "ready" and summary["frames_scored"] == 3 and code == 1000
