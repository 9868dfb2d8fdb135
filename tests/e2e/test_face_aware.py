"""A face-aware model trained here end to end, served, and asked through the gateway."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model_export.publish import INFO_RELATIVE_PATH
from tests.conftest import start_serving
from tests.e2e.conftest import train_tiny_face_model
from tests.videos import write_clip

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def face_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Train a tiny face-aware model on generated clips and publish version 1."""
    return train_tiny_face_model(tmp_path_factory.mktemp("face-model"), "--frames", "2")


@pytest.fixture(scope="module")
def face_serving(face_model: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    handle = start_serving(face_model, tmp_path_factory.mktemp("logs") / "serving.log")
    yield handle
    handle.process.stop()


def _detect(gw, clip: Path):  # type: ignore[no-untyped-def]
    response = gw.detect(clip, params={"frames": 6})
    assert response.status_code == 200, response.text
    return response.json()


def test_two_people_give_two_tracks_with_boxes(face_model, face_serving, gateway_factory, tmp_path):
    info = json.loads((face_model / "1" / INFO_RELATIVE_PATH).read_text())
    gw = gateway_factory(face_serving.target)
    clip = write_clip(tmp_path / "two.mp4", frames=12, faces=2, width=480, height=270, seed=7)
    body = _detect(gw, clip)

    assert body["threshold"] == pytest.approx(info["threshold"], abs=1e-4)
    # Faces were found, so a verdict by score (inconclusive only when near the threshold).
    assert "no_face" not in body["reasons"]
    assert body["verdict"] != "inconclusive" or "near_threshold" in body["reasons"]
    frames_with_two = [p for p in body["timeline"] if len(p["faces"]) == 2]
    assert len(frames_with_two) >= len(body["timeline"]) - 1
    for point in frames_with_two:
        left, right = sorted(point["faces"], key=lambda f: f["box"][1])
        for face in (left, right):
            y1, x1, y2, x2 = face["box"]
            assert 0 <= y1 < y2 <= 1 and 0 <= x1 < x2 <= 1
            assert face["detection_score"] > 0.9 and 0 <= face["score"] <= 1
        assert left["box"][3] <= 0.55 and right["box"][1] >= 0.45  # one face per half
        assert left["track"] != right["track"]
    long_tracks = [t for t in body["tracks"] if len(t["frames"]) >= 4]
    assert len(long_tracks) == 2
    assert body["score"] == pytest.approx(max(t["score"] for t in long_tracks), abs=1e-3)

    # Letterboxed for Serving's batching, the boxes still land on the same faces.
    boxed = gateway_factory(face_serving.target, GATEWAY_FRAME_CANVAS="512")
    again = _detect(boxed, clip)
    for a, b in zip(body["timeline"], again["timeline"], strict=True):
        fa = sorted(a["faces"], key=lambda f: f["box"][1])
        fb = sorted(b["faces"], key=lambda f: f["box"][1])
        assert len(fa) == len(fb)
        for x, y in zip(fa, fb, strict=True):
            assert max(abs(p - q) for p, q in zip(x["box"], y["box"], strict=True)) < 0.05


def test_no_face_is_inconclusive(face_serving, gateway_factory, tmp_path):
    gw = gateway_factory(face_serving.target)
    clip = write_clip(tmp_path / "empty.mp4", frames=12, faces=0, width=320, height=240)
    body = _detect(gw, clip)
    assert body["verdict"] == "inconclusive"
    assert all(p["faces"] == [] for p in body["timeline"])
