"""Stability of a version's scores under re-encoding (``evaluate --robustness``).

Every clip (or a stratified subset, :func:`stratified_subset`) is transformed by each
:data:`contract.reencode.TRANSFORMS` into a temporary directory, scored by the same path
as the original (:func:`model_export.evaluate.score_video`: the same decode, faces and
aggregation), and the copy deleted once scored. Per transform the report gives:

* the video ROC-AUC of the version as shipped on the transformed clips, beside the same
  figure on the originals, with a 95% bootstrap interval over sources when the protocol
  is used, over videos otherwise; with a leave-one-source-out report, also the out-of-fold
  ROC-AUC (each video rescored with its fold's calibration, fitted on original clips);
* how far scores move: the median and 90th percentile of ``|score - original score|``, and
  the share of videos whose verdict at the version's threshold flips; with the protocol,
  the same out of fold (fold calibrations, each video at its fold's threshold).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from contract.reencode import TRANSFORMS, Transform, transcode
from model_export import roc
from model_export.calibration import Calibration
from model_export.datasets import LabelledVideo

if TYPE_CHECKING:
    from model_export.evaluate import VideoResult

log = logging.getLogger(__name__)

RESAMPLES = 2000


def stratified_subset(videos: Sequence[LabelledVideo], per_group: int | None) -> list[int]:
    """Indices of at most ``per_group`` videos per (source, label), in discovery order
    (``None``: every video). The first ones are taken, so the subset repeats."""
    if per_group is None:
        return list(range(len(videos)))
    taken: dict[tuple[str, int], int] = {}
    chosen = []
    for i, video in enumerate(videos):
        key = (video.source, video.label)
        if taken.get(key, 0) < per_group:
            taken[key] = taken.get(key, 0) + 1
            chosen.append(i)
    return chosen


def score_transformed(
    version: Path,
    videos: Sequence[LabelledVideo],
    frames_per_video: int,
    transforms: Sequence[Transform] = TRANSFORMS,
) -> dict[str, list[VideoResult]]:
    """Score every transform of every video with ``version``, by transform name.

    Copies are written to a temporary directory one clip at a time and removed as soon as
    they are scored, so the disk holds one clip's copies at most. Results keep the original
    clip's path.
    """
    from model_export.evaluate import score_video
    from model_export.savedmodel import load_version

    scored: dict[str, list[VideoResult]] = {t.name: [] for t in transforms}
    with load_version(version) as loaded, tempfile.TemporaryDirectory(prefix="robust-") as tmp:
        threshold = loaded.threshold()
        for i, video in enumerate(videos, start=1):
            copies = transcode(video.path, Path(tmp), transforms)
            for name, path in copies.items():
                result = score_video(loaded, replace(video, path=path), frames_per_video, threshold)
                scored[name].append(replace(result, path=video.path))
                path.unlink()
            log.info("transforms scored", extra={"video": video.path.name, "done": i,
                                                 "videos": len(videos)})  # fmt: skip
    return scored


def _oof_scores(results: Sequence[VideoResult], loso: dict[str, Any]) -> np.ndarray:
    """Video scores had each video's fold calibration (from ``loso``) been in the graph."""
    from model_export.evaluate import rescore

    calibration = {f["fold"]: Calibration.from_dict(f["calibration"]) for f in loso["folds"]}
    fold_of = {p["file"]: p["fold"] for p in loso["predictions"]}
    return np.array([
        rescore(v.frames, face_aware=v.face_aware, calibration=calibration[fold_of[str(v.path)]],
                threshold=0.5).score
        for v in results
    ])  # fmt: skip


def _movement(moved: np.ndarray, base: np.ndarray, threshold: np.ndarray | float) -> dict:
    """How far scores moved from ``base``, and the share of verdicts at ``threshold`` flipped."""
    delta = np.abs(moved - base)
    return {
        "abs_delta_median": float(np.median(delta)),
        "abs_delta_p90": float(np.percentile(delta, 90)),
        "abs_delta_max": float(np.max(delta)),
        "mean_delta": float(np.mean(moved - base)),
        "verdict_flips": float(np.mean((moved >= threshold) != (base >= threshold))),
    }


def _auc(labels: np.ndarray, scores: np.ndarray, clusters: np.ndarray | None, seed: int) -> dict:
    return roc.bootstrap_ci(
        labels, scores, roc.roc_auc, resamples=RESAMPLES, seed=seed, clusters=clusters
    ).as_dict()


