"""Five facial landmarks per detected face, from MTCNN's O-Net, in crop coordinates.

The detector keeps only O-Net's boxes and scores. Landmarks are predicted by one more O-Net
pass on each final box (squared, as O-Net's 48x48 input expects), with the ``mtcnn``
package's convention ``x = x1 + (x2 - x1 + 1) * l`` per point. They are returned relative to
the face crop :func:`model_export.faces.crop_faces` cuts (margin included), so that training
code can place them on a cached crop without the frame.
"""

from __future__ import annotations

import tensorflow as tf

from model_export.faces.detector import normalise
from model_export.faces.nets import MtcnnNets, load_nets

#: Order of the five points: left eye, right eye, nose, left and right mouth corner (image
#: left and right, as O-Net predicts them).
LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


def face_landmarks(
    frames: tf.Tensor,
    boxes: tf.Tensor,
    count: tf.Tensor,
    margin: float,
    nets: MtcnnNets | None = None,
) -> tf.Tensor:
    """Landmarks ``float32 [N, F, 5, 2]`` as ``(x, y)`` in ``[0, 1]`` of each face's crop.

    Args:
        frames: uint8 RGB frames ``[N, H, W, 3]``.
        boxes: normalised ``[y1, x1, y2, x2]`` boxes ``[N, F, 4]`` of :func:`detect_faces`.
        count: int32 ``[N]`` valid boxes per frame; padding slots come back as zeros.
        margin: the crop margin the crops were cut with (see :func:`crop_faces`).
        nets: MTCNN nets; by default the process-wide ones.
    """
    if nets is None:
        with tf.init_scope():
            nets = load_nets()
    images = normalise(frames)
    n, slots = tf.shape(boxes)[0], tf.shape(boxes)[1]
    h, w = tf.unstack(tf.cast(tf.shape(frames)[1:3], tf.float32))
    valid = tf.range(slots)[None, :] < tf.cast(count, tf.int32)[:, None]
    index = tf.where(valid)
    y1, x1, y2, x2 = tf.unstack(tf.gather_nd(tf.cast(boxes, tf.float32), index), axis=-1)
    # Pixel boxes, squared about their centre like the detector's O-Net input.
    px1, px2, py1, py2 = x1 * w, x2 * w, y1 * h, y2 * h
    side = tf.maximum(px2 - px1, py2 - py1)
    sx1 = (px1 + px2) / 2 - side / 2
    sy1 = (py1 + py2) / 2 - side / 2
    crop = tf.stack([sy1 / h, sx1 / w, (sy1 + side) / h, (sx1 + side) / w], axis=-1)
    patches = tf.image.crop_and_resize(images, crop, tf.cast(index[:, 0], tf.int32), [48, 48])
    # Conv2D rejects an empty batch: one blank patch rides along and is dropped.
    patches = tf.concat([patches, tf.zeros([1, 48, 48, 3])], axis=0)
    points = nets.onet(patches)[1][:-1]
    px = sx1[:, None] + (side[:, None] + 1.0) * points[:, :5]
    py = sy1[:, None] + (side[:, None] + 1.0) * points[:, 5:]
    # Into the crop: it spans the box widened by the margin on each side.
    cx1, cw = (x1 - (x2 - x1) * margin) * w, (x2 - x1) * (1 + 2 * margin) * w
    cy1, ch = (y1 - (y2 - y1) * margin) * h, (y2 - y1) * (1 + 2 * margin) * h
    u = (px - cx1[:, None]) / tf.maximum(cw[:, None], 1e-6)
    v = (py - cy1[:, None]) / tf.maximum(ch[:, None], 1e-6)
    shape = tf.stack([tf.cast(n, tf.int64), tf.cast(slots, tf.int64), 5, 2])
    return tf.scatter_nd(index, tf.stack([u, v], axis=-1), shape)
