"""Fitting an ensemble's weights and threshold on labelled validation videos (numpy).

The members' frame logits are fitted by logistic regression, every video weighing the same,
then the threshold is calibrated on the combined video scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

import contract
from model_export import roc
from model_export.calibration import DEPLOYMENT_FAKE_PRIOR, logit
from model_export.datasets import LabelledVideo
from model_export.ensemble_combination import EPSILON, Combination, combine_numpy
from model_export.ensemble_graph import WHOLE_FRAME, EnsembleGraph
from model_export.train import video_scores
from model_export.video_io import sample_frames


def fit_logistic(
    features: np.ndarray,
    labels: np.ndarray,
    sample_weight: np.ndarray | None = None,
    l2: float = 1e-2,
    iterations: int = 50,
) -> tuple[np.ndarray, float]:
    """Weighted L2-regularised logistic regression by Newton's method; returns weights, bias.

    Classes are weighted to the deployment prior (fakes get
    :data:`~model_export.calibration.DEPLOYMENT_FAKE_PRIOR` of the total weight, reals the
    rest) so that an uneven validation set does not shift the bias; the bias is not
    regularised.
    """
    x = np.asarray(features, np.float64)
    y = np.asarray(labels, np.float64)
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, np.float64)
    for cls, share in ((0.0, 1 - DEPLOYMENT_FAKE_PRIOR), (1.0, DEPLOYMENT_FAKE_PRIOR)):
        total = w[y == cls].sum()
        if total > 0:
            w = np.where(y == cls, w * share / total, w)
    design = np.concatenate([x, np.ones([len(x), 1])], axis=1)
    theta = np.zeros(design.shape[1])
    penalty = np.full(design.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(design @ theta)))
        gradient = design.T @ (w * (p - y)) + penalty * theta
        hessian = (design * (w * p * (1 - p))[:, None]).T @ design + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        theta -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return theta[:-1], float(theta[-1])


@dataclass
class MemberOutputs:
    """The members' outputs on labelled videos, frame by frame."""

    member_face: np.ndarray
    face_count: np.ndarray
    member_whole: np.ndarray
    member_frame: np.ndarray
    labels: np.ndarray
    clip_ids: np.ndarray
    clip_labels: dict[int, int]


def score_videos(
    graph: EnsembleGraph, videos: Sequence[LabelledVideo], frames_per_video: int
) -> MemberOutputs:
    """Run the ensemble's graph (eagerly, the exported code) on ``videos``' sampled frames."""
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("face", "count", "whole", "frame")}
    labels, ids = [], []
    for i, video in enumerate(videos):
        out = graph.outputs(tf.constant(sample_frames(video.path, frames_per_video)))
        parts["face"].append(out[contract.MEMBER_FAKE_PROBABILITY].numpy())
        parts["count"].append(out[contract.FACE_COUNT].numpy())
        parts["whole"].append(out[WHOLE_FRAME].numpy())
        parts["frame"].append(out[contract.MEMBER_FRAME_FAKE_PROBABILITY].numpy())
        n = len(parts["count"][-1])
        labels.append(np.full(n, video.label))
        ids.append(np.full(n, i))
    return MemberOutputs(
        np.concatenate(parts["face"]),
        np.concatenate(parts["count"]),
        np.concatenate(parts["whole"]),
        np.concatenate(parts["frame"]),
        np.concatenate(labels),
        np.concatenate(ids),
        {i: v.label for i, v in enumerate(videos)},
    )


def fit_combination(scores: MemberOutputs) -> tuple[Combination, float, dict[str, Any]]:
    """Weights fitted on the members' frame logits, the video threshold, and the metrics.

    Every video weighs the same in the fit, whatever its number of frames.
    """
    counts = np.bincount(scores.clip_ids)
    sample_weight = 1.0 / counts[scores.clip_ids]
    weights, bias = fit_logistic(logit(scores.member_frame, EPSILON), scores.labels, sample_weight)
    combination = Combination(tuple(float(w) for w in weights), bias, len(scores.clip_labels))
    frame = combine_numpy(scores.member_face, scores.face_count, scores.member_whole, combination)
    ids, video = video_scores(frame, scores.clip_ids)
    video_labels = np.array([scores.clip_labels[int(i)] for i in ids])
    threshold = roc.best_threshold(video_labels, video)
    metrics = {"video": roc.binary_metrics(video_labels, video, threshold).as_dict()}
    for m in range(scores.member_frame.shape[1]):
        _, member_video = video_scores(scores.member_frame[:, m], scores.clip_ids)
        metrics[f"member_{m}_video_auc"] = roc.binary_metrics(
            video_labels, member_video, 0.5
        ).roc_auc
    return combination, threshold, metrics
