"""MTCNN face detection as one batched TensorFlow graph, exportable in a SavedModel.

Reproduces the ``mtcnn`` package (1.0.0) stage by stage so that its boxes match: the image
pyramid and the P-Net window geometry of ``build_scale_pyramid`` / ``generate_bounding_box``,
its normalisation, its box regression and squaring, and its suppression rule (see
:func:`model_export.faces.boxes.suppress`). Everything runs on the whole batch at once, with
padded ``[N, K]`` layouts and validity masks instead of per-image Python loops, so that TF
Serving runs it as part of a model.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from model_export.faces import boxes as bx
from model_export.faces.nets import MtcnnNets

#: P-Net scans 12x12 windows with a stride of 2 pixels at each pyramid level.
_CELL = 12
_STRIDE = 2
#: At most this many P-Net windows per frame and pyramid level enter suppression (the best
#: ones); bounds the [K, K] overlap matrix on cluttered frames.
PER_SCALE_LIMIT = 1000
#: Overlap thresholds of the package's defaults: per level, across levels, R-Net, O-Net.
_NMS_LEVEL, _NMS_PYRAMID, _NMS_RNET, _NMS_ONET = 0.5, 0.7, 0.7, 0.7


def normalise(frames: tf.Tensor) -> tf.Tensor:
    """uint8 RGB to MTCNN's input range, ``(x - 127.5) / 128``."""
    return (tf.cast(frames, tf.float32) - 127.5) / 128.0


def pyramid_scales(
    height: tf.Tensor, width: tf.Tensor, min_face_size: float, scale_factor: float
) -> tf.Tensor:
    """Pyramid scales (float64) for a frame size, as the package's ``build_scale_pyramid``.

    The level count depends on the frame's shorter side only; levels whose shorter side
    falls under P-Net's 12-pixel window are dropped (the package would fail on them).
    """
    min_dim = tf.cast(tf.maximum(tf.minimum(height, width), 1), tf.float64)
    factor = tf.constant(scale_factor, tf.float64)
    count = tf.round(tf.math.log(min_dim / _CELL) / -tf.math.log(factor) - 1.0)
    count = tf.maximum(tf.cast(count, tf.int32), 0)
    scales = (_CELL / min_face_size) * tf.pow(factor, tf.cast(tf.range(count), tf.float64))
    return tf.boolean_mask(scales, tf.floor(min_dim * scales) >= _CELL)


