"""Running the protocol on disk: score a version (or train one model per fold), write the
report files (``loso.json``, ``loso.md``, ``loso_predictions.csv``)."""

from __future__ import annotations

import csv
import json
import logging
import pickle
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from contract.aggregation import DEFAULT_AGGREGATION, Aggregation
from model_export.calibration import Calibration
from model_export.datasets import discover
from model_export.evaluate import VideoResult, evaluate_version
from model_export.protocol.fitting import FoldResult, LosoScores
from model_export.protocol.folds import FOLD_GROUPS, FoldGroup, loso_folds
from model_export.protocol.metrics import DEFAULT_RESAMPLES
from model_export.protocol.report import loso_report, markdown
from model_export.publish import INFO_RELATIVE_PATH, resolve_version
from model_export.reliability import DIAGRAM_FILE, plot_reliability

if TYPE_CHECKING:
    from model_export.training_run import PipelineConfig

log = logging.getLogger(__name__)

#: File of the report directory holding the pickled :class:`VideoResult` list.
VIDEOS_FILE = "loso_videos.pkl"


def load_video_results(report_dir: Path) -> tuple[list[VideoResult], float | None]:
    """The per-video results :func:`evaluate_loso` kept in ``report_dir``, and the threshold
    the scored version ships (None for per-fold training). Trusted files only: this unpickles.
    """
    with (Path(report_dir) / VIDEOS_FILE).open("rb") as handle:
        # Written by evaluate_loso: the caller's own report directory.
        kept = pickle.load(handle)
    return kept["videos"], kept["threshold"]


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
    roots: Sequence[Path],
    template: PipelineConfig,
    work_dir: Path,
    frames_per_video: int,
    groups: Sequence[FoldGroup] = FOLD_GROUPS,
) -> tuple[list[VideoResult], LosoScores]:
    """Train one model per fold on the other folds' sources, score the held-out ones.

    ``template`` is the training run to repeat (its ``data`` and ``output`` are replaced per
    fold; fold models go to ``work_dir/<fold>/model``). Returns the held-out results of
    every fold, in discovery order, and the pooled scores with each fold's shipped threshold.
    """
    from model_export.training_run import run

    dirs = source_dirs(roots)
    videos = discover(list(dirs.values()))
    results: list[VideoResult | None] = [None] * len(videos)
    thresholds = np.full(len(videos), np.nan)
    names = np.empty(len(videos), dtype=object)
    folds = []
    for fold in loso_folds([v.source for v in videos], groups):
        fit_dirs = tuple(sorted({dirs[videos[i].source] for i in fold.fit}))
        config = replace(template, data=fit_dirs, output=work_dir / fold.name / "model")
        path, report = run(config)
        held = [videos[i] for i in fold.held_out]
        evaluation = evaluate_version(path, held, frames_per_video)
        for i, result in zip(fold.held_out, evaluation.videos, strict=True):
            results[i] = result
            thresholds[i] = evaluation.threshold
            names[i] = fold.name
        calibration = Calibration.from_dict(report.get("calibration"))
        folds.append(
            FoldResult(fold.name, fold.sources, calibration, evaluation.threshold,
                       len(fold.fit), len(held), fold.reason, report.get("pretext"))
        )  # fmt: skip
        log.info("fold trained and scored", extra={"fold": fold.name, "version": str(path)})
    scored = [r for r in results if r is not None]
    return scored, LosoScores(folds, np.array([r.score for r in scored]), thresholds, names)


