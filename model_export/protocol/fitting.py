"""Per-fold fitting and pooling: calibration and threshold fitted on the other folds only.

The fold logic works on labels, source names and a scorer, so that it runs on stored score
arrays (:func:`array_scorer`, no TensorFlow) as on a version's per-frame results
(:func:`video_scorer_for`, the gateway's aggregation of calibrated frame and face scores).
Every fit is :func:`model_export.calibration.fit_calibration` and
:func:`model_export.roc.best_threshold`, the routines the publishing commands fit with, with
the classes weighted to the deployment prior.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from contract.aggregation import DEFAULT_AGGREGATION, Aggregation
from model_export import roc
from model_export.calibration import (
    DEPLOYMENT_FAKE_PRIOR,
    FLOOR_GRID,
    Calibration,
    fit_calibration,
)
from model_export.protocol.folds import FOLD_GROUPS, FoldGroup, loso_folds

if TYPE_CHECKING:
    from model_export.evaluate import VideoResult

log = logging.getLogger(__name__)

#: Video scores of the videos at some indices had the graph applied a calibration.
Scorer = Callable[[Calibration], np.ndarray]
#: A :data:`Scorer` of the videos at the given indices.
ScorerFactory = Callable[[Sequence[int]], Scorer]


@dataclass(frozen=True)
class FoldResult:
    """What one fold fitted and how many videos it fitted on and held out."""

    name: str
    sources: tuple[str, ...]
    calibration: Calibration
    #: Threshold on the fold's calibrated scale, chosen on the fit set.
    threshold: float
    fit_videos: int
    held_out_videos: int
    reason: str = ""
    #: Per-fold training of a self-blended model: its pretext figures on held-back
    #: pseudo-fakes (:func:`model_export.finetune.train_staged`).
    pretext: dict | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        extra = {} if self.pretext is None else {"pretext": self.pretext}
        return extra | {
            "fold": self.name,
            "sources": list(self.sources),
            "reason": self.reason,
            "calibration": self.calibration.as_dict(),
            "threshold": self.threshold,
            "fit_videos": self.fit_videos,
            "held_out_videos": self.held_out_videos,
        }


@dataclass
class LosoScores:
    """Pooled held-out scores: one calibrated score, threshold and fold name per video."""

    folds: list[FoldResult]
    scores: np.ndarray
    thresholds: np.ndarray
    fold_names: np.ndarray


def array_scorer(scores: np.ndarray) -> ScorerFactory:
    """Scorers of stored video scores: the calibration maps each video score itself."""
    raw = np.asarray(scores, dtype=np.float64)
    return lambda index: lambda calibration: calibration.apply(raw[list(index)])


def video_scorer_for(
    videos: Sequence[VideoResult], aggregation: Aggregation = DEFAULT_AGGREGATION
) -> ScorerFactory:
    """Scorers of :class:`~model_export.evaluate.VideoResult`: every frame and face score is
    mapped and aggregated by the gateway's rule (:func:`model_export.evaluate.video_scorer`),
    tracks scored with ``aggregation``."""
    # Imported here: evaluate loads TensorFlow, which the array path does not need.
    from model_export.evaluate import video_scorer

    return lambda index: video_scorer([videos[i] for i in index], aggregation)


def run_folds(
    labels: np.ndarray,
    sources: Sequence[str],
    scorer_for: ScorerFactory,
    *,
    groups: Sequence[FoldGroup] = FOLD_GROUPS,
    fake_prior: float | None = DEPLOYMENT_FAKE_PRIOR,
    floor: float = 0.0,
) -> LosoScores:
    """Fit calibration and threshold on each fold's other sources; score its held-out ones.

    ``fake_prior`` weighs the classes of every fit (``None``: each fit video the same, so a
    fit learns its set's share of fakes; kept to measure what that does). The threshold
    maximises accuracy at ``fake_prior`` (balanced accuracy when ``None``). ``floor`` is the
    calibration's floor and ceiling (:class:`~model_export.calibration.Calibration`).
    """
    y = np.asarray(labels).astype(int)
    scores = np.full(len(y), np.nan)
    thresholds = np.full(len(y), np.nan)
    names = np.empty(len(y), dtype=object)
    # Without a prior the threshold stays balanced, the rule thresholds always had.
    threshold_prior = DEPLOYMENT_FAKE_PRIOR if fake_prior is None else fake_prior
    results = []
    for fold in loso_folds(sources, groups):
        fit, held = list(fold.fit), list(fold.held_out)
        fit_scorer = scorer_for(fit)
        calibration = fit_calibration(y[fit], fit_scorer, fake_prior=fake_prior, floor=floor)
        threshold = roc.best_threshold(y[fit], fit_scorer(calibration), fake_prior=threshold_prior)
        scores[held] = scorer_for(held)(calibration)
        thresholds[held] = threshold
        names[held] = fold.name
        results.append(
            FoldResult(
                fold.name, fold.sources, calibration, threshold, len(fit), len(held), fold.reason
            )
        )
        log.info(
            "fold held out",
            extra={"fold": fold.name, "sources": fold.sources, "fit_videos": len(fit),
                   "held_out": len(held), "a": calibration.a, "b": calibration.b,
                   "threshold": threshold},
        )  # fmt: skip
    return LosoScores(results, scores, thresholds, names)


@dataclass(frozen=True)
class FloorChoice:
    """Pooled out-of-fold figures of each candidate floor, and the floor they pick."""

    floor: float
    #: Candidate floor -> pooled held-out video log-loss.
    log_loss: dict[float, float]
    #: The folds at the chosen floor.
    loso: LosoScores


def floor_grid(
    labels: np.ndarray,
    sources: Sequence[str],
    scorer_for: ScorerFactory,
    *,
    grid: Sequence[float] = FLOOR_GRID,
    groups: Sequence[FoldGroup] = FOLD_GROUPS,
) -> FloorChoice:
    """Run the folds once per candidate floor; pick the lowest pooled held-out log-loss.

    The pick is one number from a small grid on the same pooled scores it is judged by, so
    the figure at the chosen floor is slightly optimistic; the figure at floor 0 beside it is
    not selected. Ties go to the smaller floor (the grid is searched in increasing order).
    """
    y = np.asarray(labels).astype(int)
    losses: dict[float, float] = {}
    runs: dict[float, LosoScores] = {}
    for floor in sorted(grid):
        runs[floor] = run_folds(y, sources, scorer_for, groups=groups, floor=floor)
        losses[floor] = roc.log_loss(y, runs[floor].scores)
        log.info("floor tried", extra={"floor": floor, "pooled_log_loss": losses[floor]})
    best = min(losses, key=lambda f: (losses[f], f))
    return FloorChoice(best, losses, runs[best])
