"""``client.live()`` against the real gateway over HTTPS: JPEG frames and a video file's
chunks scored live, the gateway's credit honoured, summaries whose receipts verify, typed
errors for a wrong key and an untrusted certificate.

The frames come from :func:`deepfake_client.camera.capture_frames` reading a labelled clip
with OpenCV: the function ``deepfake watch --camera`` reads a camera with.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from pathlib import Path

import av
import pytest
from deepfake_client import (
    AsyncClient,
    Client,
    InsecureTransportWarning,
    LiveSummary,
    LiveVerdict,
    errors,
    fetch_jwks,
    verify_receipt,
)
from deepfake_client.camera import capture_frames
from PIL import Image

from tests.clients.conftest import with_claim
from tests.clients.live_clips import FACE_CLIP, streamable
from tests.conftest import GatewayHandle

pytestmark = pytest.mark.slow

#: Frames sent in the sessions that wait for credit (at 5 a second, about 4 s).
FRAMES = 20


@pytest.fixture(scope="module")
def face_clip(shared_data: Path) -> Path:
    return shared_data / FACE_CLIP


@pytest.fixture(scope="module")
def frames(face_clip: Path) -> list[bytes]:
    """Every frame of the clip as a JPEG, read and encoded by the camera module."""
    return list(capture_frames(face_clip))


def _jwks(gateway: GatewayHandle) -> dict:
    return fetch_jwks(gateway.url, ca_cert=gateway.cafile)


def test_the_frame_source_reads_every_frame_of_a_file_as_jpeg(
    face_clip: Path, frames: list[bytes]
) -> None:
    with av.open(str(face_clip)) as clip:
        decoded = sum(1 for _ in clip.decode(video=0))
    assert len(frames) == decoded
    for frame in (frames[0], frames[-1]):
        with Image.open(io.BytesIO(frame)) as picture:
            assert picture.format == "JPEG" and picture.size == (480, 360)


def test_jpeg_frames_sent_against_credit_are_all_scored_and_the_receipt_verifies(
    client: Client, gateway: GatewayHandle, frames: list[bytes], tmp_path: Path
) -> None:
    sent = frames[:FRAMES]
    with client.live(window=5) as session:
        assert session.ready.model.name == "deepfake" and session.ready.window == 5
        for frame in sent:
            # Waits for a credit: none is dropped, and none goes without one.
            assert session.send_frame(frame, wait=None)
            assert session.frames_sent <= session.credit_granted
        summary = session.end()
    assert isinstance(summary, LiveSummary)
    assert session.close_code == 1000
    assert session.frames_sent == FRAMES and session.frames_dropped == 0
    assert summary.frames_seen == FRAMES
    assert summary.frames_scored == FRAMES and summary.frames_dropped == 0
    assert summary.verdict in ("fake", "real", "inconclusive")
    assert summary.frame_size == [480, 360]
    verdicts = session.verdicts_received
    assert verdicts and all(isinstance(v, LiveVerdict) for v in verdicts)
    assert [v.frames_seen for v in verdicts] == sorted(v.frames_seen for v in verdicts)
    # The receipt signs the frames' bytes in order: the session's hash, and a file of them.
    media = tmp_path / "frames.bin"
    media.write_bytes(b"".join(sent))
    assert summary.sha256 == session.sha256 == hashlib.sha256(media.read_bytes()).hexdigest()
    assert summary.receipt is not None
    claims = verify_receipt(summary.receipt, media, jwks=_jwks(gateway))
    assert claims["verdict"] == summary.verdict
    assert len(claims["sampling"]["frame_times_s"]) == FRAMES
    # Tampering fails offline as for an upload's receipt: a frame left out, a claim changed.
    media.write_bytes(b"".join(sent[1:]))
    with pytest.raises(errors.ReceiptVerificationError, match="sha256"):
        verify_receipt(summary.receipt, media, jwks=_jwks(gateway))
    media.write_bytes(b"".join(sent))
    other = "real" if claims["verdict"] != "real" else "fake"
    forged = with_claim(summary.receipt, "verdict", other)
    with pytest.raises(errors.ReceiptVerificationError, match="signature"):
        verify_receipt(forged, media, jwks=_jwks(gateway))


def test_frames_without_credit_are_dropped_by_the_client_not_the_gateway(
    gateway: GatewayHandle, frames: list[bytes]
) -> None:
    async def run() -> tuple[int, int, int, LiveSummary, str]:
        async with (
            AsyncClient(gateway.url, api_key=gateway.api_key, ca_cert=gateway.cafile) as client,
            client.live() as session,
        ):
            offered = 0
            for frame in frames[:40]:
                # Faster than the gateway grants (5 a second): some frames find no credit.
                await session.send_frame(frame)
                offered += 1
                assert session.frames_sent <= session.credit_granted
                await asyncio.sleep(0.02)
            summary = await session.end()
            return offered, session.frames_sent, session.frames_dropped, summary, session.sha256

    offered, sent, dropped, summary, sha256 = asyncio.run(run())
    assert dropped > 0 and sent > 0
    assert sent + dropped == offered
    # Every frame that went had a credit: the gateway saw them all and dropped none.
    assert summary.frames_seen == sent and summary.frames_dropped == 0
    assert summary.sha256 == sha256


def test_a_video_files_chunks_stream_live_and_the_receipt_verifies_against_the_file(
    gateway: GatewayHandle, face_clip: Path, tmp_path: Path
) -> None:
    video = streamable(face_clip, tmp_path / "face.mp4")

    async def run() -> tuple[list[LiveVerdict], LiveSummary, int, int, int]:
        async with (
            AsyncClient(gateway.url, api_key=gateway.api_key, ca_cert=gateway.cafile) as client,
            client.live(input="video", container="mp4") as session,
        ):

            async def send() -> int:
                try:
                    return await session.send_video(video, chunk=32 * 1024)
                finally:
                    await session.finish()

            sender = asyncio.create_task(send())
            seen = [verdict async for verdict in session]
            sent_bytes = await sender
            summary = await session.end()
            return seen, summary, sent_bytes, session.frames_sent, session.credit_granted

    seen, summary, sent_bytes, chunks, granted = asyncio.run(run())
    assert sent_bytes == video.stat().st_size
    assert chunks == -(-sent_bytes // (32 * 1024)) and chunks <= granted
    assert all(isinstance(v, LiveVerdict) for v in seen)
    assert summary.frames_seen > 0 and summary.frames_scored > 0
    assert summary.frame_size == [480, 360]
    assert summary.sha256 == hashlib.sha256(video.read_bytes()).hexdigest()
    assert summary.receipt is not None
    claims = verify_receipt(summary.receipt, video, jwks=_jwks(gateway))
    assert claims["media"]["sha256"] == summary.sha256


def test_a_wrong_key_is_refused_with_its_typed_error(gateway: GatewayHandle) -> None:
    with (
        Client(gateway.url, api_key="not-a-key", ca_cert=gateway.cafile) as client,
        pytest.raises(errors.InvalidApiKey) as refused,
    ):
        client.live().open()
    assert refused.value.code == "invalid_api_key"


def test_the_clients_tls_settings_apply(gateway: GatewayHandle, frames: list[bytes]) -> None:
    # The system trust store does not know the test gateway's certificate.
    with (
        Client(gateway.url, api_key=gateway.api_key) as client,
        pytest.raises(errors.TransportError, match="certificate"),
    ):
        client.live().open()
    with pytest.warns(InsecureTransportWarning):
        unverified = Client(gateway.url, api_key=gateway.api_key, verify=False)
    with unverified, unverified.live() as session:
        assert session.send_frame(frames[0], wait=None)
        assert session.end().frames_seen == 1
