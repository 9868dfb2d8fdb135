"""``/v1/live`` against a face-aware version on the keyframe schedule
(``GATEWAY_FACE_DETECT_EVERY=2``: ``detect_faces`` on every other frame of a batch,
``classify_boxes`` on all): two face photographs give two tracks whose ids hold for the
whole stream, with boxes in the received frame's pixels."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from model_export.face_export import publish_face_version
from tests.conftest import MODEL_NAME, GatewayHandle, start_gateway, start_serving
from tests.gateway.api.live.client import encode, open_live
from tests.tiny_model import tiny_cnn
from tests.videos import face_frames

pytestmark = pytest.mark.slow

WIDTH, HEIGHT, FRAMES = 480, 270, 12


@pytest.fixture(scope="module")
def face_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayHandle]:
    base = tmp_path_factory.mktemp("face-models")
    publish_face_version(
        tiny_cnn((32, 32), seed=3), base, MODEL_NAME, threshold=0.5, input_size=(32, 32)
    )
    serving = start_serving(base / MODEL_NAME, tmp_path_factory.mktemp("logs") / "serving.log")
    try:
        env = {"GATEWAY_API_KEYS": "faces", "GATEWAY_FACE_DETECT_EVERY": "2"}
        handle = start_gateway(tmp_path_factory.mktemp("gateway-var"), serving.target, env)
        handle.api_key = "faces"
        try:
            yield handle
        finally:
            handle.process.stop()
    finally:
        serving.process.stop()


def test_two_faces_are_two_tracks_with_stable_ids_and_pixel_boxes(
    face_gateway: GatewayHandle,
) -> None:
    frames = [encode(f) for f in face_frames(FRAMES, WIDTH, HEIGHT, faces=2, seed=7)]

    async def run() -> tuple[list[dict], dict]:
        client = await open_live(face_gateway, key="faces", hello={"type": "hello"})
        await client.until("ready")
        for frame in frames:
            await client.send_with_credit(frame)
            await asyncio.sleep(0.2)
        await client.ws.send('{"type": "end"}')
        summary = await client.until("summary")
        await client.closed()
        return client.of_type("verdict"), summary

    verdicts, summary = asyncio.run(run())
    assert summary["frames_scored"] == FRAMES
    scored = [v for v in verdicts if v["frames_scored"] > 0]
    assert scored, "no verdict after a frame was scored"
    for verdict in (*scored, summary):
        tracks = sorted(verdict["tracks"], key=lambda t: t["id"])
        # The two photographs, left and right, keep ids 0 and 1 from first verdict to last.
        assert [t["id"] for t in tracks] == [0, 1]
        assert verdict["frame_size"] == [WIDTH, HEIGHT]
    last = summary["tracks"]
    boxes = {t["id"]: t["box"] for t in last}
    for box in boxes.values():
        x0, y0, x1, y1 = box
        assert 0 <= x0 < x1 <= WIDTH and 0 <= y0 < y1 <= HEIGHT
    # Track 0 is the left face, track 1 the right one.
    assert boxes[0][2] <= WIDTH / 2 + 10 and boxes[1][0] >= WIDTH / 2 - 10
    assert {f["track"] for f in summary["faces"]} == {0, 1}
    assert all(t["frames"] == FRAMES for t in last)
