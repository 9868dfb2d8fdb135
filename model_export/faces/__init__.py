"""In-graph face detection (MTCNN) and cropping for face-aware SavedModels.

Both functions are pure batched TensorFlow ops: call them inside the ``tf.function`` that a
``keras.export.ExportArchive`` exports, and ``track`` the three Keras nets of
:func:`load_nets` in that archive so their weights are saved::

    nets = load_nets()
    archive = keras.export.ExportArchive()
    for model in nets:
        archive.track(model)

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)])
    def serve(frames):
        boxes, scores, count = detect_faces(frames)
        faces = crop_faces(frames, boxes, count, size=224)
        ...

Modules: ``detector`` (MTCNN as one batched graph), ``nets`` (its three networks, with the
weights the ``mtcnn`` wheel ships), ``boxes`` (batched box arithmetic on padded layouts),
``landmarks`` (five facial landmarks per face, from O-Net), ``crop`` (face crops with a
margin), ``face_mesh`` (MediaPipe's 468-point face mesh of a face crop, for self-blended
training's masks only; never in an exported graph).
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from model_export.faces.crop import DEFAULT_MARGIN, crop_faces
from model_export.faces.detector import detect
from model_export.faces.nets import MtcnnNets, load_nets

__all__ = ["DEFAULT_MARGIN", "MtcnnNets", "crop_faces", "detect_faces", "load_nets"]


def detect_faces(
    frames: tf.Tensor,
    max_faces: int = 4,
    min_face_size: int = 20,
    thresholds: Sequence[float] = (0.6, 0.7, 0.7),
    scale_factor: float = 0.709,
    nets: MtcnnNets | None = None,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Detect up to ``max_faces`` faces per frame with MTCNN, batched in the graph.

    Args:
        frames: uint8 RGB frames ``[N, H, W, 3]``; N, H and W may be dynamic.
        max_faces: face slots per frame; the most confident faces fill them.
        min_face_size: smallest face side in pixels the image pyramid looks for.
        thresholds: face-probability thresholds of P-Net, R-Net and O-Net.
        scale_factor: ratio between consecutive pyramid levels.
        nets: the Keras P/R/O-Nets; by default the process-wide ones of :func:`load_nets`.

    Returns:
        ``boxes`` float32 ``[N, max_faces, 4]`` normalised ``[y1, x1, y2, x2]`` (pixel divided
        by the frame's height or width), ``scores`` float32 ``[N, max_faces]`` (O-Net face
        probability, 0 for padding) and ``count`` int32 ``[N]``. Slots are sorted by score;
        padding slots are zeros. A frame without faces gets ``count`` 0.
    """
    if len(thresholds) != 3:
        raise ValueError("thresholds needs one value per stage (P-Net, R-Net, O-Net)")
    if max_faces < 1:
        raise ValueError("max_faces must be at least 1")
    if nets is None:
        # Build and load eagerly even when first called while a tf.function traces;
        # weights assigned inside a trace would never be set.
        with tf.init_scope():
            nets = load_nets()
    return detect(
        tf.convert_to_tensor(frames),
        nets,
        max_faces=max_faces,
        min_face_size=float(min_face_size),
        thresholds=tuple(float(t) for t in thresholds),
        scale_factor=float(scale_factor),
    )
