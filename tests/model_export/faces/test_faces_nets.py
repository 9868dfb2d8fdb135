"""The Keras nets, pyramid and suppression reproduce the mtcnn package exactly."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from mtcnn.utils.bboxes import smart_nms_from_bboxes
from mtcnn.utils.images import build_scale_pyramid

from model_export.faces import boxes as bx
from model_export.faces.detector import pyramid_scales


@pytest.mark.parametrize(
    ("stage", "shape"),
    [(0, (2, 37, 53, 3)), (1, (5, 24, 24, 3)), (2, (5, 48, 48, 3))],
    ids=["pnet", "rnet", "onet"],
)
def test_nets_equal_package_models(nets, package_detector, stage, shape):
    """Same weights, same layout (incl. the H/W swap before flatten): identical outputs."""
    rng = np.random.default_rng(stage)
    x = rng.normal(size=shape).astype(np.float32)
    ours = nets[stage](x)
    theirs = package_detector.stages[stage].model(x)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)


@pytest.mark.parametrize("size", [(512, 512), (480, 640), (1080, 1920), (1920, 1080), (40, 30)])
@pytest.mark.parametrize(("min_face", "factor"), [(20, 0.709), (40, 0.8)])
def test_pyramid_scales_equal_package(size, min_face, factor):
    h, w = size
    expected = build_scale_pyramid(w, h, min_face_size=min_face, scale_factor=factor)
    expected = expected[np.floor(min(h, w) * expected) >= 12]
    got = pyramid_scales(tf.constant(h), tf.constant(w), float(min_face), factor).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_pyramid_of_tiny_frame_is_empty():
    assert pyramid_scales(tf.constant(11), tf.constant(500), 20.0, 0.709).shape == (0,)


def _random_boxes(rng: np.random.Generator, count: int) -> np.ndarray:
    centre = rng.uniform(0, 100, size=(count, 2))
    size = rng.uniform(5, 40, size=(count, 2))
    return np.concatenate([centre - size / 2, centre + size / 2], axis=1)


@pytest.mark.parametrize("mode", ["union", "min"])
@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_suppress_equals_package_nms(mode, threshold):
    """Batched dense suppression keeps exactly the boxes the package keeps, frame by frame."""
    rng = np.random.default_rng(7)
    frames, per_frame = 3, 60
    boxes = np.stack([_random_boxes(rng, per_frame) for _ in range(frames)])
    scores = np.sort(rng.uniform(0.5, 1.0, size=(frames, per_frame)), axis=1)[:, ::-1]
    valid = np.ones((frames, per_frame), bool)
    valid[2, 40:] = False  # a shorter frame padded to the batch width

    keep = bx.suppress(tf.constant(boxes, tf.float32), tf.constant(valid), threshold, mode)
    keep = keep.numpy()

    for n in range(frames):
        rows = np.flatnonzero(valid[n])
        table = np.column_stack([np.full(len(rows), n), boxes[n, rows], scores[n, rows]])
        kept = smart_nms_from_bboxes(table, threshold=threshold, method=mode, initial_sort=True)
        expected = {tuple(np.round(r[1:5], 4)) for r in kept}
        got = {tuple(np.round(b, 4)) for b in boxes[n, keep[n]]}
        assert got == expected
        assert 0 < len(got) < len(rows)  # the case actually suppresses something


def test_square_and_regress_follow_package():
    box = tf.constant([[[10.0, 20.0, 30.0, 60.0]]])
    np.testing.assert_allclose(bx.square(box).numpy(), [[[0.0, 20.0, 40.0, 60.0]]])
    offsets = tf.constant([[[0.1, -0.1, 0.0, 0.5]]])
    # sizes are x2 - x1 + 1 = 21 and y2 - y1 + 1 = 41
    np.testing.assert_allclose(
        bx.regress(box, offsets).numpy(), [[[12.1, 15.9, 30.0, 80.5]]], rtol=1e-6
    )


def test_suppress_is_not_greedy():
    """A dropped box still suppresses lower ones, as in the package (greedy NMS keeps C)."""
    a = [0.0, 0.0, 10.0, 10.0]
    b = [3.0, 0.0, 13.0, 10.0]  # IoU(a, b) = 7/13
    c = [6.0, 0.0, 16.0, 10.0]  # IoU(b, c) = 7/13, IoU(a, c) = 4/16
    keep = bx.suppress(tf.constant([[a, b, c]]), tf.constant([[True, True, True]]), 0.5, "union")
    assert keep.numpy().tolist() == [[True, False, False]]
