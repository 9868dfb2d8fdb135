"""Export a face classifier as a face-aware SavedModel: detection, crops and scores in one graph.

``serving_default`` takes raw ``uint8`` RGB frames and runs the in-graph MTCNN detector
(:mod:`model_export.faces`), crops every face with a margin, and classifies the crops. A
frame's ``fake_probability`` is its most suspicious face (a swap may touch one person among
several, as in Self-Blended Images' inference); every probability is calibrated in the
graph (:func:`model_export.export.calibrate_in_graph`); a frame without a detected face is
classified whole, which keeps tight face-crop clips scorable (only those frames are: the
others never read it). ``classify_faces`` scores faces a client has cropped itself, through
the same preprocessing.

``serving_default`` is the two halves of one path, which are also signatures of their own:
``detect_faces`` finds the faces (normalised boxes, so frames of any size, e.g. downscaled
ones, will do) and ``classify_boxes`` crops and scores given boxes on given frames with the
very code ``serving_default`` runs after its detector. A client that knows which frames are
neighbours in time (the gateway; Serving's batching mixes videos along the batch dimension,
so the graph cannot) detects on a few frames and carries the boxes over to the others
(:mod:`contract.face_schedule`). When the classifier has a
convolution to explain (:func:`model_export.explain.gradcam_split`), ``explain`` returns the
same faces again with the crop each was classified on and its Grad-CAM map.

The export info's ``calibration_probe`` records the network's own (uncalibrated) scores of
the ``classify_faces`` warmup crops, so that anyone can replay that warmup request to the
served version and see ``sigmoid(a * logit(p) + b)`` of them come back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import model_pb2, predict_pb2

import contract
from model_export import warmup
from model_export.calibration import IDENTITY, Calibration
from model_export.explain import explain_images, gradcam_split
from model_export.export import add_model_info, classify_images, frames_spec
from model_export.faces import DEFAULT_MARGIN, crop_faces, detect_faces, load_nets
from model_export.operating_points import Evidence, operating_points
from model_export.publish import Gate, publish_archive, version_info, write_version


@dataclass(frozen=True)
class FaceConfig:
    """How faces are found and cut; shipped in the graph and used identically in training."""

    max_faces: int = 4
    margin: float = DEFAULT_MARGIN
    min_face_size: int = 40
    thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)

    def as_dict(self) -> dict[str, Any]:
        """What the export info records about face detection and cropping."""
        return {**asdict(self), "thresholds": list(self.thresholds)}


def face_crops(
    frames: tf.Tensor, size: int, config: FaceConfig = FaceConfig()
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """Detect and crop faces: ``(crops uint8 [N, F, size, size, 3], boxes, scores, count)``.

    Training calls this eagerly on decoded frames and the exported graph runs the same
    :func:`detect_faces` and :func:`crop_faces` with the same ``config`` on served frames, so
    the crops a model learns from are the crops it is served.
    """
    boxes, scores, count = detect_faces(
        frames,
        max_faces=config.max_faces,
        min_face_size=config.min_face_size,
        thresholds=config.thresholds,
    )
    crops = crop_faces(frames, boxes, count, size=size, margin=config.margin, dtype=tf.uint8)
    return crops, boxes, scores, count


def boxes_specs() -> list[tf.TensorSpec]:
    """Inputs of ``classify_boxes``: frames and the faces already found in them."""
    return [
        frames_spec(),
        tf.TensorSpec([None, None, 4], tf.float32, name=contract.FACE_BOXES),
        tf.TensorSpec([None, None], tf.float32, name=contract.FACE_SCORES),
        tf.TensorSpec([None], tf.int32, name=contract.FACE_COUNT),
    ]


def crop_boxes(boxes: tf.Tensor, margin: float) -> tf.Tensor:
    """The regions :func:`model_export.faces.crop_faces` cuts: ``boxes`` widened by ``margin``
    of their height and width on every side, normalised ``[y1, x1, y2, x2]`` (may pass the
    frame's edges, where crops are black)."""
    y1, x1, y2, x2 = tf.unstack(tf.cast(boxes, tf.float32), axis=-1)
    dy = (y2 - y1) * margin
    dx = (x2 - x1) * margin
    return tf.stack([y1 - dy, x1 - dx, y2 + dy, x2 + dx], axis=-1)


def build_face_archive(
    model: keras.Model,
    *,
    threshold: float,
    input_size: tuple[int, int],
    faces: FaceConfig = FaceConfig(),
    sequence_length: int = 0,
    calibration: Calibration = IDENTITY,
    operating_points: Sequence[Mapping[str, Any]] | None = None,
) -> keras.export.ExportArchive:
    """Archive with the face-aware ``serving_default``, ``classify_faces``, ``detect_faces``
    and ``classify_boxes`` signatures, and ``explain`` when the classifier has a convolution
    to explain.

    ``classify_boxes`` passes the ``face_scores`` it is given through, so that it answers
    exactly what ``serving_default`` answers when given ``detect_faces``' findings.

    With a ``sequence_length`` (the caller adds ``classify_sequence``), ``serving_default``
    also returns the crops it classified, which clients assemble into face tracks.
    ``calibration`` applies to every face and frame probability; ``threshold`` (uncalibrated
    scale) is shipped on the calibrated scale.
    """
    if input_size[0] != input_size[1]:
        raise ValueError("face classifiers take square crops")
    size = (int(input_size[0]), int(input_size[1]))
    threshold_value = calibration.apply_threshold(threshold)
    archive = keras.export.ExportArchive()
    archive.track(model)
    for net in load_nets():
        archive.track(net)

    def score(
        frames: tf.Tensor, boxes: tf.Tensor, scores: tf.Tensor, count: tf.Tensor
    ) -> dict[str, tf.Tensor]:
        """serving_default's outputs for faces already found: one path for every signature."""
        slots = tf.shape(boxes)[1]
        count = tf.minimum(tf.cast(count, tf.int32), slots)
        crops = crop_faces(frames, boxes, count, size=size[0], margin=faces.margin, dtype=tf.uint8)
        n = tf.shape(frames)[0]
        valid = tf.range(slots)[None, :] < count[:, None]
        index = tf.where(valid)
        face_probability = tf.scatter_nd(
            index,
            classify_images(model, tf.gather_nd(crops, index), size, calibration),
            [n, slots],
        )
        best_face = tf.reduce_max(tf.where(valid, face_probability, -1.0), axis=1)
        # Only frames without a face are classified whole (the rest never read it).
        faceless = tf.where(count == 0)
        whole_frame = tf.scatter_nd(
            faceless,
            classify_images(model, tf.gather_nd(frames, faceless), size, calibration),
            [n],
        )
        extra = {contract.FACE_CROPS: crops} if sequence_length > 0 else {}
        return {
            **extra,
            contract.FAKE_PROBABILITY: tf.where(count > 0, best_face, whole_frame),
            # Per row, not scalar: TF Serving's batching splits every output on dim 0.
            contract.THRESHOLD: tf.fill([n], threshold_value),
            contract.FACE_BOXES: tf.where(valid[..., None], tf.cast(boxes, tf.float32), 0.0),
            contract.FACE_SCORES: tf.where(valid, tf.cast(scores, tf.float32), 0.0),
            contract.FACE_FAKE_PROBABILITY: face_probability,
            contract.FACE_COUNT: count,
        }

    def find(frames: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        return detect_faces(
            frames,
            max_faces=faces.max_faces,
            min_face_size=faces.min_face_size,
            thresholds=faces.thresholds,
        )

    @tf.function(input_signature=[frames_spec()])
    def serve(frames: tf.Tensor) -> dict[str, tf.Tensor]:
        return score(frames, *find(frames))

    @tf.function(input_signature=[frames_spec()])
    def detect(frames: tf.Tensor) -> dict[str, tf.Tensor]:
        boxes, scores, count = find(frames)
        return {
            contract.FACE_BOXES: boxes,
            contract.FACE_SCORES: scores,
            contract.FACE_COUNT: tf.cast(count, tf.int32),
        }

    @tf.function(input_signature=boxes_specs())
    def classify_boxes(
        frames: tf.Tensor, boxes: tf.Tensor, scores: tf.Tensor, count: tf.Tensor
    ) -> dict[str, tf.Tensor]:
        return score(frames, boxes, scores, count)

    @tf.function(
        input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name=contract.FACES_INPUT)]
    )
    def classify_faces(faces_in: tf.Tensor) -> dict[str, tf.Tensor]:
        return {contract.FAKE_PROBABILITY: classify_images(model, faces_in, size, calibration)}

    archive.add_endpoint(contract.SERVING_SIGNATURE, serve)
    archive.add_endpoint(contract.FACES_SIGNATURE, classify_faces)
    archive.add_endpoint(contract.DETECT_SIGNATURE, detect)
    archive.add_endpoint(contract.CLASSIFY_BOXES_SIGNATURE, classify_boxes)
    split = gradcam_split(model)
    if split is not None:
        map_h, map_w = split.map_shape

        @tf.function(input_signature=[frames_spec()])
        def explain(frames: tf.Tensor) -> dict[str, tf.Tensor]:
            # The same detector and crops as serve: the faces come back in the same slots.
            crops, boxes, _, count = face_crops(frames, size[0], faces)
            n = tf.shape(frames)[0]
            valid = tf.range(faces.max_faces)[None, :] < count[:, None]
            index = tf.where(valid)
            probability, maps = explain_images(split, tf.gather_nd(crops, index), size, calibration)
            return {
                contract.FACE_BOXES: boxes,
                contract.FACE_CROP_BOXES: tf.where(
                    valid[..., None], crop_boxes(boxes, faces.margin), 0.0
                ),
                contract.FACE_COUNT: tf.cast(count, tf.int32),
                contract.FACE_FAKE_PROBABILITY: tf.scatter_nd(
                    index, probability, [n, faces.max_faces]
                ),
                contract.FACE_CROPS: crops,
                contract.FACE_HEATMAPS: tf.scatter_nd(
                    index, maps, [n, faces.max_faces, map_h, map_w]
                ),
            }

        archive.add_endpoint(contract.EXPLAIN_SIGNATURE, explain)
    # Faces are found in the whole frame and cut from its pixels: no smaller frame is
    # safe in general, so the client's own frame size applies.
    add_model_info(
        archive,
        threshold=threshold_value,
        frame_min_side=0,
        sequence_length=sequence_length,
        operating_points=operating_points,
        face_input_side=size[0],
    )
    return archive


