"""The keyframe schedule: which frames are detected on and the boxes of the frames between."""

from __future__ import annotations

import numpy as np
import pytest

from contract.face_schedule import (
    Faces,
    between,
    detect_shape,
    keyframes,
    match,
    padded,
    schedule,
)


def faces(*rows: tuple[list[float], float]) -> Faces:
    return Faces(
        np.asarray([r[0] for r in rows], np.float32).reshape(-1, 4),
        np.asarray([r[1] for r in rows], np.float32),
    )


LEFT = [0.2, 0.1, 0.6, 0.4]
RIGHT = [0.2, 0.6, 0.6, 0.9]


def test_keyframes_always_end_on_the_last_frame() -> None:
    assert keyframes(32, 1) == list(range(32))
    assert keyframes(32, 4) == [0, 4, 8, 12, 16, 20, 24, 28, 31]
    assert keyframes(9, 4) == [0, 4, 8]
    assert keyframes(1, 8) == [0]
    assert keyframes(0, 4) == []
    with pytest.raises(ValueError):
        keyframes(5, 0)


def test_detect_shape_keeps_aspect_and_never_upscales() -> None:
    assert detect_shape(720, 1280, 360) == (360, 640)
    assert detect_shape(1280, 720, 480) == (853, 480)
    assert detect_shape(240, 320, 360) == (240, 320)
    assert detect_shape(720, 1280, 0) == (720, 1280)


def test_matching_is_greedy_by_overlap_and_one_to_one() -> None:
    moved = [v + 0.05 for v in LEFT]
    a = faces((LEFT, 0.99), (RIGHT, 0.95))
    b = faces((RIGHT, 0.97), (moved, 0.9))
    assert match(a, b) == [(0, 1), (1, 0)]
    far = faces(([0.7, 0.7, 0.8, 0.8], 0.9))
    assert match(a, far) == []
    assert match(faces(), b) == []


def test_matched_faces_are_interpolated_in_sample_index() -> None:
    end = [v + 0.1 for v in LEFT]
    a, b = faces((LEFT, 0.9)), faces((end, 0.8))
    mid = between(a, b, 4)
    assert len(mid) == 3
    for step, frame in enumerate(mid, start=1):
        assert frame.count == 1
        np.testing.assert_allclose(frame.boxes[0], np.asarray(LEFT) + 0.1 * step / 4, atol=1e-6)
    # The score of the nearer keyframe (a's at the midpoint).
    assert [round(float(f.scores[0]), 2) for f in mid] == [0.9, 0.9, 0.8]


def test_a_face_seen_at_one_keyframe_only_is_held_near_it() -> None:
    a = faces((LEFT, 0.9), (RIGHT, 0.99))
    b = faces((LEFT, 0.95))
    mid = between(a, b, 5)
    counts = [f.count for f in mid]
    assert counts == [2, 2, 1, 1]  # steps 1, 2 near a; 3, 4 near b
    np.testing.assert_allclose(mid[0].boxes[0], RIGHT)  # most confident first
    assert mid[0].scores.tolist() == pytest.approx([0.99, 0.9])
    appears = between(faces(), faces((RIGHT, 0.9)), 3)
    assert [f.count for f in appears] == [0, 1]
    assert between(a, b, 1) == []


def test_schedule_with_every_frame_is_the_detection_itself() -> None:
    rng = np.random.default_rng(0)
    detections = {
        i: faces(*[(sorted(rng.random(4).tolist()), float(s)) for s in rng.random(i % 3)])
        for i in range(7)
    }
    out = schedule(7, 1, detections)
    assert all(o is detections[i] for i, o in enumerate(out))


def test_schedule_fills_every_frame_from_the_keyframes() -> None:
    end = [v + 0.1 for v in LEFT]
    detections = {0: faces((LEFT, 0.9)), 4: faces((end, 0.9)), 6: faces((end, 0.9))}
    out = schedule(7, 4, detections)
    assert len(out) == 7 and all(f.count == 1 for f in out)
    np.testing.assert_allclose(out[2].boxes[0], np.asarray(LEFT) + 0.05, atol=1e-6)
    np.testing.assert_allclose(out[5].boxes[0], end)
    with pytest.raises(ValueError, match="no detection"):
        schedule(7, 4, {0: faces()})


def test_padded_is_what_a_detector_answers() -> None:
    boxes, scores, count = padded([faces((LEFT, 0.9), (RIGHT, 0.8)), faces()], slots=1)
    assert boxes.shape == (2, 1, 4) and count.tolist() == [1, 0]
    np.testing.assert_allclose(boxes[0, 0], LEFT)
    assert scores.tolist() == [[pytest.approx(0.9)], [0.0]]
    again = Faces.of(boxes[0], scores[0], count[0])
    assert again.count == 1
