"""Export a trained CNN+GRU (:mod:`model_export.sequence`) as a versioned SavedModel.

Exported signatures:

* ``serving_default`` and ``classify_faces``: the contract's per-frame and per-face outputs,
  from the CNN branch's per-face score (face-aware as :mod:`model_export.face_export`, or whole
  frames with ``--whole-frames``);
* ``classify_sequence`` (:data:`SEQUENCE_SIGNATURE`): ``faces`` uint8 ``[B, T, H, W, 3]``, ``B``
  sequences of ``T`` face crops in time order, returns ``fake_probability`` ``[B]`` from the
  GRU and ``threshold`` ``[B]``, the GRU's own threshold calibrated on validation videos (the
  Platt calibration of the CNN branch applies to ``serving_default`` and ``classify_faces``
  only; the GRU's score is not rescaled);
* ``model_info`` announces the window length (``sequence_length``), and the face-aware
  ``serving_default`` also returns ``face_crops``: the gateway builds each face track's
  windows (:func:`contract.sequence_windows`, as :func:`model_export.sequence.sequences_of`
  does in training) from the crops the graph cut, so it never crops faces itself.

Why the GRU is not in ``serving_default``: the gateway sends one request per video with its
frames in time order, but when Serving batches it merges the inputs of concurrent requests
along dimension 0 (and pads to an allowed batch size) before the graph runs, then splits the
outputs back by row (tensorflow_serving/batching/batching_session.cc, ``MergeInputTensors`` /
``SplitOutputTensors``). A GRU over the rows of ``serving_default`` would then read frames of
several videos, and padding, as one sequence, so per-frame outputs must not depend on other
rows. In ``classify_sequence`` a row is a whole sequence, so merging requests concatenates
sequences and never mixes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import model_pb2, predict_pb2

import contract
from model_export.calibration import IDENTITY, Calibration
from model_export.export import build_archive
from model_export.face_export import FaceConfig, build_face_archive, face_warmup_requests
from model_export.publish import Gate, publish_archive, version_info
from model_export.sequence import (
    SEQUENCE_OUTPUT,
    SEQUENCE_SIGNATURE,
    SequenceResult,
    preprocess_sequences,
)
from model_export.warmup import warmup_requests

#: Sequence batch sizes warmed for ``classify_sequence``.
SEQUENCE_WARMUP_BATCH_SIZES = (1, 4)


def faces_sequence_spec() -> tf.TensorSpec:
    """Input spec of ``classify_sequence``: ``B`` sequences of ``T`` RGB face crops."""
    return tf.TensorSpec([None, None, None, None, 3], tf.uint8, name=contract.FACES_INPUT)


def build_sequence_archive(
    result: SequenceResult,
    *,
    input_size: tuple[int, int],
    faces: FaceConfig | None,
    calibration: Calibration = IDENTITY,
) -> keras.export.ExportArchive:
    """The contract's signatures from the CNN branch plus ``classify_sequence`` from the GRU.

    ``calibration`` applies to the CNN branch's probabilities and frame threshold.
    """
    size = (int(input_size[0]), int(input_size[1]))
    length = int(result.sequence_length)
    if faces is not None:
        archive = build_face_archive(
            result.model,
            threshold=result.threshold,
            input_size=size,
            faces=faces,
            sequence_length=length,
            calibration=calibration,
        )
    else:
        archive = build_archive(
            result.model,
            threshold=result.threshold,
            input_size=size,
            sequence_length=length,
            calibration=calibration,
        )
    sequence_model = result.sequence_model
    archive.track(sequence_model)
    sequence_threshold = float(result.sequence_threshold)

    @tf.function(input_signature=[faces_sequence_spec()])
    def classify_sequence(faces_in: tf.Tensor) -> dict[str, tf.Tensor]:
        shape = tf.shape(faces_in)

        def run() -> tf.Tensor:
            x = preprocess_sequences(faces_in, size)
            out = sequence_model(x, training=False)[SEQUENCE_OUTPUT]
            return tf.cast(tf.reshape(out, [-1]), tf.float32)

        # Empty batches or empty sequences: no kernel runs, "don't know" (0.5) per row.
        probability = tf.cond(tf.reduce_prod(shape[:2]) > 0, run, lambda: tf.fill([shape[0]], 0.5))
        return {
            contract.FAKE_PROBABILITY: probability,
            # Per row, as in serving_default, so that batching can split it.
            contract.THRESHOLD: tf.fill([shape[0]], sequence_threshold),
        }

    archive.add_endpoint(SEQUENCE_SIGNATURE, classify_sequence)
    return archive


def sequence_warmup_requests(
    model_name: str, input_size: tuple[int, int], length: int
) -> list[predict_pb2.PredictRequest]:
    """One ``classify_sequence`` request per warmed batch size, ``length`` faces each."""
    rng = np.random.default_rng(2)
    requests = []
    for batch in SEQUENCE_WARMUP_BATCH_SIZES:
        faces = rng.integers(0, 256, size=(batch, length, *input_size, 3), dtype=np.uint8)
        request = predict_pb2.PredictRequest(
            model_spec=model_pb2.ModelSpec(name=model_name, signature_name=SEQUENCE_SIGNATURE)
        )
        request.inputs[contract.FACES_INPUT].CopyFrom(tf.make_tensor_proto(faces))
        requests.append(request)
    return requests


def sequence_version_warmup(
    result: SequenceResult, *, name: str, input_size: tuple[int, int], face_aware: bool
) -> list[predict_pb2.PredictRequest]:
    """Warmup of every signature of a CNN+GRU version, ``classify_sequence``'s included."""
    requests = face_warmup_requests(name, input_size) if face_aware else warmup_requests(name)
    return requests + sequence_warmup_requests(name, input_size, result.sequence_length)


def publish_sequence_version(
    result: SequenceResult,
    base_path: Path,
    name: str,
    *,
    input_size: tuple[int, int],
    faces: FaceConfig | None = None,
    version: int | None = None,
    info: Mapping[str, Any] | None = None,
    gate: Gate | None = None,
    calibration: Calibration = IDENTITY,
) -> Path:
    """Export a trained CNN+GRU and publish it atomically as a version of ``name``.

    ``calibration`` applies to the CNN branch (``serving_default``, ``classify_faces``).

    Publishing loads the version through a TF1 session and replays every warmup record,
    ``classify_sequence``'s included (:func:`model_export.publish.verify_version`).
    """
    size = (int(input_size[0]), int(input_size[1]))
    return publish_archive(
        lambda: build_sequence_archive(
            result, input_size=size, faces=faces, calibration=calibration
        ),
        sequence_version_warmup(result, name=name, input_size=size, face_aware=faces is not None),
        base_path,
        name,
        info=version_info(
            threshold=result.threshold,
            input_size=size,
            faces=faces.as_dict() if faces is not None else None,
            sequence=result.sequence_info(),
            info=info,
            calibration=calibration,
        ),
        version=version,
        gate=gate,
    )
