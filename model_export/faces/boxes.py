"""Batched box arithmetic for MTCNN, on padded ``[N, K, ...]`` layouts with a validity mask.

Boxes are pixel ``[x1, y1, x2, y2]`` (the order the ``mtcnn`` package computes in) until
the detector converts them to normalised ``[y1, x1, y2, x2]`` at the very end.
"""

from __future__ import annotations

import tensorflow as tf


def regress(boxes: tf.Tensor, offsets: tf.Tensor) -> tf.Tensor:
    """Shift box corners by ``offsets`` (``[dx1, dy1, dx2, dy2]``) times the box size.

    As the package's ``adjust_bboxes``: sizes are ``x2 - x1 + 1`` and ``y2 - y1 + 1``.
    """
    x1, y1, x2, y2 = tf.unstack(boxes, axis=-1)
    w = x2 - x1 + 1.0
    h = y2 - y1 + 1.0
    return boxes + offsets * tf.stack([w, h, w, h], axis=-1)


def square(boxes: tf.Tensor) -> tf.Tensor:
    """Grow each box to a square on its longer side, keeping the centre (MTCNN's ``rerec``)."""
    x1, y1, x2, y2 = tf.unstack(boxes, axis=-1)
    w = x2 - x1
    h = y2 - y1
    side = tf.maximum(w, h)
    nx1 = x1 + 0.5 * (w - side)
    ny1 = y1 + 0.5 * (h - side)
    return tf.stack([nx1, ny1, nx1 + side, ny1 + side], axis=-1)


def overlap(boxes: tf.Tensor, mode: str) -> tf.Tensor:
    """Pairwise overlap ``[N, K, K]``: intersection over union, or over the smaller box.

    ``mode`` is ``"union"`` (IoU) or ``"min"`` (what MTCNN's last stage uses, so that a
    small box inside a larger one counts as a duplicate).
    """
    x1, y1, x2, y2 = tf.unstack(boxes, axis=-1)
    area = (x2 - x1) * (y2 - y1)
    iw = tf.maximum(
        0.0, tf.minimum(x2[:, :, None], x2[:, None, :]) - tf.maximum(x1[:, :, None], x1[:, None, :])
    )
    ih = tf.maximum(
        0.0, tf.minimum(y2[:, :, None], y2[:, None, :]) - tf.maximum(y1[:, :, None], y1[:, None, :])
    )
    inter = iw * ih
    if mode == "union":
        denominator = area[:, :, None] + area[:, None, :] - inter
    elif mode == "min":
        denominator = tf.minimum(area[:, :, None], area[:, None, :])
    else:
        raise ValueError(f"unknown overlap mode {mode!r}")
    # A degenerate pair (zero denominator) gives NaN, which compares False: never suppressed,
    # as in the package.
    return inter / denominator


def suppress(boxes: tf.Tensor, valid: tf.Tensor, threshold: float, mode: str) -> tf.Tensor:
    """Keep-mask of MTCNN's suppression on boxes sorted by descending score.

    Not greedy NMS: the ``mtcnn`` package drops box ``j`` when *any* higher-ranked valid box
    overlaps it above ``threshold``, even one that was itself dropped (``utils/bboxes.py``,
    ``nms``). The dense ``[N, K, K]`` form reproduces that exactly and runs batched.
    """
    k = tf.shape(boxes)[1]
    rank = tf.range(k)
    earlier = rank[:, None] < rank[None, :]
    hits = (overlap(boxes, mode) > threshold) & earlier[None] & valid[:, :, None]
    return valid & ~tf.reduce_any(hits, axis=1)


def compact(
    boxes: tf.Tensor, scores: tf.Tensor, valid: tf.Tensor, limit: int | tf.Tensor | None = None
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Sort each row by descending score, valid entries first, and trim the padding.

    The new width is the largest number of valid entries in any row (at least one, so
    that no later op sees an empty axis), capped at ``limit``.
    """
    width = tf.shape(scores)[1]
    most = tf.reduce_max(tf.reduce_sum(tf.cast(valid, tf.int32), axis=1))
    k = tf.maximum(most, 1) if limit is None else tf.maximum(tf.minimum(most, limit), 1)
    k = tf.minimum(k, width)
    _, order = tf.math.top_k(tf.where(valid, scores, -1.0), k)
    return (
        tf.gather(boxes, order, batch_dims=1),
        tf.gather(scores, order, batch_dims=1),
        tf.gather(valid, order, batch_dims=1),
    )


def pad_to(
    boxes: tf.Tensor, scores: tf.Tensor, valid: tf.Tensor, width: int
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Pad the entry axis with invalid entries up to at least ``width``."""
    extra = tf.maximum(width - tf.shape(scores)[1], 0)
    return (
        tf.pad(boxes, [[0, 0], [0, extra], [0, 0]]),
        tf.pad(scores, [[0, 0], [0, extra]]),
        tf.pad(valid, [[0, 0], [0, extra]]),
    )
