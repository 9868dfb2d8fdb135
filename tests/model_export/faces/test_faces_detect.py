"""detect_faces and crop_faces: agreement with the package, empty frames, crops."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from bench.face_reference import Agreement, box_iou, graph_faces, package_faces
from model_export.faces import crop_faces, detect_faces

SIGNATURE = [tf.TensorSpec([None, None, None, 3], tf.uint8)]


@pytest.fixture(scope="module")
def detect():
    """detect_faces traced once for any batch and frame size, as it is exported."""
    return tf.function(lambda frames: detect_faces(frames, max_faces=4), input_signature=SIGNATURE)


def test_portraits_match_package(detect, package_detector, astronaut, grace_hopper):
    for image in (astronaut, grace_hopper):
        frames = np.stack([image, image[:, ::-1]])  # also mirrored
        boxes, scores, count = (t.numpy() for t in detect(frames))
        ours = graph_faces(boxes, scores, count, *frames.shape[1:3])
        reference = package_faces(frames, package_detector)
        assert [len(f) for f in ours] == [len(f) for f in reference] == [1, 1]
        agreement = Agreement()
        agreement.add(reference, ours)
        assert agreement.total == 2
        # The package rounds its boxes to whole pixels; ours are the same up to that.
        assert min(agreement.ious) > 0.97
        for (_, ref_score), (_, our_score) in zip(
            (f[0] for f in reference), (f[0] for f in ours), strict=True
        ):
            assert our_score == pytest.approx(ref_score, abs=1e-4)


def test_output_layout(detect, astronaut):
    boxes, scores, count = detect(astronaut[None])
    assert boxes.shape == (1, 4, 4) and boxes.dtype == tf.float32
    assert scores.shape == (1, 4) and scores.dtype == tf.float32
    assert count.shape == (1,) and count.dtype == tf.int32
    n = int(count[0])
    assert n == 1
    y1, x1, y2, x2 = boxes[0, 0].numpy()
    assert 0.0 <= y1 < y2 <= 1.0 and 0.0 <= x1 < x2 <= 1.0
    # The astronaut's face is in the upper middle of the photograph.
    assert 0.1 < (y1 + y2) / 2 < 0.5 and 0.3 < (x1 + x2) / 2 < 0.7
    assert scores[0, 0] > 0.99
    np.testing.assert_array_equal(boxes[0, n:].numpy(), 0.0)
    np.testing.assert_array_equal(scores[0, n:].numpy(), 0.0)


def test_blank_frames_give_no_faces(detect):
    blank = np.zeros([3, 120, 160, 3], np.uint8)
    blank[1] = 255
    boxes, scores, count = detect(blank)
    assert count.numpy().tolist() == [0, 0, 0]
    assert boxes.shape == (3, 4, 4)
    assert not np.any(boxes.numpy()) and not np.any(scores.numpy())


def test_mixed_batch_keeps_faces_per_frame(detect, astronaut):
    alone, _, alone_count = detect(astronaut[None])
    assert int(alone_count[0]) == 1
    blank = np.full_like(astronaut, 128)
    frames = np.stack([blank, astronaut, blank, astronaut[:, ::-1]])
    boxes, scores, count = detect(frames)
    assert count.numpy().tolist() == [0, 1, 0, 1]
    np.testing.assert_allclose(boxes[1].numpy(), alone[0].numpy(), atol=1e-4)
    assert not np.any(boxes.numpy()[[0, 2]])
    assert scores[3, 0] > 0.99


@pytest.mark.parametrize("shape", [(1, 8, 8, 3), (2, 11, 300, 3), (0, 64, 64, 3)])
def test_frames_too_small_or_empty_batch(detect, shape):
    boxes, scores, count = detect(np.zeros(shape, np.uint8))
    assert boxes.shape == (shape[0], 4, 4) and scores.shape == (shape[0], 4)
    assert count.numpy().tolist() == [0] * shape[0]


def test_max_faces_keeps_the_most_confident(astronaut, grace_hopper):
    # Two faces side by side in one frame.
    frame = np.zeros([600, 1024, 3], np.uint8)
    frame[:512, :512] = astronaut
    frame[:, 512:] = grace_hopper
    boxes2, scores2, count2 = detect_faces(frame[None], max_faces=2)
    boxes1, scores1, count1 = detect_faces(frame[None], max_faces=1)
    assert int(count2[0]) == 2 and int(count1[0]) == 1
    assert scores2[0, 0] >= scores2[0, 1]
    np.testing.assert_allclose(boxes1[0, 0].numpy(), boxes2[0, 0].numpy())
    assert float(scores1[0, 0]) == pytest.approx(float(scores2[0, 0]))
    centres_x = (boxes2[0, :, 1] + boxes2[0, :, 3]).numpy() / 2
    assert sorted(centres_x < 0.5) == [False, True]  # one face in each half


def test_crop_faces_margin_and_padding():
    # A frame with a red square where the "face" box is, on a blue background.
    frame = np.zeros([100, 200, 3], np.uint8)
    frame[..., 2] = 255
    frame[40:60, 80:120] = [255, 0, 0]
    boxes = np.zeros([1, 3, 4], np.float32)
    boxes[0, 0] = [40 / 100, 80 / 200, 60 / 100, 120 / 200]
    boxes[0, 1] = [0.0, 0.0, 0.5, 0.5]  # beyond count: must come back as zeros
    count = np.array([1], np.int32)

    tight = crop_faces(frame[None], boxes, count, size=20, margin=0.0).numpy()
    assert tight.shape == (1, 3, 20, 20, 3) and tight.dtype == np.float32
    assert tight[0, 0, 2:-2, 2:-2, 0].min() > 200 and tight[0, 0, 2:-2, 2:-2, 2].max() < 50
    assert not np.any(tight[0, 1:])

    # margin 0.5 on each side doubles the box: red covers the middle half of the crop.
    wide = crop_faces(frame[None], boxes, count, size=40, margin=0.5, dtype=tf.uint8).numpy()
    assert wide.dtype == np.uint8
    red = (wide[0, 0, ..., 0] > 128) & (wide[0, 0, ..., 2] < 128)
    rows, cols = np.flatnonzero(red.any(axis=1)), np.flatnonzero(red.any(axis=0))
    assert abs(rows[0] - 10) <= 1 and abs(rows[-1] - 29) <= 1
    assert abs(cols[0] - 10) <= 1 and abs(cols[-1] - 29) <= 1

    # A widened box past the frame's edge is filled with black, not stretched.
    boxes[0, 0] = [0.0, 0.0, 0.2, 0.1]
    edge = crop_faces(frame[None], boxes, count, size=30, margin=0.5).numpy()
    assert edge[0, 0, :5, :5].max() == 0.0 and edge[0, 0, -5:, -5:, 2].min() > 200


def test_crops_of_detected_faces(detect, astronaut):
    boxes, _, count = detect(astronaut[None])
    crops = crop_faces(astronaut[None], boxes, count, size=64, dtype=tf.uint8).numpy()
    assert crops.shape == (1, 4, 64, 64, 3)
    assert crops[0, 0].std() > 20  # real image content
    assert not np.any(crops[0, 1:])
    # The crop's centre is the face's centre: same pixels as a manual crop there.
    y1, x1, y2, x2 = boxes[0, 0].numpy() * [512, 512, 512, 512]
    cy, cx = int((y1 + y2) / 2), int((x1 + x2) / 2)
    assert np.abs(crops[0, 0, 32, 32].astype(int) - astronaut[cy, cx].astype(int)).max() < 40


def test_box_iou_helper():
    a = np.array([[0.0, 0.0, 10.0, 10.0]])
    b = np.array([[5.0, 0.0, 15.0, 10.0], [20.0, 20.0, 30.0, 30.0]])
    np.testing.assert_allclose(box_iou(a, b), [[50 / 150, 0.0]])


def test_crop_faces_of_empty_batch():
    crops = crop_faces(np.zeros([0, 32, 32, 3], np.uint8), np.zeros([0, 4, 4]), [], size=16)
    assert crops.shape == (0, 4, 16, 16, 3)


@pytest.mark.slow
def test_first_use_inside_a_trace_loads_the_weights(tmp_path):
    """A fresh process whose first call is inside tf.function still gets the real weights."""
    script = tmp_path / "first_use.py"
    script.write_text(
        "import tensorflow as tf\n"
        "from skimage.data import astronaut\n"
        "from model_export.faces import detect_faces\n"
        "spec = [tf.TensorSpec([None, None, None, 3], tf.uint8)]\n"
        "fn = tf.function(lambda f: detect_faces(f), input_signature=spec)\n"
        "print(int(fn(astronaut()[None])[2][0]))\n"
    )
    repo = Path(__file__).resolve().parents[3]
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "1"
