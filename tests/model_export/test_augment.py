"""Augmentation and self-blended pseudo-fakes."""

from __future__ import annotations

import numpy as np
import skimage.data
import tensorflow as tf

from model_export.augment import add_self_blended, augment_image


def _face() -> np.ndarray:
    return np.ascontiguousarray(skimage.data.astronaut()[30:222, 130:322])


def test_augment_keeps_shape_and_varies_with_seed() -> None:
    face = _face()
    a = augment_image(tf.constant(face), tf.constant([1, 2], tf.int64)).numpy()
    b = augment_image(tf.constant(face), tf.constant([1, 2], tf.int64)).numpy()
    c = augment_image(tf.constant(face), tf.constant([3, 4], tf.int64)).numpy()
    assert a.shape == face.shape and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - c).mean() > 1.0


def test_self_blend_adds_one_fake_per_real() -> None:
    face = _face()
    images = np.stack([face, face[:, ::-1], face])
    labels = np.array([0.0, 0.0, 1.0], np.float32)
    out, out_labels = add_self_blended(images, labels, seed=0)
    assert out.shape == (5, *face.shape)
    assert out_labels.tolist() == [0, 0, 1, 1, 1]
    diff = np.abs(out[3].astype(float) - images[0]).mean(axis=2)
    # The blend changes the face (centre), not the crop's border.
    assert diff[70:120, 70:120].mean() > 3 * max(diff[:10].mean(), 0.5)
