"""Scores against labels in plain numpy (label 1 = fake): ROC curve and AUC, log-loss, the
calibrated threshold, accuracy, precision, recall and F1 at a threshold, and bootstrap
confidence intervals of any of them.

These are offline evaluation figures of a detector, not the service's Prometheus metrics.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from model_export.calibration import DEPLOYMENT_FAKE_PRIOR, class_weights


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False and true positive rates at every distinct score, and those thresholds.

    A sample is predicted fake when ``score >= threshold``. The first point is (0, 0) with
    threshold ``inf``.
    """
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, kind="mergesort")
    sorted_scores, sorted_labels = scores[order], labels[order]
    # Keep the last index of each run of equal scores.
    last = np.r_[np.flatnonzero(np.diff(sorted_scores)), len(sorted_scores) - 1]
    tp = np.cumsum(sorted_labels)[last]
    fp = np.cumsum(~sorted_labels)[last]
    positives, negatives = max(labels.sum(), 1), max((~labels).sum(), 1)
    fpr = np.r_[0.0, fp / negatives]
    tpr = np.r_[0.0, tp / positives]
    thresholds = np.r_[np.inf, sorted_scores[last]]
    return fpr, tpr, thresholds


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve; NaN when only one class is present."""
    labels = np.asarray(labels).astype(bool)
    if labels.all() or not labels.any():
        return float("nan")
    fpr, tpr, _ = roc_curve(labels, scores)
    return float(np.trapezoid(tpr, fpr))


def prior_weights(labels: np.ndarray, fake_prior: float | None) -> np.ndarray | None:
    """Per-video weights putting the classes at ``fake_prior`` (None: every video the same).

    The weights of :func:`model_export.calibration.class_weights`, the ones every fit of the
    protocol uses, so a figure at the prior describes videos met at the deployment prior
    whatever the evaluated set's share of fakes. With ``fake_prior`` set and a class absent
    the prior cannot be met: None is returned and the figures below are NaN.
    """
    if fake_prior is None:
        return np.ones(len(labels))
    y = np.asarray(labels).astype(bool)
    if y.all() or not y.any():
        return None
    return class_weights(y, fake_prior)


def log_loss(
    labels: np.ndarray,
    scores: np.ndarray,
    eps: float = 1e-7,
    *,
    fake_prior: float | None = None,
) -> float:
    """Mean binary cross-entropy, probabilities clipped to ``[eps, 1 - eps]``.

    With ``fake_prior`` the mean weighs the classes to it (:func:`prior_weights`).
    """
    y = np.asarray(labels, dtype=np.float64)
    w = prior_weights(y, fake_prior)
    if not len(y) or w is None:
        return float("nan")
    p = np.clip(np.asarray(scores, dtype=np.float64), eps, 1 - eps)
    return float(-np.average(y * np.log(p) + (1 - y) * np.log(1 - p), weights=w))


def brier(labels: np.ndarray, scores: np.ndarray, *, fake_prior: float | None = None) -> float:
    """Mean squared difference between the probability and the 0/1 label (Brier score).

    With ``fake_prior`` the mean weighs the classes to it (:func:`prior_weights`).
    """
    y = np.asarray(labels, dtype=np.float64)
    w = prior_weights(y, fake_prior)
    if not len(y) or w is None:
        return float("nan")
    p = np.asarray(scores, dtype=np.float64)
    return float(np.average((p - y) ** 2, weights=w))


#: Equal-width probability bins of :func:`expected_calibration_error`.
ECE_BINS = 10


@dataclass(frozen=True)
class CalibrationBin:
    """One equal-width probability bin of :func:`calibration_bins`."""

    #: The bin is ``[low, high)`` (the last one ``[low, 1]``).
    low: float
    high: float
    videos: int
    fake: int
    #: Share of the total weight in this bin (``videos / total`` unweighted).
    weight: float
    #: Weighted mean probability and weighted share of fakes of the bin (None when empty).
    mean_probability: float | None
    fake_rate: float | None

    def as_dict(self) -> dict[str, float | int]:
        """Plain dict for JSON."""
        return asdict(self)


def calibration_bins(
    labels: np.ndarray,
    scores: np.ndarray,
    bins: int = ECE_BINS,
    *,
    fake_prior: float | None = None,
) -> list[CalibrationBin]:
    """Every one of ``bins`` equal-width bins of ``[0, 1]`` with its videos' mean probability
    and observed share of fakes, both weighted to ``fake_prior`` (:func:`prior_weights`).

    A probability of exactly 1 falls in the last bin. Empty when the weights are undefined.
    """
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(scores, dtype=np.float64)
    w = prior_weights(y, fake_prior)
    if not len(y) or w is None:
        return []
    index = np.minimum((p * bins).astype(int), bins - 1)
    total = float(w.sum())
    out = []
    for b in range(bins):
        m = index == b
        weight = float(w[m].sum())
        out.append(
            CalibrationBin(
                low=b / bins,
                high=(b + 1) / bins,
                videos=int(m.sum()),
                fake=int(y[m].sum()),
                weight=weight / total,
                mean_probability=float(np.average(p[m], weights=w[m])) if weight else None,
                fake_rate=float(np.average(y[m], weights=w[m])) if weight else None,
            )
        )
    return out


def expected_calibration_error(
    labels: np.ndarray,
    scores: np.ndarray,
    bins: int = ECE_BINS,
    *,
    fake_prior: float | None = None,
) -> float:
    """Expected calibration error over ``bins`` equal-width bins of ``[0, 1]``.

    The mean over videos of ``|share of fakes - mean probability|`` of each video's bin (a
    probability of exactly 1 falls in the last bin, :func:`calibration_bins`); with
    ``fake_prior`` the videos, shares and means are weighted to it.
    """
    found = calibration_bins(labels, scores, bins, fake_prior=fake_prior)
    if not found:
        return float("nan")
    return float(sum(b.weight * abs(b.fake_rate - b.mean_probability) for b in found if b.videos))


def best_threshold(
    labels: np.ndarray, scores: np.ndarray, *, fake_prior: float = DEPLOYMENT_FAKE_PRIOR
) -> float:
    """Threshold that maximises accuracy at the deployment prior on ``labels``/``scores``.

    The objective is ``fake_prior * TPR + (1 - fake_prior) * TNR``: the classes weighted to
    the prior, not to the set's share of fakes; at 0.5 it is balanced accuracy (Youden's J).
    Ties go to the threshold closest to 0.5; with one class present, 0.5 is returned.
    """
    labels = np.asarray(labels).astype(bool)
    if labels.all() or not labels.any():
        return 0.5
    fpr, tpr, thresholds = roc_curve(labels, scores)
    finite = np.isfinite(thresholds)
    j = np.where(finite, fake_prior * tpr - (1 - fake_prior) * fpr, -np.inf)
    best = np.flatnonzero(j >= j.max() - 1e-12)
    # Place the threshold between the chosen score and the next lower one, so that small
    # drifts of the same scores do not flip verdicts.
    candidates = []
    scores = np.asarray(scores, dtype=np.float64)
    for i in best:
        t = thresholds[i]
        lower = scores[scores < t]
        candidates.append((t + lower.max()) / 2 if lower.size else t)
    candidates = np.asarray(candidates)
    return float(candidates[np.argmin(np.abs(candidates - 0.5))])


@dataclass(frozen=True)
class BinaryMetrics:
    """Metrics of one set of predictions at a fixed threshold."""

    count: int
    threshold: float
    accuracy: float
    precision: float
    recall: float
    f1: float
    roc_auc: float
    log_loss: float
    tp: int
    fp: int
    tn: int
    fn: int

    def as_dict(self) -> dict[str, float | int]:
        """Plain dict for JSON."""
        return asdict(self)


def binary_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float) -> BinaryMetrics:
    """Accuracy, precision, recall, F1, ROC-AUC and log-loss at ``threshold``."""
    y = np.asarray(labels).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    pred = s >= threshold
    tp = int(np.sum(pred & y))
    fp = int(np.sum(pred & ~y))
    tn = int(np.sum(~pred & ~y))
    fn = int(np.sum(~pred & y))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return BinaryMetrics(
        count=len(y),
        threshold=float(threshold),
        accuracy=float(np.mean(pred == y)) if len(y) else float("nan"),
        precision=precision,
        recall=recall,
        f1=f1,
        roc_auc=roc_auc(y, s),
        log_loss=log_loss(y, s),
        tp=tp,
        fp=fp,
        tn=tn,
        fn=fn,
    )


@dataclass(frozen=True)
class Interval:
    """A point estimate with a bootstrap confidence interval."""

    point: float
    low: float
    high: float
    #: Resamples the interval is made of (those where the metric was defined).
    resamples: int
    level: float = 0.95

    def as_dict(self) -> dict[str, float | int]:
        """Plain dict for JSON."""
        return asdict(self)


def bootstrap_ci(
    labels: np.ndarray,
    scores: np.ndarray,
    metric: Callable[[np.ndarray, np.ndarray], float],
    *,
    resamples: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    clusters: np.ndarray | None = None,
) -> Interval:
    """Percentile bootstrap interval of ``metric(labels, scores)``, resampling samples.

    Each resample draws ``len(labels)`` samples with replacement (seeded, so the interval
    repeats); resamples where the metric is undefined (an AUC of one class) are dropped
    and the count kept says how many remained. Samples here are videos: resampling them,
    not frames, respects that the frames of one video are not independent.

    With ``clusters`` (one cluster name per sample, e.g. its source), a resample draws as
    many clusters as there are, with replacement, and takes every sample of each (cluster
    bootstrap): the interval then covers the variation between clusters, which resampling
    samples of clustered data leaves out.
    """
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64)
    point = float(metric(y, s))
    n = len(y)
    if n == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0, level)
    members: list[np.ndarray] = []
    if clusters is not None:
        names = np.asarray(clusters)
        members = [np.flatnonzero(names == name) for name in sorted(set(names.tolist()))]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        if members:
            picked = rng.integers(0, len(members), len(members))
            index = np.concatenate([members[i] for i in picked])
        else:
            index = rng.integers(0, n, n)
        value = metric(y[index], s[index])
        if np.isfinite(value):
            values.append(value)
    if not values:
        return Interval(point, float("nan"), float("nan"), 0, level)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return Interval(point, float(low), float(high), len(values), level)
