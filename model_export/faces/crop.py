"""Face crops with a margin, cut from the frames inside the graph."""

from __future__ import annotations

import tensorflow as tf

#: Margin added on every side, as a fraction of the box's height (top, bottom) and width
#: (left, right); the DFDC winner pads each side by a third of the face size.
DEFAULT_MARGIN = 0.3


def crop_faces(
    frames: tf.Tensor,
    boxes: tf.Tensor,
    count: tf.Tensor,
    size: int,
    margin: float = DEFAULT_MARGIN,
    dtype: tf.DType = tf.float32,
) -> tf.Tensor:
    """Cut ``[N, F, size, size, 3]`` crops of the detected faces, margin included.

    Args:
        frames: uint8 RGB frames ``[N, H, W, 3]``.
        boxes: normalised ``[y1, x1, y2, x2]`` boxes ``[N, F, 4]`` (pixel / frame size).
        count: int32 ``[N]`` valid boxes per frame; slots past it come back as zeros.
        size: side of the square crops; each box is stretched to it.
        margin: fraction of the box's height and width added on each side. Parts of the
            widened box outside the frame are black.
        dtype: ``tf.float32`` (pixel values 0..255) or ``tf.uint8``.
    """
    images = tf.cast(frames, tf.float32)
    n, slots = tf.shape(boxes)[0], tf.shape(boxes)[1]
    h, w = tf.unstack(tf.cast(tf.shape(frames)[1:3], tf.float32))
    y1, x1, y2, x2 = tf.unstack(tf.cast(boxes, tf.float32), axis=-1)
    dy = (y2 - y1) * margin
    dx = (x2 - x1) * margin
    # crop_and_resize maps coordinate 1.0 to the last pixel (size - 1), not to the size.
    sy = h / tf.maximum(h - 1.0, 1.0)
    sx = w / tf.maximum(w - 1.0, 1.0)
    crop = tf.stack([(y1 - dy) * sy, (x1 - dx) * sx, (y2 + dy) * sy, (x2 + dx) * sx], axis=-1)
    frame_index = tf.repeat(tf.range(n), slots)
    crops = tf.image.crop_and_resize(images, tf.reshape(crop, [-1, 4]), frame_index, [size, size])
    crops = tf.reshape(crops, [n, slots, size, size, 3])
    filled = tf.range(slots)[None, :] < tf.cast(count, tf.int32)[:, None]
    crops = crops * tf.cast(filled, tf.float32)[:, :, None, None, None]
    if dtype == tf.uint8:
        return tf.cast(tf.clip_by_value(tf.round(crops), 0.0, 255.0), tf.uint8)
    if dtype != tf.float32:
        raise ValueError(f"crop dtype must be float32 or uint8, not {dtype!r}")
    return crops
