"""The talking-head member: a calibrated logistic model on a face track's motion features.

The member scores one face track (:mod:`contract.motion`'s ``classify_motion``) from the
features of :func:`model_export.motion_features.motion_features`, standardised by the fit
set's mean and spread, through a logistic model fitted with the classes weighted to
:data:`~model_export.calibration.DEPLOYMENT_FAKE_PRIOR` and a normal prior of precision
``l2`` on every standardised weight (:func:`model_export.member_fit.weighted_logistic`).
A logistic model, not a network: the labelled clips hold a few dozen talking heads, and its
probability is calibrated at the prior by the fit itself.

:func:`track_inputs` finds a labelled clip's face track as the gateway does (the in-graph
MTCNN with the face-aware versions' settings, :func:`contract.audio.audio_track_frames`),
:func:`fit_motion_model` fits, :func:`export_motion_member` writes the SavedModel whose
graph computes the features and the score, and :func:`publish_motion_member` publishes it
as a version. The command is ``python -m model_export train-motion``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

import contract
from contract.aggregation import frame_results
from contract.audio import audio_track_frames
from contract.motion import MOTION_SIGNATURE
from model_export.calibration import DEPLOYMENT_FAKE_PRIOR, class_weights
from model_export.datasets import LabelledVideo
from model_export.face_export import FaceConfig
from model_export.faces import detect_faces
from model_export.member_fit import weighted_logistic
from model_export.motion_features import FEATURE_NAMES, motion_features
from model_export.publish import publish_archive
from model_export.track_member_versions import add_member_info, track_specs
from model_export.video_io import decode_samples

log = logging.getLogger(__name__)

#: ``--arch`` of the talking-head member (its export info's ``arch``).
MOTION_ARCH = "talking_head"
#: Default precision of the prior on each standardised weight.
DEFAULT_L2 = 3.0
#: How the track's faces are found: the face-aware versions' default settings.
_FACES = FaceConfig()
#: Spreads below this are taken as this, so a constant feature does not blow up.
_MIN_SCALE = 1e-3


@dataclass(frozen=True)
class MotionModel:
    """A fitted talking-head member: ``P(fake) = sigmoid(bias + weights . (x - mean) / scale)``."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    l2: float = DEFAULT_L2

    def score(self, features: np.ndarray) -> np.ndarray:
        """P(fake) of feature rows ``[n, F]`` (numpy, the graph's arithmetic)."""
        z = (np.asarray(features, np.float64) - self.mean) / self.scale
        return 1.0 / (1.0 + np.exp(-np.clip(z @ np.asarray(self.weights) + self.bias, -50, 50)))

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for the export info, features named."""
        return {**asdict(self), "features": list(FEATURE_NAMES)}


def fit_motion_model(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    l2: float = DEFAULT_L2,
    fake_prior: float = DEPLOYMENT_FAKE_PRIOR,
) -> MotionModel:
    """Fit :class:`MotionModel` on feature rows ``[n, F]`` and 0/1 ``labels`` (both classes)."""
    x = np.asarray(features, np.float64)
    y = np.asarray(labels).astype(int)
    if x.ndim != 2 or x.shape[1] != len(FEATURE_NAMES) or len(x) != len(y):
        raise ValueError(f"expected [n, {len(FEATURE_NAMES)}] features and n labels")
    if len(set(y.tolist())) < 2:
        raise ValueError("fitting the talking-head member needs REAL and FAKE tracks")
    mean = x.mean(axis=0)
    scale = np.maximum(x.std(axis=0), _MIN_SCALE)
    design = np.concatenate([(x - mean) / scale, np.ones([len(y), 1])], axis=1)
    strength = np.array([l2] * x.shape[1] + [1e-6])  # the bias is (nearly) free
    theta = weighted_logistic(
        design, y, class_weights(y, fake_prior), np.zeros(x.shape[1] + 1), strength
    )
    return MotionModel(
        tuple(float(v) for v in mean),
        tuple(float(v) for v in scale),
        tuple(float(v) for v in theta[:-1]),
        float(theta[-1]),
        float(l2),
    )


def track_inputs(
    video: LabelledVideo, frames_per_video: int, faces: FaceConfig = _FACES
) -> tuple[np.ndarray, np.ndarray] | None:
    """The clip's face track as the gateway would send it: frames uint8 [T, H, W, 3] and
    boxes float32 [T, 4] (:func:`contract.audio.audio_track_frames` of the in-graph MTCNN's
    faces); None when no face lies inside the window."""
    clip = decode_samples(video.path, frames_per_video)
    boxes, scores, count = detect_faces(
        tf.constant(clip.frames),
        max_faces=faces.max_faces,
        min_face_size=faces.min_face_size,
        thresholds=faces.thresholds,
    )
    n = len(clip.frames)
    outputs = {
        contract.FAKE_PROBABILITY: np.zeros(n, np.float32),
        contract.FACE_BOXES: boxes.numpy(),
        contract.FACE_SCORES: scores.numpy(),
        contract.FACE_COUNT: count.numpy(),
        contract.FACE_FAKE_PROBABILITY: np.zeros(scores.shape, np.float32),
    }
    results, _ = frame_results(outputs, clip.times_s)
    picked = audio_track_frames(results, face_aware=True)
    if picked is None:
        return None
    rows, chosen = picked
    return clip.frames[rows], np.asarray(chosen, np.float32)


def track_features(frames: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """The feature row ``[F]`` of one track (eager :func:`motion_features`)."""
    return motion_features(tf.constant(frames[None]), tf.constant(boxes[None])).numpy()[0]


class _Parameters(tf.Module):
    """The fitted constants, tracked so the SavedModel holds them."""

    def __init__(self, model: MotionModel) -> None:
        super().__init__()
        self.mean = tf.Variable(model.mean, dtype=tf.float32, trainable=False)
        self.scale = tf.Variable(model.scale, dtype=tf.float32, trainable=False)
        self.weights = tf.Variable(model.weights, dtype=tf.float32, trainable=False)
        self.bias = tf.Variable(model.bias, dtype=tf.float32, trainable=False)


def motion_archive(model: MotionModel, *, threshold: float = 0.5) -> keras.export.ExportArchive:
    """The member's archive: ``classify_motion`` (features and score in the graph) and
    ``model_info``."""
    params = _Parameters(model)
    archive = keras.export.ExportArchive()
    archive.track(params)

    def classify(frames: tf.Tensor, boxes: tf.Tensor) -> dict[str, tf.Tensor]:
        z = (motion_features(frames, boxes) - params.mean) / params.scale
        score = tf.sigmoid(tf.reduce_sum(z * params.weights, axis=-1) + params.bias)
        return {
            contract.FAKE_PROBABILITY: score,
            contract.THRESHOLD: tf.fill(tf.shape(score), threshold),
        }

    archive.add_endpoint(MOTION_SIGNATURE, classify, input_signature=track_specs())
    add_member_info(archive, threshold)
    return archive


def export_motion_member(model: MotionModel, path: Path, *, threshold: float = 0.5) -> Path:
    """Write the member as a SavedModel at ``path`` (:func:`motion_archive`)."""
    motion_archive(model, threshold=threshold).write_out(str(path))
    return path


def publish_motion_member(
    model: MotionModel,
    output: Path,
    *,
    info: dict[str, Any],
    version: int | None = None,
) -> Path:
    """Publish the member as the next version of ``output`` (``<base>/<name>``)."""
    return publish_archive(
        lambda: motion_archive(model),
        [],
        output.parent,
        output.name,
        info={"kind": "detector", "arch": MOTION_ARCH, "motion": model.as_dict(), **info},
        version=version,
    )


def features_of(
    videos: Sequence[LabelledVideo], frames_per_video: int
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Feature rows and labels of the videos with a face track, and the indices of those."""
    rows, labels, kept = [], [], []
    for i, video in enumerate(videos):
        picked = track_inputs(video, frames_per_video)
        if picked is None:
            log.info("no face track", extra={"video": str(video.path)})
            continue
        rows.append(track_features(*picked))
        labels.append(video.label)
        kept.append(i)
    return np.array(rows).reshape(-1, len(FEATURE_NAMES)), np.array(labels), kept
