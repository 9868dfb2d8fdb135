"""The LOSO report: one dict for ``loso.json``, its markdown tables, and summary lines."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from contract.aggregation import DEFAULT_AGGREGATION, Aggregation
from model_export import reliability, roc
from model_export.calibration import DEPLOYMENT_FAKE_PRIOR, IDENTITY
from model_export.manipulations import manipulation_kind
from model_export.protocol.fitting import LosoScores, floor_grid, run_folds, video_scorer_for
from model_export.protocol.folds import FOLD_GROUPS, FoldGroup
from model_export.protocol.metrics import (
    DEFAULT_RESAMPLES,
    kind_rows,
    metrics_with_ci,
    source_rows,
    within_fold,
)

if TYPE_CHECKING:
    from model_export.evaluate import VideoResult

PROTOCOL = "leave-one-source-out"
#: Log-loss of answering 0.5 for every video.
NO_SKILL_LOG_LOSS = math.log(2.0)


def loso_report(
    videos: Sequence[VideoResult],
    shipped_threshold: float | None,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    loso: LosoScores | None = None,
    groups: Sequence[FoldGroup] = FOLD_GROUPS,
    aggregation: Aggregation = DEFAULT_AGGREGATION,
    floors: Sequence[float] | None = None,
) -> dict[str, Any]:
    """The LOSO figures of scored ``videos`` (:class:`~model_export.evaluate.VideoResult`).

    ``loso`` gives pooled held-out scores already computed (per-fold training); without it
    the folds (:func:`~model_export.protocol.folds.loso_folds` of ``groups``) fit calibration
    and threshold on the stored scores of one version, and ``shipped_threshold`` is that
    version's (the ``as_shipped`` figures). Pooled intervals resample sources (the headline)
    and videos (``by_video``).

    ``aggregation`` is the track rule the folds fit and score with (the as-shipped scores are
    recomputed with it when it is not the default). With ``floors`` the folds are run once per
    candidate floor (:func:`~model_export.protocol.fitting.floor_grid`) and ``floor`` holds
    each one's pooled log-loss and the figures at the one picked; the headline stays at 0.
    """
    sources = [v.source for v in videos]
    if len(set(sources)) < 2:
        raise ValueError("leave-one-source-out needs videos from at least two sources")
    labels = np.array([v.label for v in videos])
    kinds = [manipulation_kind(v.source, v.path.name, v.label) for v in videos]
    raw = np.array([v.score for v in videos])
    scorer_for = video_scorer_for(videos, aggregation)
    if aggregation != DEFAULT_AGGREGATION:
        raw = scorer_for(range(len(videos)))(IDENTITY)
    loso = loso or run_folds(labels, sources, scorer_for, groups=groups)
    share = float(labels.mean())
    kwargs = {"resamples": resamples, "seed": seed}
    shipped = shipped_threshold is not None
    floor = None
    # What the gateway would return out of fold: the fold fits at the floor picked (none: 0).
    shipped_oof, shipped_floor = loso.scores, 0.0
    if floors:
        choice = floor_grid(labels, sources, scorer_for, grid=floors, groups=groups)
        at = choice.loso
        floor = {
            "grid": [{"floor": f, "log_loss": v} for f, v in choice.log_loss.items()],
            "chosen": choice.floor,
            "loso": metrics_with_ci(labels, at.scores, at.thresholds, clusters=sources, **kwargs),
            "kinds": kind_rows(kinds, labels, at.scores, at.thresholds, **kwargs),
            "folds": [f.as_dict() for f in at.folds],
        }
        shipped_oof, shipped_floor = at.scores, choice.floor
    calibration_figures = {
        "scores": "out-of-fold shipped probabilities (fold calibration, floor, gateway rule)",
        "floor": shipped_floor,
        **reliability.reliability_figures(labels, shipped_oof, clusters=sources, **kwargs),
    }
    return {
        "protocol": PROTOCOL,
        "aggregation": aggregation,
        "floor": floor,
        "videos": len(videos),
        "sources": len(set(sources)),
        "fake": int(labels.sum()),
        "real": int(len(labels) - labels.sum()),
        "fake_prior": DEPLOYMENT_FAKE_PRIOR,
        "bootstrap": {
            "resamples": resamples,
            "seed": seed,
            "level": 0.95,
            "unit": "source",
            "also": "video",
        },
        "no_skill_log_loss": NO_SKILL_LOG_LOSS,
        "prior_log_loss": roc.log_loss(labels, np.full(len(labels), share)),
        "loso": metrics_with_ci(labels, loso.scores, loso.thresholds, clusters=sources, **kwargs),
        "reliability": calibration_figures,
        # One version scored every source: its figures with nothing fitted here.
        "as_shipped": (
            metrics_with_ci(labels, raw, shipped_threshold, clusters=sources, **kwargs)
            if shipped
            else None
        ),
        "shipped_threshold": shipped_threshold,
        "within_fold": within_fold(
            labels, loso.scores, loso.fold_names, loso.folds, raw if shipped else None
        ),
        "kinds": kind_rows(kinds, labels, loso.scores, loso.thresholds, **kwargs),
        "kinds_as_shipped": (
            kind_rows(kinds, labels, raw, shipped_threshold, **kwargs) if shipped else None
        ),
        "per_source": source_rows(sources, labels, loso.scores, loso.thresholds, loso.fold_names),
        "folds": [f.as_dict() for f in loso.folds],
        "predictions": [
            {
                "file": str(v.path),
                "source": v.source,
                "fold": str(fold),
                "kind": kind,
                "label": v.label,
                "score_as_shipped": float(r),
                "score_loso": float(s),
                "threshold_loso": float(t),
            }
            for v, kind, r, s, t, fold in zip(
                videos, kinds, raw, loso.scores, loso.thresholds, loso.fold_names, strict=True
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


def _auc(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def markdown(report: dict[str, Any], title: str = "") -> str:
    """The report's tables in markdown: pooled, within folds, per kind, per source."""
    boot = report["bootstrap"]
    lines = [f"### {title}".rstrip(), ""] if title else []
    lines += [
        f"{report['videos']} videos ({report['fake']} FAKE, {report['real']} REAL) from "
        f"{report['sources']} sources in {len(report['folds'])} folds; every fit weighs the "
        f"classes to a fake prior of {report['fake_prior']:g}. 95% percentile bootstrap "
        f"intervals, {boot['resamples']} resamples (seed {boot['seed']}): over sources "
        "(headline) and over videos.",
        "",
        "| scores | resampled | video ROC-AUC | video log-loss | Brier | ECE | video accuracy |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key, name in (("loso", "LOSO (fitted on other folds)"), ("as_shipped", "as shipped")):
        m = report[key]
        if m is None:
            continue
        for unit, row in (("sources", m), ("videos", m.get("by_video", m))):
            lines.append(
                f"| {name} | {unit} | {_ci(row['roc_auc'])} | {_ci(row['log_loss'])} | "
                f"{_ci(row.get('brier'))} | {_ci(row.get('ece'))} | {_ci(row['accuracy'])} |"
            )
    floor = report.get("floor")
    if floor:
        grid = ", ".join(f"{r['floor']:g}: {r['log_loss']:.3f}" for r in floor["grid"])
        m = floor["loso"]
        lines += [
            "",
            f"Floor and ceiling `[e, 1 - e]` by pooled held-out log-loss ({grid}): "
            f"e = {floor['chosen']:g}. At e = {floor['chosen']:g} (sources resampled): ROC-AUC "
            f"{_ci(m['roc_auc'])}, log-loss {_ci(m['log_loss'])}, Brier {_ci(m['brier'])}, "
            f"ECE {_ci(m['ece'])}, accuracy {_ci(m['accuracy'])}.",
            "",
            "| kind (LOSO, floored) | videos | ROC-AUC vs all real | log-loss | Brier | ECE | "
            "accuracy |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for row in floor["kinds"]:
            if row["videos"]:
                lines.append(
                    f"| {row['kind']} | {row['videos']} | {_ci(row.get('roc_auc_vs_real'))} | "
                    f"{_ci(row['log_loss'])} | {_ci(row['brier'])} | {_ci(row['ece'])} | "
                    f"{_ci(row['accuracy'])} |"
                )
    figures = report.get("reliability")
    if figures:
        lines += [
            "",
            reliability.markdown(
                figures,
                f"Reliability of the out-of-fold shipped probabilities (floor {figures['floor']:g}"
                f", diagram `{reliability.DIAGRAM_FILE}`)",
            ).rstrip("\n"),
        ]
    within = report["within_fold"]
    lines += [
        "",
        f"Within-fold ROC-AUC, mean over the {within['folds_with_both_labels']} folds with both "
        f"labels: {_auc(within['mean_roc_auc'])} LOSO, "
        f"{_auc(within['mean_roc_auc_as_shipped'])} as shipped.",
        "",
        "| fold | held-out sources | videos (FAKE/REAL) | ROC-AUC LOSO | as shipped | why |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in within["folds"]:
        sources = ", ".join(f"`{s}`" for s in row["sources"])
        lines.append(
            f"| {row['fold']} | {sources} | {row['videos']} ({row['fake']}/{row['real']}) | "
            f"{_auc(row['roc_auc'])} | {_auc(row.get('roc_auc_as_shipped'))} | "
            f"{row['reason'] or 'a fold of its own'} |"
        )
    lines += [
        "",
        "| kind | scores | videos | ROC-AUC vs all real | log-loss | Brier | ECE | accuracy | "
        "mean score |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key, name in (("kinds", "LOSO"), ("kinds_as_shipped", "as shipped")):
        for row in report.get(key) or []:
            if not row["videos"]:
                lines.append(f"| {row['kind']} | {name} | 0 | – | – | – | – | – | – |")
                continue
            lines.append(
                f"| {row['kind']} | {name} | {row['videos']} | "
                f"{_ci(row.get('roc_auc_vs_real'))} | {_ci(row['log_loss'])} | "
                f"{_ci(row.get('brier'))} | {_ci(row.get('ece'))} | {_ci(row['accuracy'])} | "
                f"{row['mean_score']:.3f} |"
            )
    lines += [
        "",
        "Kind intervals resample videos (most kinds come from one or two sources).",
        "",
        "| held-out source | fold | videos (FAKE/REAL) | accuracy | log-loss | fold a, b | "
        "threshold |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    folds = {f["fold"]: f for f in report["folds"]}
    for row in report["per_source"]:
        fold = folds[row["fold"]]
        cal = fold["calibration"]
        lines.append(
            f"| `{row['source']}` | {row['fold']} | {row['videos']} ({row['fake']}/{row['real']})"
            f" | {row['accuracy']:.3f} | {row['log_loss']:.3f} | {cal['a']:.3f}, {cal['b']:.3f} "
            f"| {fold['threshold']:.3f} |"
        )
    return "\n".join(lines + pretext_lines(report["folds"])) + "\n"


def pretext_lines(folds: list[dict[str, Any]]) -> list[str]:
    """Per-fold training on self-blended pseudo-fakes: how well each fold model learnt its
    pretext task, on the held-back pseudo-fakes of its training sources (none: no lines)."""
    rows = [f for f in folds if f.get("pretext")]
    if not rows:
        return []
    lines = [
        "",
        "Pretext task per fold: frame accuracy (at 0.5) and ROC-AUC on a fixed set of "
        "pseudo-fakes of held-back real faces of the fold's training sources, with the "
        "training accuracy (real faces and their pseudo-fakes) of the last epoch run.",
        "",
        "| fold | held-back faces (clips) | epochs run | training accuracy, last epoch | "
        "pretext accuracy | pretext ROC-AUC |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for fold in rows:
        p = fold["pretext"]
        last = p["epochs"][-1] if p["epochs"] else {}
        lines.append(
            f"| {fold['fold']} | {p['held_back_real_faces']} ({p['held_back_clips']}) | "
            f"{len(p['epochs'])} | {last.get('accuracy', float('nan')):.3f} | "
            f"{p['final']['accuracy']:.3f} | {_auc(p['final']['roc_auc'])} |"
        )
    return lines


def summary_lines(report: dict[str, Any], report_dir: Path) -> list[str]:
    """Human-readable lines of a LOSO report."""
    lines = [
        f"{PROTOCOL}: {report['videos']} videos ({report['fake']} FAKE / {report['real']} REAL) "
        f"from {report['sources']} sources in {len(report['folds'])} folds "
        f"(fake prior {report['fake_prior']:g})"
    ]
    for key in ("loso", "as_shipped"):
        m = report[key]
        if m is None:
            continue
        lines.append(
            f"{key:10s}: ROC-AUC {_ci(m['roc_auc'])}  log-loss {_ci(m['log_loss'])}  "
            f"Brier {_ci(m.get('brier'))}  ECE {_ci(m.get('ece'))}  "
            f"accuracy {_ci(m['accuracy'])}  (intervals over sources; over videos: ROC-AUC "
            f"{_ci(m['by_video']['roc_auc'])})"
        )
    floor = report.get("floor")
    if floor:
        m = floor["loso"]
        lines.append(
            f"floor {floor['chosen']:g} (pooled log-loss by floor: "
            + ", ".join(f"{r['floor']:g}: {r['log_loss']:.3f}" for r in floor["grid"])
            + f"): ROC-AUC {_ci(m['roc_auc'])}  log-loss {_ci(m['log_loss'])}  Brier "
            f"{_ci(m['brier'])}  ECE {_ci(m['ece'])}"
        )
    figures = report.get("reliability")
    if figures:
        lines.append(reliability.summary_text(figures, f"out of fold, floor {figures['floor']:g}"))
    within = report["within_fold"]
    lines.append(
        f"within-fold ROC-AUC: mean {_auc(within['mean_roc_auc'])} over "
        f"{within['folds_with_both_labels']} folds with both labels"
    )
    lines.append(f"no-skill log-loss {report['no_skill_log_loss']:.3f}; report in {report_dir}")
    lines.append(f"took {report['seconds']['total']:.0f} s")
    return lines
