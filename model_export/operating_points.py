"""Named operating points of a version: the thresholds a caller may choose between.

Every published version lists them in its export info and in its ``model_info``
(:data:`contract.OPERATING_POINTS`, a JSON string):

* ``balanced``: the threshold the version ships (fitted to maximise accuracy at
  :data:`model_export.calibration.DEPLOYMENT_FAKE_PRIOR`, balanced accuracy at 0.5);
* ``low_false_positive``: the lowest threshold whose false-positive rate on the fit set is at
  most :data:`LOW_FPR_TARGET`;
* ``high_recall``: the highest threshold whose detection rate on the fit set is at least
  :data:`HIGH_RECALL_TARGET`.

Thresholds are on the calibrated scale the graph outputs. The rates are measured on the video
scores the threshold was fitted on (:class:`Evidence`), with percentile bootstrap intervals at
the fixed threshold (:func:`model_export.roc.bootstrap_ci`, over sources when they are known,
else over videos). A version published without labelled data lists ``balanced`` alone, with
no rates: nothing was measured, so nothing is claimed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import contract
from model_export import roc

log = logging.getLogger(__name__)

#: ``low_false_positive`` keeps the false-positive rate on its fit set at or below this.
LOW_FPR_TARGET = 0.05
#: ``high_recall`` keeps the detection rate on its fit set at or above this.
HIGH_RECALL_TARGET = 0.95
#: Bootstrap resamples of each rate's interval (seeded, so the intervals repeat).
RESAMPLES = 2000


@dataclass(frozen=True)
class Evidence:
    """The labelled video scores a version's threshold was fitted on.

    ``scores`` are video scores on the calibrated scale (the gateway's video score of the
    calibrated graph); ``fitted_on`` says which scores they are (``validation``,
    ``out_of_fold``, ``calibration_data``) and ``data`` what data they came from.
    ``clusters`` (one source name per video), when known, make the intervals resample sources.
    """

    labels: np.ndarray
    scores: np.ndarray
    fitted_on: str
    data: str
    clusters: np.ndarray | None = None


def _rate(predicted_class: bool, threshold: float) -> Callable[[np.ndarray, np.ndarray], float]:
    """Share of the videos of ``predicted_class`` (True: fakes) flagged at ``threshold``."""

    def rate(labels: np.ndarray, scores: np.ndarray) -> float:
        members = np.asarray(labels).astype(bool) == predicted_class
        if not members.any():
            return float("nan")
        return float(np.mean(np.asarray(scores)[members] >= threshold))

    return rate


def _between(scores: np.ndarray, at: float) -> float:
    """A threshold that flags the scores ``>= at`` and nothing lower: halfway to the next lower
    score (so that small drifts of the same scores do not flip verdicts), or ``at`` itself."""
    lower = scores[scores < at]
    return float((at + lower.max()) / 2) if lower.size else float(at)


def _above_all(scores: np.ndarray) -> float:
    """A threshold that flags none of ``scores`` (1.0 when a score already reaches 1)."""
    return float(min(1.0, np.nextafter(scores.max(), np.inf)))


def low_false_positive_threshold(
    labels: np.ndarray, scores: np.ndarray, target: float = LOW_FPR_TARGET
) -> float:
    """The lowest threshold whose false-positive rate on ``labels``/``scores`` is ``<= target``."""
    fpr, _, thresholds = roc.roc_curve(labels, scores)
    s = np.asarray(scores, dtype=np.float64)
    # fpr grows as the threshold falls: the last point within the target is the lowest one.
    index = int(np.flatnonzero(fpr <= target + 1e-12)[-1])
    return _above_all(s) if not np.isfinite(thresholds[index]) else _between(s, thresholds[index])


def high_recall_threshold(
    labels: np.ndarray, scores: np.ndarray, target: float = HIGH_RECALL_TARGET
) -> float:
    """The highest threshold whose detection rate on ``labels``/``scores`` is ``>= target``."""
    _, tpr, thresholds = roc.roc_curve(labels, scores)
    s = np.asarray(scores, dtype=np.float64)
    # tpr grows as the threshold falls: the first point reaching the target is the highest.
    index = int(np.flatnonzero(tpr >= target - 1e-12)[0])
    return _between(s, thresholds[index])


def _interval(interval: roc.Interval) -> dict[str, float | int | None]:
    def value(x: float) -> float | None:
        return round(float(x), 6) if np.isfinite(x) else None

    return {
        "point": value(interval.point),
        "low": value(interval.low),
        "high": value(interval.high),
        "level": interval.level,
        "resamples": interval.resamples,
    }


def unmeasured_points(threshold: float) -> list[dict[str, Any]]:
    """The points of a version published without labelled data: ``balanced`` alone, the
    shipped threshold, with no rates."""
    return [
        {
            "name": contract.OPERATING_POINT_BALANCED,
            "threshold": float(threshold),
            "target": None,
            "false_positive_rate": None,
            "detection_rate": None,
            "videos": None,
            "fitted_on": "none",
            "data": "none",
            "interval_over": None,
        }
    ]


def operating_points(threshold: float, evidence: Evidence | None) -> list[dict[str, Any]]:
    """The named operating points of a version that ships ``threshold`` (calibrated scale).

    ``balanced`` is ``threshold`` itself; ``low_false_positive`` and ``high_recall`` are fitted
    on ``evidence`` (see the module docstring). Each point records its threshold, its target,
    its false-positive and detection rates on ``evidence`` with 95% bootstrap intervals, the
    number of real and fake videos, and what they were. Without evidence holding both classes,
    :func:`unmeasured_points`.
    """
    if evidence is None:
        return unmeasured_points(threshold)
    y = np.asarray(evidence.labels).astype(bool)
    s = np.asarray(evidence.scores, dtype=np.float64)
    if len(y) != len(s):
        raise ValueError(f"{len(y)} labels for {len(s)} scores")
    if y.all() or not y.any():
        log.warning(
            "operating points need real and fake videos; listing the shipped threshold only",
            extra={"videos": len(y), "fakes": int(y.sum())},
        )
        return unmeasured_points(threshold)
    fitted = [
        (contract.OPERATING_POINT_BALANCED, float(threshold), None),
        (
            contract.OPERATING_POINT_LOW_FALSE_POSITIVE,
            low_false_positive_threshold(y, s),
            {"false_positive_rate_at_most": LOW_FPR_TARGET},
        ),
        (
            contract.OPERATING_POINT_HIGH_RECALL,
            high_recall_threshold(y, s),
            {"detection_rate_at_least": HIGH_RECALL_TARGET},
        ),
    ]
    points = []
    for name, t, target in fitted:
        rates = {
            key: _interval(
                roc.bootstrap_ci(
                    y, s, _rate(fake, t), resamples=RESAMPLES, clusters=evidence.clusters
                )
            )
            for key, fake in (("false_positive_rate", False), ("detection_rate", True))
        }
        points.append(
            {
                "name": name,
                "threshold": t,
                "target": target,
                **rates,
                "videos": {"real": int((~y).sum()), "fake": int(y.sum())},
                "fitted_on": evidence.fitted_on,
                "data": evidence.data,
                "interval_over": "sources" if evidence.clusters is not None else "videos",
            }
        )
    log.info(
        "operating points",
        extra={p["name"]: round(p["threshold"], 4) for p in points},
    )
    return points