def _pnet_level(
    pnet: tf.keras.Model,
    images: tf.Tensor,
    scale: tf.Tensor,
    threshold: float,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Candidate boxes of one pyramid level, suppressed within the level."""
    size = tf.cast(tf.floor(tf.cast(tf.shape(images)[1:3], tf.float64) * scale), tf.int32)
    resized = tf.image.resize(images, size, method=tf.image.ResizeMethod.AREA)
    offsets, probability = pnet(resized)
    score = probability[..., 1]
    n, cols = tf.shape(score)[0], tf.shape(score)[2]
    flat = tf.reshape(score, [n, -1])
    most = tf.reduce_max(tf.reduce_sum(tf.cast(flat > threshold, tf.int32), axis=1))
    k = tf.minimum(tf.clip_by_value(most, 1, PER_SCALE_LIMIT), tf.shape(flat)[1])
    top, index = tf.math.top_k(flat, k)
    y = tf.cast(index // cols, tf.float32) * _STRIDE
    x = tf.cast(index % cols, tf.float32) * _STRIDE
    reg = tf.gather(tf.reshape(offsets, [n, -1, 4]), index, batch_dims=1)
    # The package regresses the 12x12 window with a size of 11 (corner to corner).
    window = tf.stack([x + 1.0, y + 1.0, x + _CELL, y + _CELL], axis=-1)
    boxes = (window + reg * (_CELL - 1.0)) / tf.cast(scale, tf.float32)
    valid = top > threshold
    keep = bx.suppress(boxes, valid, _NMS_LEVEL, "union")
    return bx.compact(boxes, top, keep)


def _proposals(
    pnet: tf.keras.Model,
    images: tf.Tensor,
    min_face_size: float,
    scale_factor: float,
    threshold: float,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """P-Net over the whole pyramid; a ``tf.while_loop`` since the levels depend on H, W."""
    shape = tf.shape(images)
    scales = pyramid_scales(shape[1], shape[2], min_face_size, scale_factor)
    n = shape[0]
    # P-Net, like any Conv2D here, rejects an empty batch: no levels for zero frames.
    scales = scales[: tf.shape(scales)[0] * tf.minimum(n, 1)]
    # One invalid entry per frame keeps every later axis non-empty.
    init = (tf.zeros([n, 1, 4]), tf.zeros([n, 1]), tf.zeros([n, 1], tf.bool))

    def body(i, boxes, scores, valid):
        b, s, v = _pnet_level(pnet, images, scales[i], threshold)
        return (
            i + 1,
            tf.concat([boxes, b], 1),
            tf.concat([scores, s], 1),
            tf.concat([valid, v], 1),
        )

    _, boxes, scores, valid = tf.while_loop(
        lambda i, *_: i < tf.shape(scales)[0],
        body,
        (tf.constant(0), *init),
        shape_invariants=(
            tf.TensorShape([]),
            tf.TensorShape([None, None, 4]),
            tf.TensorShape([None, None]),
            tf.TensorShape([None, None]),
        ),
    )
    boxes, scores, valid = bx.compact(boxes, scores, valid)
    valid = bx.suppress(boxes, valid, _NMS_PYRAMID, "union")
    boxes, scores, valid = bx.compact(boxes, scores, valid)
    return bx.square(boxes), scores, valid


def _refine(
    net: tf.keras.Model,
    images: tf.Tensor,
    boxes: tf.Tensor,
    valid: tf.Tensor,
    patch: int,
    threshold: float,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Run R-Net or O-Net on the valid boxes only, then scatter results back to [N, K]."""
    index = tf.where(valid)
    x1, y1, x2, y2 = tf.unstack(tf.gather_nd(boxes, index), axis=-1)
    hw = tf.cast(tf.shape(images)[1:3], tf.float32)
    # Same normalisation as the package's extract_patches (pixel / size, not size - 1).
    crop = tf.stack([y1 / hw[0], x1 / hw[1], y2 / hw[0], x2 / hw[1]], axis=-1)
    patches = tf.image.crop_and_resize(images, crop, tf.cast(index[:, 0], tf.int32), [patch, patch])
    # Conv2D rejects an empty batch, so one blank patch always rides along and is dropped.
    patches = tf.concat([patches, tf.zeros([1, patch, patch, 3])], axis=0)
    outputs = net(patches)
    shape = tf.shape(valid, out_type=tf.int64)
    offsets = tf.scatter_nd(index, outputs[0][:-1], tf.concat([shape, [4]], 0))
    probability = tf.scatter_nd(index, outputs[-1][:-1, 1], shape)
    return bx.regress(boxes, offsets), probability, valid & (probability > threshold)


def detect(
    frames: tf.Tensor,
    nets: MtcnnNets,
    max_faces: int,
    min_face_size: float,
    thresholds: Sequence[float],
    scale_factor: float,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Run the three stages; see :func:`model_export.faces.detect_faces`."""
    images = normalise(frames)
    boxes, scores, valid = _proposals(nets.pnet, images, min_face_size, scale_factor, thresholds[0])

    boxes, scores, valid = _refine(nets.rnet, images, boxes, valid, 24, thresholds[1])
    boxes, scores, valid = bx.compact(boxes, scores, valid)
    valid = bx.suppress(boxes, valid, _NMS_RNET, "union")
    boxes, scores, valid = bx.compact(boxes, scores, valid)
    boxes = bx.square(boxes)

    boxes, scores, valid = _refine(nets.onet, images, boxes, valid, 48, thresholds[2])
    boxes, scores, valid = bx.compact(boxes, scores, valid)
    # The package's last stage measures overlap against the smaller box.
    valid = bx.suppress(boxes, valid, _NMS_ONET, "min")
    boxes, scores, valid = bx.compact(boxes, scores, valid, limit=max_faces)
    boxes, scores, valid = bx.pad_to(boxes, scores, valid, max_faces)
    return _finish(boxes, scores, valid, tf.shape(frames)[1:3], max_faces)


def _finish(
    boxes: tf.Tensor, scores: tf.Tensor, valid: tf.Tensor, hw: tf.Tensor, max_faces: int
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Clip to the frame as the package does, normalise to ``[y1, x1, y2, x2]``, zero padding."""
    h, w = tf.unstack(tf.cast(hw, tf.float32))
    x1, y1, x2, y2 = tf.unstack(boxes, axis=-1)
    x1, x2 = tf.clip_by_value(x1, 0.0, w - 1.0), tf.clip_by_value(x2, 0.0, w - 1.0)
    y1, y2 = tf.clip_by_value(y1, 0.0, h - 1.0), tf.clip_by_value(y2, 0.0, h - 1.0)
    normalised = tf.stack([y1 / h, x1 / w, y2 / h, x2 / w], axis=-1)
    normalised = tf.where(valid[..., None], normalised, 0.0)
    scores = tf.where(valid, scores, 0.0)
    count = tf.reduce_sum(tf.cast(valid, tf.int32), axis=1)
    normalised = tf.ensure_shape(normalised, [None, max_faces, 4])
    scores = tf.ensure_shape(scores, [None, max_faces])
    return normalised, scores, count