def figures(
    original: Sequence[VideoResult],
    transformed: dict[str, list[VideoResult]],
    threshold: float,
    *,
    loso: dict[str, Any] | None = None,
    seed: int = 0,
    transforms: Sequence[Transform] = TRANSFORMS,
) -> dict[str, Any]:
    """The stability figures of ``transformed`` results against the ``original`` ones of
    the same videos (same order); ``loso`` is a leave-one-source-out report of the originals
    (intervals then resample sources, and out-of-fold ROC-AUCs are added)."""
    labels = np.array([v.label for v in original])
    base = np.array([v.score for v in original])
    clusters = np.array([v.source for v in original]) if loso is not None else None
    base_oof = _oof_scores(original, loso) if loso is not None else None
    if loso is not None:
        threshold_of = {p["file"]: p["threshold_loso"] for p in loso["predictions"]}
        fold_thresholds = np.array([threshold_of[str(v.path)] for v in original])
    rows = []
    for t in transforms:
        results = transformed[t.name]
        if [str(v.path) for v in results] != [str(v.path) for v in original]:
            raise ValueError(f"transform {t.name} scored other videos than the originals")
        moved = np.array([v.score for v in results])
        row: dict[str, Any] = {
            **t.as_dict(),
            "roc_auc": _auc(labels, moved, clusters, seed),
            "roc_auc_change": roc.roc_auc(labels, moved) - roc.roc_auc(labels, base),
            **_movement(moved, base, threshold),
        }
        if base_oof is not None:
            oof = _oof_scores(results, loso)
            row["roc_auc_loso"] = _auc(labels, oof, clusters, seed)
            # On the calibrated scale the service answers in, at each video's fold threshold.
            row["loso"] = _movement(oof, base_oof, fold_thresholds)
        rows.append(row)
    report: dict[str, Any] = {
        "videos": len(original),
        "sources": len({v.source for v in original}),
        "fake": int(labels.sum()),
        "real": int(len(labels) - labels.sum()),
        "threshold": threshold,
        "interval_unit": "source" if loso is not None else "video",
        "scores": "as shipped (the version's own calibration)",
        "original": {"roc_auc": _auc(labels, base, clusters, seed)},
        "transforms": rows,
    }
    if base_oof is not None:
        report["original"]["roc_auc_loso"] = _auc(labels, base_oof, clusters, seed)
    return report


def probe(
    version: Path,
    videos: Sequence[LabelledVideo],
    results: Sequence[VideoResult],
    frames_per_video: int,
    threshold: float,
    *,
    per_group: int | None = None,
    loso: dict[str, Any] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Score the transforms of ``videos`` (or :func:`stratified_subset` of them) and return
    :func:`figures` against their original ``results`` (same order as ``videos``)."""
    chosen = stratified_subset(videos, per_group)
    by_path = {str(v.path): v for v in results}
    original = [by_path[str(videos[i].path)] for i in chosen]
    transformed = score_transformed(version, [videos[i] for i in chosen], frames_per_video)
    report = figures(original, transformed, threshold, loso=loso, seed=seed)
    report["subset"] = (
        "every video" if per_group is None else f"up to {per_group} per source and label"
    )
    return report


def _ci(interval: dict[str, Any] | None) -> str:
    if not interval or not np.isfinite(interval["point"]):
        return "–"
    if not np.isfinite(interval["low"]):
        return f"{interval['point']:.3f}"
    return f"{interval['point']:.3f} [{interval['low']:.3f}, {interval['high']:.3f}]"


def markdown(report: dict[str, Any]) -> str:
    """The stability section of a report, as markdown."""
    loso = "roc_auc_loso" in report["original"]
    unit = report["interval_unit"]
    head = ["transform", f"ROC-AUC as shipped [95% CI, {unit}s]"]
    head += [f"ROC-AUC out of fold [95% CI, {unit}s]"] if loso else []
    head += ["median abs Δscore", "p90 abs Δscore", "verdict flips"]
    head += ["out of fold: median / p90 abs Δscore, flips"] if loso else []
    lines = [
        "## Stability under re-encoding",
        "",
        f"{report['videos']} videos ({report['fake']} FAKE, {report['real']} REAL) from "
        f"{report['sources']} sources ({report['subset']}); scores as shipped, verdicts at "
        f"the version's threshold {report['threshold']:.4f}.",
        "",
        "| " + " | ".join(head) + " |",
        "| " + " | ".join("---" for _ in head) + " |",
    ]
    first = ["original", _ci(report["original"]["roc_auc"])]
    first += [_ci(report["original"]["roc_auc_loso"])] if loso else []
    lines.append("| " + " | ".join([*first, "–", "–", "–"] + (["–"] if loso else [])) + " |")
    for row in report["transforms"]:
        cells = [f"`{row['name']}` ({row['description']})", _ci(row["roc_auc"])]
        cells += [_ci(row["roc_auc_loso"])] if loso else []
        cells += [f"{row['abs_delta_median']:.3f}", f"{row['abs_delta_p90']:.3f}",
                  f"{row['verdict_flips']:.3f}"]  # fmt: skip
        if loso:
            m = row["loso"]
            cells.append(f"{m['abs_delta_median']:.3f} / {m['abs_delta_p90']:.3f}, "
                         f"{m['verdict_flips']:.3f}")  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def summary_lines(report: dict[str, Any]) -> list[str]:
    """One line per transform, for the command's output."""
    return [
        f"{row['name']:7s}: ROC-AUC {row['roc_auc']['point']:.3f} "
        f"(original {report['original']['roc_auc']['point']:.3f}), |Δscore| median "
        f"{row['abs_delta_median']:.3f} p90 {row['abs_delta_p90']:.3f}, verdict flips "
        f"{row['verdict_flips']:.3f}"
        for row in report["transforms"]
    ]
