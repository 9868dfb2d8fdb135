"""Frame preprocessing shared by training and the exported graph.

Training and serving call the same function, so the pixels a model learns from are
the pixels it sees in production.
"""

from __future__ import annotations

import tensorflow as tf


def preprocess_frames(frames: tf.Tensor, input_size: tuple[int, int]) -> tf.Tensor:
    """Turn raw ``uint8`` RGB frames ``[N, H, W, 3]`` into model input.

    Casts to float32, resizes to ``input_size`` (height, width) with antialiasing (frames
    are usually much larger than the model input, and plain bilinear down-scaling aliases
    away the blending artefacts the detector looks for), and scales to ``[0, 1]``.
    """
    height, width = int(input_size[0]), int(input_size[1])
    x = tf.cast(frames, tf.float32)
    x = tf.image.resize(x, (height, width), method="bilinear", antialias=True)
    return x / 255.0