def face_warmup_requests(
    model_name: str, input_size: tuple[int, int]
) -> list[predict_pb2.PredictRequest]:
    """Warmup of the signatures: frame batches of 1, 8, 32, one batch of crops, one
    ``detect_faces`` and one ``classify_boxes`` batch (every face-aware export has both).

    ``explain`` is not warmed: it is asked on request only, for a few frames, and the
    records must suit every face-aware version (some have no ``explain``); its first call
    pays the session's one-off set-up of its kernels.
    """
    requests = warmup.warmup_requests(model_name)
    faces = np.random.default_rng(1).integers(0, 256, size=(8, *input_size, 3), dtype=np.uint8)
    request = predict_pb2.PredictRequest(
        model_spec=model_pb2.ModelSpec(name=model_name, signature_name=contract.FACES_SIGNATURE)
    )
    request.inputs[contract.FACES_INPUT].CopyFrom(tf.make_tensor_proto(faces))
    return [*requests, request, *keyframe_warmup_requests(model_name)]


def keyframe_warmup_requests(model_name: str) -> list[predict_pb2.PredictRequest]:
    """One ``detect_faces`` and one ``classify_boxes`` batch of 8 random frames (one box
    on every other frame, so that both the face and the whole-frame branch run)."""
    frames = np.random.default_rng(3).integers(
        0, 256, size=(8, *warmup.DEFAULT_FRAME_SIZE, 3), dtype=np.uint8
    )
    detect = predict_pb2.PredictRequest(
        model_spec=model_pb2.ModelSpec(name=model_name, signature_name=contract.DETECT_SIGNATURE)
    )
    detect.inputs[contract.FRAMES_INPUT].CopyFrom(tf.make_tensor_proto(frames))
    boxes = np.zeros((8, 1, 4), np.float32)
    boxes[:, 0] = [0.25, 0.25, 0.75, 0.75]
    count = (np.arange(8) % 2).astype(np.int32)
    classify = predict_pb2.PredictRequest(
        model_spec=model_pb2.ModelSpec(
            name=model_name, signature_name=contract.CLASSIFY_BOXES_SIGNATURE
        )
    )
    inputs = {
        contract.FRAMES_INPUT: frames,
        contract.FACE_BOXES: (boxes * count[:, None, None]).astype(np.float32),
        contract.FACE_SCORES: count[:, None].astype(np.float32),
        contract.FACE_COUNT: count,
    }
    for key, value in inputs.items():
        classify.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    return [detect, classify]


