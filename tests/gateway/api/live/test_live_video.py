"""``/v1/live`` with ``input: "video"``: a real clip re-encoded as WebM and as fragmented
MP4 with PyAV, streamed as chunks under credit; the summary's receipt is over the file's own
bytes, so the SDK verifies it against the file. A stream PyAV cannot read is closed 4415."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from fractions import Fraction
from pathlib import Path

import av
import httpx
import pytest
from deepfake_client import verify_receipt
from websockets.exceptions import ConnectionClosed

from tests.conftest import GatewayHandle
from tests.gateway.api.live.client import open_live
from tests.gateway.api.live.conftest import KEYS

pytestmark = pytest.mark.slow

FPS, SECONDS = 15, 3
CHUNK = 16 * 1024


def _reencode(source: Path, path: Path, fmt: str, codec: str, **options: str) -> int:
    """The first seconds of ``source`` at 320x240 in ``fmt``; how many frames it holds."""
    count = 0
    with av.open(str(source)) as src, av.open(str(path), "w", format=fmt, options=options) as out:
        stream = out.add_stream(codec, rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.codec_context.time_base = Fraction(1, FPS)
        for frame in src.decode(video=0):
            picture = frame.reformat(width=320, height=240, format="yuv420p")
            picture.pts, picture.time_base = count, Fraction(1, FPS)
            out.mux(stream.encode(picture))
            count += 1
            if count == FPS * SECONDS:
                break
        out.mux(stream.encode())
    return count


def _stream(gateway: GatewayHandle, media: Path, container: str) -> tuple[dict, dict, int | None]:
    data = media.read_bytes()

    async def run() -> tuple[dict, dict, int | None]:
        hello = {"type": "hello", "input": "video", "container": container}
        client = await open_live(gateway, key=KEYS[0], hello=hello)
        ready = await client.until("ready")
        for start in range(0, len(data), CHUNK):
            await client.send_with_credit(data[start : start + CHUNK])
        await client.ws.send('{"type": "end"}')
        summary = await client.until("summary")
        return ready, summary, (await client.closed())[0]

    return asyncio.run(run())


def _jwks(gateway: GatewayHandle) -> dict:
    with httpx.Client(base_url=gateway.url, verify=gateway.ssl_context()) as client:
        return client.get("/.well-known/jwks.json").json()


@pytest.mark.parametrize(
    ("fmt", "codec", "container", "options"),
    [
        ("webm", "libvpx", "webm", {}),
        ("mp4", "libx264", "mp4", {"movflags": "frag_keyframe+empty_moov"}),
    ],
    ids=["webm", "fragmented-mp4"],
)
def test_a_streamed_clip_is_scored_and_its_receipt_verifies_against_the_file(
    live_gateway: GatewayHandle,
    face_clip: Path,
    tmp_path: Path,
    fmt: str,
    codec: str,
    container: str,
    options: dict[str, str],
) -> None:
    media = tmp_path / f"clip.{fmt}"
    frames = _reencode(face_clip, media, fmt, codec, **options)
    ready, summary, code = _stream(live_gateway, media, container)
    assert ready["credit"] >= 1 and code == 1000
    # Every frame decoded; at most 5 per second of stream time scored, the rest dropped.
    assert summary["frames_seen"] == frames, summary
    assert 1 <= summary["frames_scored"] <= 5 * SECONDS + 1
    assert summary["frames_scored"] + summary["frames_dropped"] == frames
    assert summary["frame_size"] == [320, 240]
    assert summary["sha256"] == hashlib.sha256(media.read_bytes()).hexdigest()
    claims = verify_receipt(summary["receipt"], media, jwks=_jwks(live_gateway))
    times = claims["sampling"]["frame_times_s"]
    # Stream time: the scored frames lie within the clip, in order.
    assert times == sorted(times) and times[0] >= 0 and times[-1] < SECONDS


def test_a_stream_pyav_cannot_read_is_closed_with_4415(live_gateway: GatewayHandle) -> None:
    async def run() -> tuple[dict, int | None]:
        hello = {"type": "hello", "input": "video", "container": "webm"}
        client = await open_live(live_gateway, key=KEYS[0], hello=hello)
        await client.until("ready")
        await client.send_with_credit(b"this is no matroska header " * 100)
        # The demuxer may want more bytes before it gives up: the end tells it there are none
        # (unless the close came first).
        with contextlib.suppress(ConnectionClosed):
            await client.ws.send('{"type": "end"}')
        error = await client.until("error")
        return error, (await client.closed())[0]

    error, code = asyncio.run(run())
    assert error["code"] == "invalid_video" and code == 4415
