"""Augmentation of training faces."""

from __future__ import annotations

import numpy as np
import skimage.data
import tensorflow as tf

from model_export.augment import augment_image


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
