"""Figures of pooled held-out scores: bootstrap intervals over sources and over videos,
within-fold ROC-AUCs, and rows per manipulation kind and per source.

Videos of one source share footage, processing and often identities, so they are not
independent draws: resampling videos gives intervals that are too narrow. The headline
intervals resample sources (cluster bootstrap: sources drawn with replacement, each with all
its videos, :func:`model_export.roc.bootstrap_ci` with ``clusters``); the video-resample
intervals are reported beside them.

A pooled ROC-AUC ranks videos scored by different folds' calibrations against each other;
a within-fold ROC-AUC ranks only videos one calibration scored, which a monotone calibration
cannot change, so the two side by side show how much pooling moves the figure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from model_export import roc
from model_export.manipulations import KINDS, REAL

DEFAULT_RESAMPLES = 2000


def _accuracy(labels: np.ndarray, correct: np.ndarray) -> float:
    # ``correct`` rides in the scores slot so the bootstrap resamples it with the labels.
    return float(np.mean(correct)) if len(correct) else float("nan")


def metrics_with_ci(
    labels: np.ndarray,
    scores: np.ndarray,
    thresholds: np.ndarray | float,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    clusters: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Video ROC-AUC, log-loss, Brier score, ECE (:data:`model_export.roc.ECE_BINS` equal-width
    bins) and accuracy, each with its bootstrap interval.

    With ``clusters`` (the source of each video) the intervals of ``roc_auc``, ``log_loss``
    and ``accuracy`` resample clusters and ``by_video`` holds those that resample videos;
    without, the intervals resample videos. ``interval_unit`` says which.
    """
    y = np.asarray(labels).astype(int)
    s = np.asarray(scores, dtype=np.float64)
    correct = ((s >= np.asarray(thresholds)) == y.astype(bool)).astype(np.float64)

    def intervals(groups: np.ndarray | None) -> dict[str, Any]:
        kwargs = {"resamples": resamples, "seed": seed, "clusters": groups}
        return {
            "roc_auc": roc.bootstrap_ci(y, s, roc.roc_auc, **kwargs).as_dict(),
            "log_loss": roc.bootstrap_ci(y, s, roc.log_loss, **kwargs).as_dict(),
            "brier": roc.bootstrap_ci(y, s, roc.brier, **kwargs).as_dict(),
            "ece": roc.bootstrap_ci(y, s, roc.expected_calibration_error, **kwargs).as_dict(),
            "accuracy": roc.bootstrap_ci(y, correct, _accuracy, **kwargs).as_dict(),
        }

    by_video = intervals(None)
    headline = by_video if clusters is None else intervals(np.asarray(clusters))
    report: dict[str, Any] = {
        "videos": len(y),
        "fake": int(y.sum()),
        "real": int(len(y) - y.sum()),
        "interval_unit": "video" if clusters is None else "source",
        **headline,
        "mean_score": float(np.mean(s)) if len(s) else float("nan"),
    }
    if clusters is not None:
        report["clusters"] = len(set(clusters))
        report["by_video"] = by_video
    return report


def _auc_or_none(labels: np.ndarray, scores: np.ndarray) -> float | None:
    value = roc.roc_auc(labels, scores)
    return value if math.isfinite(value) else None


def within_fold(
    labels: np.ndarray,
    scores: np.ndarray,
    fold_names: Sequence[str],
    folds: Sequence[Any],
    raw: np.ndarray | None = None,
) -> dict[str, Any]:
    """ROC-AUC inside each fold (``None`` where it holds one label) and their mean.

    ``folds`` are :class:`~model_export.protocol.fitting.FoldResult` (name, sources, reason);
    ``raw`` (the scores as shipped) adds the same figures for them.
    """
    y = np.asarray(labels).astype(int)
    s = np.asarray(scores, dtype=np.float64)
    names = np.asarray(fold_names, dtype=object)
    rows = []
    for fold in folds:
        m = names == fold.name
        row: dict[str, Any] = {
            "fold": fold.name,
            "sources": list(fold.sources),
            "reason": fold.reason,
            "videos": int(m.sum()),
            "fake": int(y[m].sum()),
            "real": int(m.sum() - y[m].sum()),
            "roc_auc": _auc_or_none(y[m], s[m]),
        }
        if raw is not None:
            row["roc_auc_as_shipped"] = _auc_or_none(y[m], np.asarray(raw)[m])
        rows.append(row)

    def mean(key: str) -> float | None:
        values = [r[key] for r in rows if r.get(key) is not None]
        return float(np.mean(values)) if values else None

    return {
        "folds": rows,
        "folds_with_both_labels": sum(1 for r in rows if r["roc_auc"] is not None),
        "mean_roc_auc": mean("roc_auc"),
        "mean_roc_auc_as_shipped": mean("roc_auc_as_shipped") if raw is not None else None,
    }


def kind_rows(
    kinds: Sequence[str],
    labels: np.ndarray,
    scores: np.ndarray,
    thresholds: np.ndarray | float,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """One row per manipulation kind, intervals over videos.

    A fake kind's accuracy is its detection rate and its ROC-AUC ranks its fakes against
    every real video; the real row's accuracy is the share of real videos called real. A
    kind without videos gets a row with ``videos = 0`` so that the gap shows. Most fake
    kinds come from one or two sources, too few to resample sources.
    """
    kinds_arr = np.asarray(kinds)
    y = np.asarray(labels).astype(int)
    s = np.asarray(scores, dtype=np.float64)
    t = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), s.shape)
    reals = kinds_arr == REAL
    rows = []
    for kind in KINDS:
        members = kinds_arr == kind
        row: dict[str, Any] = {"kind": kind, "videos": int(members.sum())}
        if members.any():
            correct = ((s[members] >= t[members]) == y[members].astype(bool)).astype(float)
            kwargs = {"resamples": resamples, "seed": seed}
            row["accuracy"] = roc.bootstrap_ci(y[members], correct, _accuracy, **kwargs).as_dict()
            row["log_loss"] = roc.bootstrap_ci(y[members], s[members], roc.log_loss, **kwargs)
            row["log_loss"] = row["log_loss"].as_dict()
            row["brier"] = roc.bootstrap_ci(y[members], s[members], roc.brier, **kwargs).as_dict()
            row["ece"] = roc.bootstrap_ci(
                y[members], s[members], roc.expected_calibration_error, **kwargs
            ).as_dict()
            row["mean_score"] = float(np.mean(s[members]))
            if kind != REAL and reals.any():
                pair = members | reals
                row["roc_auc_vs_real"] = roc.bootstrap_ci(
                    y[pair], s[pair], roc.roc_auc, **kwargs
                ).as_dict()
        rows.append(row)
    return rows


def source_rows(
    sources: Sequence[str],
    labels: np.ndarray,
    scores: np.ndarray,
    thresholds: np.ndarray,
    fold_names: Sequence[str],
) -> list[dict[str, Any]]:
    """Per source: its fold, counts, accuracy and log-loss of its held-out scores."""
    src = np.asarray(sources)
    y = np.asarray(labels).astype(int)
    names = np.asarray(fold_names, dtype=object)
    rows = []
    for source in sorted(set(sources)):
        m = src == source
        rows.append({
            "source": source,
            "fold": str(names[m][0]),
            "videos": int(m.sum()),
            "fake": int(y[m].sum()),
            "real": int(m.sum() - y[m].sum()),
            "accuracy": float(np.mean((scores[m] >= thresholds[m]) == y[m].astype(bool))),
            "log_loss": roc.log_loss(y[m], scores[m]),
            "mean_score": float(np.mean(scores[m])),
        })  # fmt: skip
    return rows
