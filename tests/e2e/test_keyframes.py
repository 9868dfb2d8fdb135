"""The keyframe schedule end to end: real gateway, real Serving, a real face-aware SavedModel,
real encoded video; and the fallback for a version without ``detect_faces``."""

from __future__ import annotations

from pathlib import Path

import pytest

from contract.tracks import iou
from model_export.face_export import FaceConfig, publish_face_version
from tests.conftest import MODEL_NAME, start_serving
from tests.tiny_model import tiny_cnn
from tests.videos import write_clip

pytestmark = pytest.mark.slow

FRAMES = 12  # keyframes 0, 4, 8 and 11 with GATEWAY_FACE_DETECT_EVERY=4


@pytest.fixture(scope="module")
def face_serving(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Serving with an untrained tiny CNN published face-aware (so with the new signatures)."""
    base = tmp_path_factory.mktemp("keyframe-models")
    publish_face_version(
        tiny_cnn((32, 32), seed=7), base, MODEL_NAME, threshold=0.5, input_size=(32, 32),
        faces=FaceConfig(max_faces=2),
    )  # fmt: skip
    handle = start_serving(base / MODEL_NAME, tmp_path_factory.mktemp("logs") / "serving.log")
    yield handle
    handle.process.stop()


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two moving faces over a moving pattern, 2 s of 480x270 H.264."""
    root = tmp_path_factory.mktemp("clips")
    return write_clip(root / "two.mp4", frames=60, faces=2, width=480, height=270, seed=3)


def _detect(gw, clip: Path) -> dict:  # type: ignore[no-untyped-def]
    response = gw.detect(clip, params={"frames": FRAMES})
    assert response.status_code == 200, response.text
    return response.json()


def test_every_fourth_frame_detected_gives_boxes_everywhere_and_the_same_score(
    face_serving, gateway_factory, clip
) -> None:
    every = _detect(gateway_factory(face_serving.target, GATEWAY_FACE_DETECT_EVERY="1"), clip)
    # Batches of 5 frames: frames wait across batches for the keyframe after them (8, 11).
    keyed_gw = gateway_factory(
        face_serving.target, GATEWAY_FACE_DETECT_EVERY="4", GATEWAY_BATCH_SIZE="5"
    )
    keyed = _detect(keyed_gw, clip)

    assert len(keyed["timeline"]) == len(every["timeline"]) == FRAMES
    with_faces = [i for i, p in enumerate(every["timeline"]) if p["faces"]]
    assert len(with_faces) >= FRAMES - 1
    keyframe_scores = {
        round(f["detection_score"], 4) for i in (0, 4, 8, 11) for f in keyed["timeline"][i]["faces"]
    }
    for i in with_faces:
        reference, scheduled = every["timeline"][i]["faces"], keyed["timeline"][i]["faces"]
        assert len(scheduled) == len(reference), i
        for face in reference:
            assert max(iou(face["box"], s["box"]) for s in scheduled) >= 0.5, i
        # Between keyframes a face reports the detection score of the keyframe it came from.
        assert {round(s["detection_score"], 4) for s in scheduled} <= keyframe_scores
    # Keyframes are detected on as before: the same boxes there.
    for i in (0, 4, 8, 11):
        for a, b in zip(
            sorted(every["timeline"][i]["faces"], key=lambda f: f["box"][1]),
            sorted(keyed["timeline"][i]["faces"], key=lambda f: f["box"][1]),
            strict=True,
        ):
            assert max(abs(p - q) for p, q in zip(a["box"], b["box"], strict=True)) < 1e-3
    assert keyed["score"] == pytest.approx(every["score"], abs=0.05)
    assert keyed["verdict"] == every["verdict"]
    assert len(keyed["tracks"]) == len(every["tracks"])

    with keyed_gw.client() as client:
        metrics = client.get("/metrics").text
    assert 'gateway_stage_seconds_count{stage="detect"} 1.0' in metrics.splitlines()


def test_detection_on_downscaled_keyframes(face_serving, gateway_factory, clip) -> None:
    every = _detect(gateway_factory(face_serving.target, GATEWAY_FACE_DETECT_EVERY="1"), clip)
    small = _detect(
        gateway_factory(
            face_serving.target, GATEWAY_FACE_DETECT_EVERY="1", GATEWAY_FACE_DETECT_SIDE="200"
        ),
        clip,
    )
    for a, b in zip(every["timeline"], small["timeline"], strict=True):
        assert len(a["faces"]) == len(b["faces"])
        for face in a["faces"]:
            assert max(iou(face["box"], s["box"]) for s in b["faces"]) >= 0.7


def test_a_version_without_detect_faces_is_scored_as_before(
    serving, gateway_factory, tmp_path
) -> None:
    """The whole-frame tiny version has no detect_faces: serving_default scores every frame,
    for the first video (which asks) and the next (which knows)."""
    clip = write_clip(tmp_path / "plain.mp4", frames=30, width=320, height=240)
    plain = _detect(gateway_factory(serving.target, GATEWAY_FACE_DETECT_EVERY="1"), clip)
    keyed_gw = gateway_factory(serving.target, GATEWAY_FACE_DETECT_EVERY="4")
    for _ in range(2):
        body = _detect(keyed_gw, clip)
        assert body["score"] == pytest.approx(plain["score"], abs=1e-6)
        assert [p["score"] for p in body["timeline"]] == [p["score"] for p in plain["timeline"]]
    with keyed_gw.client() as client:
        metrics = client.get("/metrics").text
    assert 'stage="detect"' not in metrics
