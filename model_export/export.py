"""Export a Keras frame classifier as a whole-frame SavedModel that honours the wire contract.

The exported ``serving_default`` signature takes raw ``uint8`` RGB frames of any size
and does all preprocessing in the graph; a version's calibration
(:mod:`model_export.calibration`) is applied in the graph to every probability it returns,
and its threshold is shipped on that calibrated scale. The pieces every kind of export
shares (the frames input, the guarded classifier call, ``model_info``) live here too;
face-aware and sequence exports (:mod:`model_export.face_export`,
:mod:`model_export.sequence_export`) build on them. Export goes through
``keras.export.ExportArchive`` because TF Serving restores versions through a TF1 session
(``tf.compat.v1.saved_model.loader.load``), and only the Keras export path produces
variables that session restore can find.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

import contract
from contract.audio import AUDIO_SAMPLE_RATE
from contract.combination import VISUAL_THRESHOLD_OUTPUT, MemberCombination
from contract.motion import MOTION_COMBINATION_OUTPUT
from model_export import warmup
from model_export.calibration import EPS, IDENTITY, Calibration
from model_export.operating_points import Evidence, operating_points, unmeasured_points
from model_export.preprocess import preprocess_frames
from model_export.publish import Gate, publish_archive, version_info

#: Tag set TF Serving loads (``kSavedModelTagServe``).
SERVE_TAG = "serve"


def frames_spec() -> tf.TensorSpec:
    """Input spec of ``serving_default``: raw RGB frames of any size."""
    return tf.TensorSpec([None, None, None, 3], tf.uint8, name=contract.FRAMES_INPUT)


def calibrate_in_graph(p: tf.Tensor, calibration: Calibration) -> tf.Tensor:
    """``clip(sigmoid(a * logit(p) + b), floor, 1 - floor)`` in the graph; the identity adds no
    op (:meth:`Calibration.apply` in numpy)."""
    if calibration.is_identity:
        return p
    q = tf.clip_by_value(p, EPS, 1.0 - EPS)
    z = float(calibration.a) * (tf.math.log(q) - tf.math.log1p(-q)) + float(calibration.b)
    out = tf.math.sigmoid(z)
    if calibration.floor > 0:
        # Bounds what one wrong answer costs: every frame and face score, hence the video's.
        out = tf.clip_by_value(out, float(calibration.floor), 1.0 - float(calibration.floor))
    return out


def classify_images(
    model: keras.Model,
    images: tf.Tensor,
    input_size: tuple[int, int],
    calibration: Calibration = IDENTITY,
) -> tf.Tensor:
    """Calibrated fake probability ``[K]`` of uint8 images ``[K, H, W, 3]``; empty in, empty out."""

    def run() -> tf.Tensor:
        x = preprocess_frames(images, input_size)
        p = tf.cast(tf.reshape(model(x, training=False), [-1]), tf.float32)
        return calibrate_in_graph(p, calibration)

    # Some CPU kernels reject empty batches; an empty request gets an empty answer.
    return tf.cond(tf.shape(images)[0] > 0, run, lambda: tf.zeros([0], tf.float32))


def frame_min_side_for(input_size: tuple[int, int]) -> int:
    """The shorter frame side a whole-frame model needs: its larger input side.

    The graph resizes a whole frame to ``input_size``; a frame whose shorter side is at
    least the larger input side is only ever scaled down there, so sending anything bigger
    changes nothing but the transfer and resizing cost.
    """
    return int(max(input_size))


def add_model_info(
    archive: keras.export.ExportArchive,
    *,
    threshold: float,
    frame_min_side: int,
    sequence_length: int = 0,
    kind: str = contract.MODEL_KIND_DETECTOR,
    member_names: Sequence[str] = (),
    operating_points: Sequence[Mapping[str, Any]] | None = None,
    face_input_side: int = 0,
    audio_combination: MemberCombination | None = None,
    motion_combination: MemberCombination | None = None,
    visual_threshold: float | None = None,
) -> None:
    """Add the ``model_info`` signature: threshold, frame side needed, sequence window, kind,
    operating points.

    A version with an audio-visual member (``classify_audio``) passes its
    ``audio_combination``: ``model_info`` then says the contract's ``audio_sample_rate`` and
    how the member's score joins the video score (:mod:`contract.audio`). A version with a
    talking-head member (``classify_motion``) passes its ``motion_combination``, written as
    ``motion_combination`` (:mod:`contract.motion`). When those members join the verdict,
    ``threshold`` is the joined score's and ``visual_threshold`` the visual score's alone
    (:data:`contract.combination.VISUAL_THRESHOLD_OUTPUT`, written when not None).

    A face-aware version passes ``face_input_side``, the side of the face crop its
    classifier takes, so that clients can tell faces smaller than that (written when > 0).

    ``kind`` (``detector`` or ``demo``) is written as its :data:`contract.MODEL_KIND_CODES`
    code, so that clients can tell a demo from a detector before trusting a verdict.
    An ensemble also lists its ``member_names`` (string ``[N, M]``), in the order of its
    per-member outputs. ``operating_points`` (:func:`model_export.operating_points.
    operating_points`) are written as one JSON string; None lists ``threshold`` alone as
    ``balanced``, with no rates.
    """
    if frame_min_side < 0 or sequence_length < 0:
        raise ValueError("frame_min_side and sequence_length must be >= 0")
    threshold_value = float(threshold)
    side = int(frame_min_side)
    length = int(sequence_length)
    kind_code = contract.model_kind_code(kind)
    names = [str(name) for name in member_names]
    points = list(operating_points) if operating_points is not None else None
    points_json = json.dumps(points or unmeasured_points(threshold_value), sort_keys=True)
    face_side = int(face_input_side)
    audio_row = audio_combination.as_row() if audio_combination is not None else None
    motion_row = motion_combination.as_row() if motion_combination is not None else None
    visual = float(visual_threshold) if visual_threshold is not None else None

    @tf.function(input_signature=[frames_spec()])
    def model_info(frames: tf.Tensor) -> dict[str, tf.Tensor]:
        n = tf.shape(frames)[0]
        # Per row: TF Serving's batching splits every output on dim 0.
        outputs = {
            contract.THRESHOLD: tf.fill([n], threshold_value),
            contract.FRAME_MIN_SIDE: tf.fill([n], tf.constant(side, tf.int32)),
            contract.SEQUENCE_LENGTH: tf.fill([n], tf.constant(length, tf.int32)),
            contract.MODEL_KIND: tf.fill([n], tf.constant(kind_code, tf.int32)),
            contract.OPERATING_POINTS: tf.fill([n], tf.constant(points_json)),
            # Replaced by the SavedModel's digest once written (model_export.digest).
            contract.MODEL_DIGEST: tf.fill([n], tf.constant(contract.MODEL_DIGEST_PLACEHOLDER)),
        }
        if face_side > 0:
            outputs[contract.FACE_INPUT_SIDE] = tf.fill([n], tf.constant(face_side, tf.int32))
        if names:
            outputs[contract.MEMBER_NAMES] = tf.tile(tf.constant([names]), [n, 1])
        if audio_row is not None:
            outputs[contract.AUDIO_SAMPLE_RATE_OUTPUT] = tf.fill([n], AUDIO_SAMPLE_RATE)
            outputs[contract.AUDIO_COMBINATION_OUTPUT] = tf.tile(
                tf.constant([audio_row], tf.float32), [n, 1]
            )
        if motion_row is not None:
            outputs[MOTION_COMBINATION_OUTPUT] = tf.tile(
                tf.constant([motion_row], tf.float32), [n, 1]
            )
        if visual is not None:
            outputs[VISUAL_THRESHOLD_OUTPUT] = tf.fill([n], visual)
        return outputs

    archive.add_endpoint(contract.MODEL_INFO_SIGNATURE, model_info)


def build_archive(
    model: keras.Model,
    *,
    threshold: float,
    input_size: tuple[int, int],
    sequence_length: int = 0,
    kind: str = contract.MODEL_KIND_DETECTOR,
    calibration: Calibration = IDENTITY,
    operating_points: Sequence[Mapping[str, Any]] | None = None,
) -> keras.export.ExportArchive:
    """Build the export archive of a frame classifier.

    ``model`` maps float32 frames in ``[0, 1]`` of shape ``[N, *input_size, 3]`` to a fake
    probability ``[N]`` or ``[N, 1]``; ``calibration`` is applied to it in the graph.
    ``threshold`` (on the uncalibrated scale) becomes a constant of the graph on the
    calibrated scale, so that clients learn the version's decision threshold from the
    version itself. ``sequence_length`` is announced in ``model_info`` when the caller adds
    a sequence head.
    ``kind`` says in ``model_info`` whether the version is a detector or the demo, and
    ``operating_points`` its named thresholds (:func:`add_model_info`).
    """
    archive = keras.export.ExportArchive()
    archive.track(model)
    threshold_value = calibration.apply_threshold(threshold)
    size = (int(input_size[0]), int(input_size[1]))

    @tf.function(input_signature=[frames_spec()])
    def serve(frames: tf.Tensor) -> dict[str, tf.Tensor]:
        return {
            contract.FAKE_PROBABILITY: classify_images(model, frames, size, calibration),
            # Per row, not scalar: TF Serving's batching splits every output on dim 0.
            contract.THRESHOLD: tf.fill([tf.shape(frames)[0]], threshold_value),
        }

    archive.add_endpoint(contract.SERVING_SIGNATURE, serve)
    add_model_info(
        archive,
        threshold=threshold_value,
        frame_min_side=frame_min_side_for(size),
        sequence_length=sequence_length,
        kind=kind,
        operating_points=operating_points,
    )
    return archive


def model_kind_for(info: Mapping[str, Any] | None) -> str:
    """The ``model_kind`` of a version whose export info is ``info``: its ``kind`` entry
    ``"demo"`` (what :mod:`model_export.demo` records) makes it the demo, anything else a
    detector."""
    if (info or {}).get("kind") == contract.MODEL_KIND_DEMO:
        return contract.MODEL_KIND_DEMO
    return contract.MODEL_KIND_DETECTOR


def publish_version(
    model: keras.Model,
    base_path: Path,
    name: str,
    *,
    threshold: float,
    input_size: tuple[int, int],
    version: int | None = None,
    info: Mapping[str, Any] | None = None,
    gate: Gate | None = None,
    calibration: Calibration = IDENTITY,
    evidence: Evidence | None = None,
) -> Path:
    """Export a Keras frame classifier whole-frame and publish it as a version of ``name``.

    ``model`` maps float32 frames in ``[0, 1]`` of shape ``[N, *input_size, 3]`` to a fake
    probability. ``calibration`` is applied in the graph and ``threshold`` (uncalibrated
    scale) is shipped on the calibrated scale. With ``version=None`` the next
    integer version is used; ``gate`` may refuse the version
    (see :func:`model_export.publish.publish_directory`). An ``info`` whose ``kind`` is
    ``"demo"`` marks the version as the demo in ``model_info`` (:func:`model_kind_for`).
    ``evidence`` (the labelled video scores the threshold was fitted on) gives the version its
    measured operating points; without it only the shipped threshold is listed.
    Returns the version directory.
    """
    points = operating_points(calibration.apply_threshold(threshold), evidence)
    return publish_archive(
        lambda: build_archive(
            model,
            threshold=threshold,
            input_size=input_size,
            kind=model_kind_for(info),
            calibration=calibration,
            operating_points=points,
        ),
        warmup.warmup_requests(name),
        base_path,
        name,
        info=version_info(
            threshold=threshold,
            input_size=input_size,
            info=info,
            calibration=calibration,
            operating_points=points,
        ),
        version=version,
        gate=gate,
    )
