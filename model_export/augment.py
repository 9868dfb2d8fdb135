"""Training-time augmentation of face crops.

Augmentations cover what uploads do to faces: mirror, small head tilt, colour and exposure
shifts, JPEG re-compression, blur and down-scaling. Self-blended pseudo-fakes are
:mod:`model_export.self_blend`.
"""

from __future__ import annotations

import math

import tensorflow as tf


def _rotate(image: tf.Tensor, max_degrees: float, seed: tf.Tensor) -> tf.Tensor:
    angle = tf.random.stateless_uniform([], seed, -max_degrees, max_degrees) * math.pi / 180
    size = tf.cast(tf.shape(image)[:2], tf.float32)
    cos, sin = tf.cos(angle), tf.sin(angle)
    cy, cx = size[0] / 2, size[1] / 2
    # Projective transform mapping output to input pixels, rotation about the centre.
    transform = tf.stack([cos, -sin, cx - cos * cx + sin * cy,
                          sin, cos, cy - sin * cx - cos * cy, 0.0, 0.0])  # fmt: skip
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None], transforms=transform[None], output_shape=tf.shape(image)[:2],
        interpolation="BILINEAR", fill_mode="REFLECT", fill_value=0.0,
    )  # fmt: skip
    return out[0]


def augment_image(image: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Augment one uint8 RGB image ``[H, W, 3]``; returns uint8 of the same size."""
    seeds = tf.random.experimental.stateless_split(seed, 8)
    x = tf.image.convert_image_dtype(image, tf.float32)
    x = tf.image.stateless_random_flip_left_right(x, seeds[0])
    x = _rotate(x, 8.0, seeds[1])
    x = tf.image.stateless_random_brightness(x, 0.1, seeds[2])
    x = tf.image.stateless_random_contrast(x, 0.8, 1.2, seeds[3])
    x = tf.image.stateless_random_saturation(x, 0.8, 1.2, seeds[4])
    u = tf.random.stateless_uniform([3], seeds[5])
    size = tf.shape(x)[:2]

    def blur(img: tf.Tensor) -> tf.Tensor:
        return tf.nn.avg_pool2d(img[None], 3, 1, "SAME")[0]

    def downscale(img: tf.Tensor) -> tf.Tensor:
        small = tf.cast(tf.cast(size, tf.float32) * 0.5, tf.int32)
        return tf.image.resize(tf.image.resize(img, small, antialias=True), size)

    x = tf.cond(u[0] < 0.2, lambda: blur(x), lambda: x)
    x = tf.cond(u[1] < 0.2, lambda: downscale(x), lambda: x)
    x = tf.clip_by_value(x, 0.0, 1.0)
    x = tf.cond(
        u[2] < 0.5,
        lambda: tf.image.stateless_random_jpeg_quality(x, 40, 95, seeds[6]),
        lambda: x,
    )
    return tf.image.convert_image_dtype(tf.reshape(x, tf.shape(image)), tf.uint8, saturate=True)
