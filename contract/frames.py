"""Turning decoded video frames upright, the same way for training and serving.

Phone videos are stored sideways with a display rotation; a model must see them as
people do. The gateway's decoder and ``model_export``'s both call these functions, so
a clip is upright in training exactly when it is upright in production. Needs PyAV and
numpy, no TensorFlow.
"""

from __future__ import annotations

import av
import numpy as np


def display_rotation(stream: av.video.stream.VideoStream, first: av.VideoFrame | None) -> int:
    """Clockwise degrees (0, 90, 180, 270) that turn a decoded frame upright.

    As FFmpeg's autorotate: the frame's display matrix (side data) when present, else the
    stream's legacy ``rotate`` tag.
    """
    angle = 0.0
    if first is not None and first.rotation:
        angle = float(first.rotation)
    else:
        tag = stream.metadata.get("rotate")
        if tag is not None:
            try:
                return round(float(tag) / 90.0) * 90 % 360
            except ValueError:
                pass
    # The display matrix holds a counter-clockwise angle; FFmpeg turns the frame by -angle.
    return round(-angle / 90.0) * 90 % 360


def upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """``image`` ``[H, W, C]`` turned ``rotation`` degrees clockwise (contiguous)."""
    if not rotation:
        return image
    return np.ascontiguousarray(np.rot90(image, k=-(rotation // 90)))