def evaluate_loso(
    model: Path,
    data: Sequence[Path],
    frames_per_video: int,
    output: Path | None = None,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    train: PipelineConfig | None = None,
    aggregation: Aggregation = DEFAULT_AGGREGATION,
    floors: Sequence[float] | None = None,
    from_scores: Path | None = None,
    robustness: bool = False,
    robustness_per_group: int | None = None,
) -> tuple[dict[str, Any], Path]:
    """Score ``data`` with a version (or a model's highest), write the LOSO report.

    With ``train`` (a training run), one model per fold is trained instead
    (:func:`train_loso`) into ``model`` as a work directory. ``from_scores`` (an earlier
    report directory of the same version and data) reuses its kept scores instead of scoring
    again; ``aggregation`` and ``floors`` go to :func:`loso_report` (a published version only).
    With ``robustness`` (a published version only) the videos (at most
    ``robustness_per_group`` per source and label) are also scored re-encoded and
    transformed (:mod:`model_export.robustness`), in ``robustness`` of the report and
    ``loso.md``.
    Writes ``loso.json``, ``loso.md``, ``loso_predictions.csv``, the reliability diagram
    (:data:`~model_export.reliability.DIAGRAM_FILE`) and :data:`VIDEOS_FILE` (every
    video's per-frame and per-face results, :func:`load_video_results`) into ``output``
    (default ``var/eval/<model>-<version>-loso``); returns the report and that directory.
    """
    started = time.monotonic()
    if train is not None and (
        from_scores or floors or robustness or aggregation != DEFAULT_AGGREGATION
    ):
        raise ValueError(
            "aggregation, floors, kept scores and robustness apply to a published version only"
        )
    if train is not None:
        output = output or Path("var/eval") / f"{model.name}-{train.train.arch}-loso"
        results, loso = train_loso(data, train, model, frames_per_video)
        if not results:
            raise FileNotFoundError("no labelled videos found")
        threshold = None
        report = loso_report(results, None, resamples=resamples, seed=seed, loso=loso)
        report["version"] = {"trained_per_fold": train.train.arch, "work_dir": str(model)}
        title = f"{train.train.arch} trained per fold"
    else:
        version = resolve_version(model)
        videos = discover(data)
        if not videos:
            raise FileNotFoundError("no labelled videos found")
        output = output or Path("var/eval") / f"{version.parent.name}-{version.name}-loso"
        if from_scores is not None:
            results, threshold = load_video_results(from_scores)
            if sorted(str(v.path) for v in results) != sorted(str(v.path) for v in videos):
                raise ValueError(f"{from_scores} holds scores of other videos than --data")
        else:
            evaluation = evaluate_version(version, videos, frames_per_video)
            results, threshold = evaluation.videos, evaluation.threshold
        shipped = threshold if threshold is not None else 0.5
        report = loso_report(
            results, shipped, resamples=resamples, seed=seed, aggregation=aggregation, floors=floors
        )
        info_path = version / INFO_RELATIVE_PATH
        info = json.loads(info_path.read_text()) if info_path.is_file() else {}
        report["version"] = {
            "path": str(version),
            "kind": info.get("kind"),
            "calibration": info.get("calibration"),
        }
        title = f"{version.parent.name} v{version.name}"
        if robustness:
            from model_export.robustness import probe

            report["robustness"] = probe(
                version, videos, results, frames_per_video, shipped,
                per_group=robustness_per_group, loso=report, seed=seed,
            )  # fmt: skip
    report["frames_per_video"] = frames_per_video
    report["seconds"] = {"total": time.monotonic() - started}
    write_report(report, output, title)
    # Scoring is nearly all of the wall time: kept so that refits need no rescoring.
    with (output / VIDEOS_FILE).open("wb") as handle:
        pickle.dump({"videos": list(results), "threshold": threshold}, handle)
    log.info("LOSO report written", extra={"path": str(output), **report["seconds"]})
    return report, output


def write_report(report: dict[str, Any], output: Path, title: str) -> None:
    """Write a LOSO ``report`` into ``output``: ``loso.json``, ``loso.md`` (with the
    robustness tables when it has them), ``loso_predictions.csv`` and the reliability diagram
    (:data:`~model_export.reliability.DIAGRAM_FILE`)."""
    output.mkdir(parents=True, exist_ok=True)
    (output / "loso.json").write_text(json.dumps(report, indent=2) + "\n")
    text = markdown(report, title=title)
    if report.get("robustness"):
        from model_export.robustness import markdown as robustness_markdown

        text += "\n" + robustness_markdown(report["robustness"])
    (output / "loso.md").write_text(text)
    with (output / "loso_predictions.csv").open("w", newline="") as handle:
        rows = report["predictions"]
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    plot_reliability(report["reliability"], output / DIAGRAM_FILE, title=f"{title}, out of fold")
