"""MediaPipe's face mesh for self-blended masks: fetch and checksum, fallback, the real model."""

from __future__ import annotations

import hashlib
import logging
import zipfile
from pathlib import Path

import numpy as np
import pytest

from model_export.faces import face_mesh
from model_export.faces.face_mesh import (
    DEFAULT_PATH,
    MEMBER,
    POINTS,
    FaceMesh,
    fetch,
    load_face_mesh,
    square_box,
    with_mesh,
)

REPO = Path(__file__).resolve().parents[3]


def _fake_pip(payload: bytes):
    """A stand-in for ``pip download``: writes a wheel holding ``payload`` as the model."""

    def run(command: list[str], check: bool) -> None:
        assert command[1:4] == ["-m", "pip", "download"] and "--no-deps" in command
        dest = Path(command[command.index("--dest") + 1])
        with zipfile.ZipFile(dest / "mediapipe-0.10.21-cp311-none-any.whl", "w") as wheel:
            wheel.writestr(MEMBER, payload)
            wheel.writestr("mediapipe/other.tflite", b"not this one")

    return run


def test_fetch_extracts_only_the_model_and_checks_its_sha256(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = b"model bytes"
    monkeypatch.setattr(face_mesh, "FACE_MESH_SHA256", hashlib.sha256(payload).hexdigest())
    monkeypatch.setattr(face_mesh.subprocess, "run", _fake_pip(payload))
    dest = tmp_path / "face-mesh" / "face_landmark.tflite"
    assert fetch(dest) == dest and dest.read_bytes() == payload
    assert sorted(p.name for p in dest.parent.iterdir()) == ["face_landmark.tflite"]
    # A wheel whose model does not match the pin is refused, and nothing is written.
    monkeypatch.setattr(face_mesh.subprocess, "run", _fake_pip(b"tampered"))
    other = tmp_path / "other.tflite"
    with pytest.raises(RuntimeError, match="sha256"):
        fetch(other)
    assert not other.exists()


def test_a_missing_or_wrong_model_falls_back_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="model_export.faces.face_mesh")
    missing = tmp_path / "absent.tflite"
    assert load_face_mesh(missing) is None and load_face_mesh(missing) is None
    reasons = [r.reason for r in caplog.records]
    assert len(reasons) == 1 and "absent.tflite is missing" in reasons[0]
    wrong = tmp_path / "wrong.tflite"
    wrong.write_bytes(b"x")
    with pytest.raises(ValueError, match="sha256"):
        FaceMesh(wrong)
    assert load_face_mesh(wrong) is None
    assert len(caplog.records) == 2 and "sha256" in caplog.records[1].reason


def test_square_box_widens_the_shorter_side_about_the_centre() -> None:
    x1, y1, x2, y2 = square_box(np.array([10, 20, 50, 100]), margin=0.25)
    assert x2 - x1 == pytest.approx(120) and y2 - y1 == pytest.approx(120)
    assert ((x1 + x2) / 2, (y1 + y2) / 2) == pytest.approx((30, 60))


class _StubMesh:
    def __init__(self) -> None:
        self.seen = 0

    def points(self, crops: np.ndarray) -> np.ndarray:
        self.seen += len(crops)
        return np.full([len(crops), POINTS, 2], 0.5, np.float32)


def test_with_mesh_appends_points_to_faces_only() -> None:
    crops = np.zeros([3, 8, 8, 3], np.uint8)
    five = np.full([3, 5, 2], 0.4, np.float32)
    five[1] = np.nan  # a whole frame: no face
    stub = _StubMesh()
    out = with_mesh(crops, five, stub)  # type: ignore[arg-type]
    assert out.shape == (3, 5 + POINTS, 2) and stub.seen == 2
    assert np.array_equal(out[:, :5], five, equal_nan=True)
    assert np.all(out[[0, 2], 5:] == 0.5) and np.all(np.isnan(out[1, 5:]))
    assert np.all(np.isnan(with_mesh(crops, five, None)[:, 5:]))


@pytest.mark.slow
def test_real_model_finds_the_face_in_a_detected_crop(nets, astronaut: np.ndarray) -> None:
    import tensorflow as tf

    # `make test` fetches it; a missing file is a missing install step, not a reason to skip.
    assert (REPO / DEFAULT_PATH).is_file(), "run `make face-mesh` first"

    from model_export.faces import crop_faces, detect_faces
    from model_export.faces.landmarks import face_landmarks

    frames = tf.constant(astronaut[None])
    boxes, _scores, count = detect_faces(frames)
    crop = crop_faces(frames, boxes, count, 192, dtype=tf.uint8)[0, 0].numpy()
    five = face_landmarks(frames, boxes, count, 0.3, nets)[0, 0].numpy()
    points, score = FaceMesh(REPO / DEFAULT_PATH)(crop)
    assert score > 0.9 and points.shape == (POINTS, 2)
    assert np.all((points > 0.05) & (points < 0.95))
    # Mesh eye corners 33 and 263 lie beside O-Net's eye centres, on the same side.
    left, right = points[33], points[263]
    assert left[0] < five[0, 0] < five[1, 0] < right[0]
    assert abs(left[1] - five[0, 1]) < 0.08 and abs(right[1] - five[1, 1]) < 0.08
    # The nose tip (1) sits near O-Net's nose.
    assert np.hypot(*(points[1] - five[2])) < 0.08