def calibration_probe(
    model: keras.Model,
    input_size: tuple[int, int],
    requests: list[predict_pb2.PredictRequest],
    calibration: Calibration,
) -> dict[str, Any]:
    """The network's scores of the ``classify_faces`` warmup crops, before and after
    ``calibration``: what the served version must answer to that warmup request."""
    index = next(
        i for i, r in enumerate(requests) if r.model_spec.signature_name == contract.FACES_SIGNATURE
    )
    faces = tf.make_ndarray(requests[index].inputs[contract.FACES_INPUT])
    raw = classify_images(model, tf.constant(faces), input_size).numpy().astype(np.float64)
    return {
        "signature": contract.FACES_SIGNATURE,
        "warmup_record": index,
        "uncalibrated": [float(p) for p in raw],
        "calibrated": [float(p) for p in calibration.apply(raw)],
    }


def write_face_saved_model(
    model: keras.Model,
    path: Path,
    *,
    name: str,
    threshold: float,
    input_size: tuple[int, int],
    faces: FaceConfig = FaceConfig(),
    calibration: Calibration = IDENTITY,
) -> None:
    """Write a face-aware SavedModel with its warmup records into ``path``."""
    archive = build_face_archive(
        model, threshold=threshold, input_size=input_size, faces=faces, calibration=calibration
    )
    write_version(archive, path, face_warmup_requests(name, input_size))


