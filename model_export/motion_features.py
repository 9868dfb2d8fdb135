"""A face track's motion over time as a few numbers, computed in the graph.

One-photo animation (SadTalker-, EDTalk-, DreamTalk-style) moves a head over a background
that does not move with it, within what a driving signal gives, and keeps the face's texture
too stable from frame to frame. :func:`motion_features` measures that on one track's frames
and boxes (:func:`contract.audio.audio_track_frames`), in TensorFlow, so the talking-head
member (:mod:`model_export.motion_member`) computes its features inside the exported graph
and training calls the same function eagerly: no program computes them twice.

Every frame is turned grey and cut twice at :data:`GRID` x :data:`GRID`: the face (its box
and a margin of :data:`FACE_MARGIN`, brightness centred so exposure flicker does not count)
and the whole frame. The background is what lies outside every frame's box widened by
:data:`BACKGROUND_MARGIN`. Between consecutive frames, the mean absolute change of the face
and of the background, and the head's motion (box centre moved, over the box side) and zoom
(change of the log box side); per frame, the face's texture (mean absolute Laplacian). The
features (:data:`FEATURE_NAMES`) summarise those over the track.
"""

from __future__ import annotations

import tensorflow as tf

#: Side of the grey grids the changes are measured on.
GRID = 64
#: Margin around the face box of the face's grid, as a share of the box side.
FACE_MARGIN = 0.1
#: Margin around every box that is not background, as a share of the box side.
BACKGROUND_MARGIN = 0.25
#: Added before logs and in denominators: below what 8-bit frames can resolve.
_EPS = 1e-3

#: The features, in :func:`motion_features`' column order.
FEATURE_NAMES: tuple[str, ...] = (
    "log_face_change",
    "log_background_change",
    "log_background_over_face",
    "log_head_motion",
    "log_head_zoom",
    "face_change_variation",
    "log_face_texture",
    "face_texture_spread",
    "background_share",
)


def _widen(boxes: tf.Tensor, margin: float) -> tf.Tensor:
    """``[y1, x1, y2, x2]`` boxes grown by ``margin`` of their side on every edge."""
    y1, x1, y2, x2 = tf.unstack(boxes, axis=-1)
    dy, dx = (y2 - y1) * margin, (x2 - x1) * margin
    return tf.stack([y1 - dy, x1 - dx, y2 + dy, x2 + dx], axis=-1)


def _change(grids: tf.Tensor) -> tf.Tensor:
    """Absolute change between consecutive grids ``[B, T, G, G]`` -> ``[B, T-1, G, G]``."""
    return tf.abs(grids[:, 1:] - grids[:, :-1])


def _mean_and_spread(values: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    mean = tf.reduce_mean(values, axis=-1)
    return mean, tf.math.reduce_std(values, axis=-1)


def motion_features(frames: tf.Tensor, boxes: tf.Tensor) -> tf.Tensor:
    """The track features, float32 ``[B, len(FEATURE_NAMES)]``.

    Args:
        frames: uint8 ``[B, T, H, W, 3]``, one track's frames in time order (``T`` >= 2).
        boxes: float32 ``[B, T, 4]``, the track's box in each, ``[y1, x1, y2, x2]`` in [0, 1].
    """
    frames = tf.convert_to_tensor(frames)
    boxes = tf.cast(tf.convert_to_tensor(boxes), tf.float32)
    shape = tf.shape(frames)
    b, t, h, w = shape[0], shape[1], shape[2], shape[3]
    gray = tf.image.rgb_to_grayscale(tf.cast(tf.reshape(frames, [b * t, h, w, 3]), tf.float32))
    gray = gray / 255.0
    flat_boxes = tf.reshape(boxes, [b * t, 4])
    face = tf.image.crop_and_resize(
        gray, _widen(flat_boxes, FACE_MARGIN), tf.range(b * t), [GRID, GRID]
    )
    face = tf.reshape(face, [b, t, GRID, GRID])
    whole = tf.reshape(tf.image.resize(gray, [GRID, GRID], antialias=True), [b, t, GRID, GRID])

    # Background: outside every frame's widened box, so a moving head never counts as it.
    centres = (tf.range(GRID, dtype=tf.float32) + 0.5) / GRID
    wide = _widen(boxes, BACKGROUND_MARGIN)
    in_y = (centres >= wide[..., 0:1]) & (centres <= wide[..., 2:3])  # [B, T, G]
    in_x = (centres >= wide[..., 1:2]) & (centres <= wide[..., 3:4])
    inside = tf.cast(in_y[..., :, None] & in_x[..., None, :], tf.float32)  # [B, T, G, G]
    background = 1.0 - tf.reduce_max(inside, axis=1)  # [B, G, G]
    background_pixels = tf.reduce_sum(background, axis=[1, 2])

    centred = face - tf.reduce_mean(face, axis=[2, 3], keepdims=True)
    face_change = tf.reduce_mean(_change(centred), axis=[2, 3])  # [B, T-1]
    background_change = tf.reduce_sum(_change(whole) * background[:, None], axis=[2, 3]) / (
        background_pixels[:, None] + _EPS
    )

    y1, x1, y2, x2 = tf.unstack(boxes, axis=-1)
    side = tf.sqrt(tf.maximum((y2 - y1) * (x2 - x1), 0.0)) + _EPS
    cy, cx = (y1 + y2) / 2, (x1 + x2) / 2
    motion = tf.sqrt((cy[:, 1:] - cy[:, :-1]) ** 2 + (cx[:, 1:] - cx[:, :-1]) ** 2) / side[:, :-1]
    zoom = tf.abs(tf.math.log(side[:, 1:]) - tf.math.log(side[:, :-1]))

    laplacian = tf.constant([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
    texture = tf.nn.conv2d(
        tf.reshape(face, [b * t, GRID, GRID, 1]), laplacian[:, :, None, None], 1, "VALID"
    )
    texture = tf.reshape(tf.reduce_mean(tf.abs(texture), axis=[1, 2, 3]), [b, t])
    log_texture = tf.math.log(texture + _EPS)

    face_mean, face_spread = _mean_and_spread(face_change)
    background_mean = tf.reduce_mean(background_change, axis=-1)
    texture_mean, texture_spread = _mean_and_spread(log_texture)
    columns = [
        tf.math.log(face_mean + _EPS),
        tf.math.log(background_mean + _EPS),
        tf.math.log(background_mean + _EPS) - tf.math.log(face_mean + _EPS),
        tf.math.log(tf.reduce_mean(motion, axis=-1) + _EPS),
        tf.math.log(tf.reduce_mean(zoom, axis=-1) + _EPS),
        face_spread / (face_mean + _EPS),
        texture_mean,
        texture_spread,
        background_pixels / float(GRID * GRID),
    ]
    return tf.stack(columns, axis=-1)
