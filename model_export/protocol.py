"""Leave-one-source-out (LOSO) evaluation of a published version, with bootstrap intervals.

Every source folder of the labelled clips (:attr:`LabelledVideo.source`) is one fold. The
version was trained elsewhere (imported weights, the demo), so a fold trains nothing: every
step fitted on data (the Platt calibration and the decision threshold) is fitted on the
other sources' videos only, and the held-out source is scored with them. The held-out
scores of all folds are pooled into one set of scores, each from a fit that never saw its
video's source, and the figures are computed on that set.

Each video is scored once through the version's TF1 session (as TF Serving runs it); a
fold's calibration is applied to the stored frame and face scores and aggregated by the
gateway's rule (:func:`model_export.evaluate.rescore`), which is what the version would
serve with that calibration in its graph.

For an architecture the pipeline trains (:func:`train_loso`, ``evaluate --train-arch``), a
fold trains one model on the other sources' folders with the training run of ``train``
(its validation split, calibration and threshold come from those sources too), publishes
it, and scores the held-out source with it as published.

Figures: video-level ROC-AUC, log-loss and accuracy with percentile bootstrap 95%
intervals (videos resampled, seeded), per manipulation kind
(:mod:`model_export.manipulations`) and per source, for the pooled LOSO scores and for the
version as shipped (its own calibration and threshold, nothing fitted here).

The whole protocol (folds, per-fold fitting and optional training, pooling, bootstrap
intervals, the report) is one module so that the rule "never scored on a source it was
fitted on" is written once.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from model_export import roc
from model_export.calibration import Calibration
from model_export.datasets import discover
from model_export.evaluate import (
    VideoResult,
    evaluate_version,
    fit_video_calibration,
    rescored_video_scores,
    resolve_version,
)
from model_export.manipulations import KINDS, REAL, manipulation_kind
from model_export.publish import INFO_RELATIVE_PATH

if TYPE_CHECKING:
    from model_export.training_run import PipelineConfig

log = logging.getLogger(__name__)

PROTOCOL = "leave-one-source-out"
#: Log-loss of answering 0.5 for every video.
NO_SKILL_LOG_LOSS = math.log(2.0)
DEFAULT_RESAMPLES = 2000


@dataclass(frozen=True)
class Fold:
    """One held-out source: indices of the videos fitted on and of those scored."""

    source: str
    fit: tuple[int, ...]
    held_out: tuple[int, ...]


def loso_folds(sources: Sequence[str]) -> list[Fold]:
    """One fold per distinct source, in sorted order; a source is never in its own fit set."""
    folds = []
    for source in sorted(set(sources)):
        held = tuple(i for i, s in enumerate(sources) if s == source)
        fit = tuple(i for i, s in enumerate(sources) if s != source)
        folds.append(Fold(source, fit, held))
    return folds


@dataclass(frozen=True)
class FoldResult:
    """What one fold fitted and how its held-out source scored."""

    source: str
    calibration: Calibration
    #: Threshold on the fold's calibrated scale, chosen on the fit set.
    threshold: float
    fit_videos: int
    held_out_videos: int

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return {
            "source": self.source,
            "calibration": self.calibration.as_dict(),
            "threshold": self.threshold,
            "fit_videos": self.fit_videos,
            "held_out_videos": self.held_out_videos,
        }


@dataclass
class LosoScores:
    """Pooled held-out scores: one calibrated score and one threshold per video."""

    folds: list[FoldResult]
    scores: np.ndarray
    thresholds: np.ndarray


def run_folds(videos: Sequence[VideoResult]) -> LosoScores:
    """Fit calibration and threshold on each fold's other sources; score its held-out one."""
    scores = np.full(len(videos), np.nan)
    thresholds = np.full(len(videos), np.nan)
    results = []
    for fold in loso_folds([v.source for v in videos]):
        fit = [videos[i] for i in fold.fit]
        held = [videos[i] for i in fold.held_out]
        calibration = fit_video_calibration(fit)
        fit_labels = np.array([v.label for v in fit])
        threshold = roc.best_threshold(fit_labels, rescored_video_scores(fit, calibration))
        scores[list(fold.held_out)] = rescored_video_scores(held, calibration)
        thresholds[list(fold.held_out)] = threshold
        results.append(FoldResult(fold.source, calibration, threshold, len(fit), len(held)))
        log.info(
            "fold held out",
            extra={"source": fold.source, "fit_videos": len(fit), "held_out": len(held),
                   "a": calibration.a, "b": calibration.b, "threshold": threshold},
        )  # fmt: skip
    return LosoScores(results, scores, thresholds)


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
) -> dict[str, Any]:
    """Video ROC-AUC, log-loss and accuracy, each with its bootstrap interval."""
    y = np.asarray(labels).astype(int)
    s = np.asarray(scores, dtype=np.float64)
    correct = ((s >= np.asarray(thresholds)) == y.astype(bool)).astype(np.float64)
    kwargs = {"resamples": resamples, "seed": seed}
    return {
        "videos": len(y),
        "fake": int(y.sum()),
        "real": int(len(y) - y.sum()),
        "roc_auc": roc.bootstrap_ci(y, s, roc.roc_auc, **kwargs).as_dict(),
        "log_loss": roc.bootstrap_ci(y, s, roc.log_loss, **kwargs).as_dict(),
        "accuracy": roc.bootstrap_ci(y, correct, _accuracy, **kwargs).as_dict(),
        "mean_score": float(np.mean(s)) if len(s) else float("nan"),
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
    """One row per manipulation kind.

    A fake kind's accuracy is its detection rate and its ROC-AUC ranks its fakes against
    every real video; the real row's accuracy is the share of real videos called real. A
    kind without videos gets a row with ``videos = 0`` so that the gap shows.
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
) -> list[dict[str, Any]]:
    """Per source: counts, accuracy and log-loss of its held-out scores (no intervals)."""
    src = np.asarray(sources)
    y = np.asarray(labels).astype(int)
    rows = []
    for source in sorted(set(sources)):
        m = src == source
        rows.append({
            "source": source,
            "videos": int(m.sum()),
            "fake": int(y[m].sum()),
            "real": int(m.sum() - y[m].sum()),
            "accuracy": float(np.mean((scores[m] >= thresholds[m]) == y[m].astype(bool))),
            "log_loss": roc.log_loss(y[m], scores[m]),
            "mean_score": float(np.mean(scores[m])),
        })  # fmt: skip
    return rows


def source_dirs(roots: Sequence[Path]) -> dict[str, Path]:
    """Every immediate subfolder of ``roots`` that holds labelled videos, by source name."""
    found: dict[str, Path] = {}
    for root in roots:
        for child in sorted(Path(root).iterdir()):
            if not child.is_dir():
                continue
            try:
                if discover([child]):
                    found[child.name] = child
            except ValueError:  # no known layout: not a source
                continue
    return found


def train_loso(
    roots: Sequence[Path], template: PipelineConfig, work_dir: Path, frames_per_video: int
) -> tuple[list[VideoResult], LosoScores]:
    """Train one model per held-out source on the other sources, score the held-out one.

    ``template`` is the training run to repeat (its ``data`` and ``output`` are replaced per
    fold; fold models go to ``work_dir/<source>/model``). Returns the held-out results of
    every fold, in discovery order, and the pooled scores with each fold's shipped threshold.
    """
    from model_export.training_run import run

    dirs = source_dirs(roots)
    videos = discover(list(dirs.values()))
    results: list[VideoResult | None] = [None] * len(videos)
    thresholds = np.full(len(videos), np.nan)
    folds = []
    for fold in loso_folds([v.source for v in videos]):
        fit_dirs = tuple(sorted({dirs[videos[i].source] for i in fold.fit}))
        config = replace(template, data=fit_dirs, output=work_dir / fold.source / "model")
        path, report = run(config)
        held = [videos[i] for i in fold.held_out]
        evaluation = evaluate_version(path, held, frames_per_video)
        for i, result in zip(fold.held_out, evaluation.videos, strict=True):
            results[i] = result
            thresholds[i] = evaluation.threshold
        calibration = Calibration.from_dict(report.get("calibration"))
        folds.append(
            FoldResult(fold.source, calibration, evaluation.threshold, len(fold.fit), len(held))
        )
        log.info("fold trained and scored", extra={"source": fold.source, "version": str(path)})
    scored = [r for r in results if r is not None]
    return scored, LosoScores(folds, np.array([r.score for r in scored]), thresholds)


def loso_report(
    videos: Sequence[VideoResult],
    shipped_threshold: float | None,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    loso: LosoScores | None = None,
) -> dict[str, Any]:
    """The LOSO figures of scored ``videos`` (see the module docstring), as a dict.

    ``loso`` gives pooled held-out scores already computed (per-fold training); without it
    the folds fit calibration and threshold on the stored scores of one version, and
    ``shipped_threshold`` is that version's (the ``as_shipped`` figures).
    """
    sources = [v.source for v in videos]
    if len(set(sources)) < 2:
        raise ValueError("leave-one-source-out needs videos from at least two sources")
    labels = np.array([v.label for v in videos])
    kinds = [manipulation_kind(v.source, v.path.name, v.label) for v in videos]
    raw = np.array([v.score for v in videos])
    loso = loso or run_folds(videos)
    prior = float(labels.mean())
    kwargs = {"resamples": resamples, "seed": seed}
    shipped = shipped_threshold is not None
    return {
        "protocol": PROTOCOL,
        "videos": len(videos),
        "sources": len(set(sources)),
        "fake": int(labels.sum()),
        "real": int(len(labels) - labels.sum()),
        "bootstrap": {"resamples": resamples, "seed": seed, "level": 0.95, "unit": "video"},
        "no_skill_log_loss": NO_SKILL_LOG_LOSS,
        "prior_log_loss": roc.log_loss(labels, np.full(len(labels), prior)),
        "loso": metrics_with_ci(labels, loso.scores, loso.thresholds, **kwargs),
        # One version scored every source: its figures with nothing fitted here.
        "as_shipped": (
            metrics_with_ci(labels, raw, shipped_threshold, **kwargs) if shipped else None
        ),
        "shipped_threshold": shipped_threshold,
        "kinds": kind_rows(kinds, labels, loso.scores, loso.thresholds, **kwargs),
        "kinds_as_shipped": (
            kind_rows(kinds, labels, raw, shipped_threshold, **kwargs) if shipped else None
        ),
        "per_source": source_rows(sources, labels, loso.scores, loso.thresholds),
        "folds": [f.as_dict() for f in loso.folds],
        "predictions": [
            {
                "file": str(v.path),
                "source": v.source,
                "kind": kind,
                "label": v.label,
                "score_as_shipped": float(r),
                "score_loso": float(s),
                "threshold_loso": float(t),
            }
            for v, kind, r, s, t in zip(
                videos, kinds, raw, loso.scores, loso.thresholds, strict=True
            )
        ],
    }


def _ci(interval: dict[str, Any] | None, digits: int = 3) -> str:
    if not interval or not np.isfinite(interval["point"]):
        return "–"
    point, low, high = interval["point"], interval["low"], interval["high"]
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{point:.{digits}f}"
    return f"{point:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def markdown(report: dict[str, Any], title: str = "") -> str:
    """The report's tables in markdown: pooled, per manipulation kind, per source."""
    lines = [f"### {title}".rstrip(), ""] if title else []
    lines += [
        f"{report['videos']} videos ({report['fake']} FAKE, {report['real']} REAL) from "
        f"{report['sources']} sources; 95% bootstrap intervals over "
        f"{report['bootstrap']['resamples']} video resamples (seed {report['bootstrap']['seed']}).",
        "",
        "| scores | video ROC-AUC | video log-loss | video accuracy |",
        "| --- | --- | --- | --- |",
    ]
    for key, name in (("loso", "LOSO (fitted on other sources)"), ("as_shipped", "as shipped")):
        m = report[key]
        if m is None:
            continue
        lines.append(
            f"| {name} | {_ci(m['roc_auc'])} | {_ci(m['log_loss'])} | {_ci(m['accuracy'])} |"
        )
    lines += [
        "",
        "| kind (LOSO) | videos | ROC-AUC vs all real | log-loss | accuracy | mean score |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in report["kinds"]:
        if not row["videos"]:
            lines.append(f"| {row['kind']} | 0 | – | – | – | – |")
            continue
        lines.append(
            f"| {row['kind']} | {row['videos']} | {_ci(row.get('roc_auc_vs_real'))} | "
            f"{_ci(row['log_loss'])} | {_ci(row['accuracy'])} | {row['mean_score']:.3f} |"
        )
    lines += [
        "",
        "| held-out source | videos (FAKE/REAL) | accuracy | log-loss | fold a, b | threshold |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    folds = {f["source"]: f for f in report["folds"]}
    for row in report["per_source"]:
        fold = folds[row["source"]]
        cal = fold["calibration"]
        lines.append(
            f"| `{row['source']}` | {row['videos']} ({row['fake']}/{row['real']}) | "
            f"{row['accuracy']:.3f} | {row['log_loss']:.3f} | {cal['a']:.3f}, {cal['b']:.3f} | "
            f"{fold['threshold']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def evaluate_loso(
    model: Path,
    data: Sequence[Path],
    frames_per_video: int,
    output: Path | None = None,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    train: PipelineConfig | None = None,
) -> tuple[dict[str, Any], Path]:
    """Score ``data`` with a version (or a model's highest), write the LOSO report.

    With ``train`` (a training run), one model per fold is trained instead
    (:func:`train_loso`) into ``model`` as a work directory. Writes ``loso.json``,
    ``loso.md`` and ``loso_predictions.csv`` into ``output`` (default
    ``var/eval/<model>-<version>-loso``); returns the report and that directory.
    """
    started = time.monotonic()
    if train is not None:
        output = output or Path("var/eval") / f"{model.name}-{train.train.arch}-loso"
        results, loso = train_loso(data, train, model, frames_per_video)
        if not results:
            raise FileNotFoundError("no labelled videos found")
        report = loso_report(results, None, resamples=resamples, seed=seed, loso=loso)
        report["version"] = {"trained_per_fold": train.train.arch, "work_dir": str(model)}
        title = f"{train.train.arch} trained per fold"
    else:
        version = resolve_version(model)
        videos = discover(data)
        if not videos:
            raise FileNotFoundError("no labelled videos found")
        output = output or Path("var/eval") / f"{version.parent.name}-{version.name}-loso"
        evaluation = evaluate_version(version, videos, frames_per_video)
        report = loso_report(
            evaluation.videos, evaluation.threshold, resamples=resamples, seed=seed
        )
        info_path = version / INFO_RELATIVE_PATH
        info = json.loads(info_path.read_text()) if info_path.is_file() else {}
        report["version"] = {
            "path": str(version),
            "kind": info.get("kind"),
            "calibration": info.get("calibration"),
        }
        title = f"{version.parent.name} v{version.name}"
    report["frames_per_video"] = frames_per_video
    report["seconds"] = {"total": time.monotonic() - started}
    output.mkdir(parents=True, exist_ok=True)
    (output / "loso.json").write_text(json.dumps(report, indent=2) + "\n")
    (output / "loso.md").write_text(markdown(report, title=title))
    with (output / "loso_predictions.csv").open("w", newline="") as handle:
        rows = report["predictions"]
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    log.info("LOSO report written", extra={"path": str(output), **report["seconds"]})
    return report, output


def summary_lines(report: dict[str, Any], report_dir: Path) -> list[str]:
    """Human-readable lines of a LOSO report."""
    lines = [
        f"{PROTOCOL}: {report['videos']} videos ({report['fake']} FAKE / {report['real']} REAL) "
        f"from {report['sources']} sources"
    ]
    for key in ("loso", "as_shipped"):
        m = report[key]
        if m is None:
            continue
        lines.append(
            f"{key:10s}: ROC-AUC {_ci(m['roc_auc'])}  log-loss {_ci(m['log_loss'])}  "
            f"accuracy {_ci(m['accuracy'])}"
        )
    lines.append(f"no-skill log-loss {report['no_skill_log_loss']:.3f}; report in {report_dir}")
    lines.append(f"took {report['seconds']['total']:.0f} s")
    return lines