def publish_face_version(
    model: keras.Model,
    base_path: Path,
    name: str,
    *,
    threshold: float,
    input_size: tuple[int, int],
    faces: FaceConfig = FaceConfig(),
    version: int | None = None,
    info: Mapping[str, Any] | None = None,
    gate: Gate | None = None,
    calibration: Calibration = IDENTITY,
    evidence: Evidence | None = None,
) -> Path:
    """Export a face classifier face-aware and publish it atomically as a version of ``name``.

    ``calibration`` is applied in the graph (``threshold`` is on the uncalibrated scale) and
    recorded with a :func:`calibration_probe`; ``gate`` is passed to
    :func:`model_export.publish.publish_directory`; ``evidence`` gives the version its
    measured operating points (:func:`model_export.operating_points.operating_points`).
    """
    requests = face_warmup_requests(name, input_size)
    probe = calibration_probe(model, input_size, requests, calibration)
    points = operating_points(calibration.apply_threshold(threshold), evidence)
    return publish_archive(
        lambda: build_face_archive(
            model,
            threshold=threshold,
            input_size=input_size,
            faces=faces,
            calibration=calibration,
            operating_points=points,
        ),
        requests,
        base_path,
        name,
        info=version_info(
            threshold=threshold,
            input_size=input_size,
            faces=faces.as_dict(),
            info={**(info or {}), "calibration_probe": probe},
            calibration=calibration,
            operating_points=points,
        ),
        version=version,
        gate=gate,
    )
