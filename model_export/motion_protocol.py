"""The talking-head member under the fixed protocol: alone, and joined to a visual version.

Both figures are out of fold (:func:`model_export.protocol.folds.loso_folds`): a video is
never scored by a member or a join fitted on its fold's sources.

* :func:`member_loso`: per fold, :func:`~model_export.motion_member.fit_motion_model` on
  the other folds' tracks, then the fold's calibration and threshold fitted as for every
  other row (:func:`model_export.protocol.fitting.run_folds` on those held-out scores, so the
  figures are comparable to the visual versions').
* :func:`joined_loso`: what a version with a talking-head member would answer. Per fold,
  the visual version's calibration fitted on the other folds
  (:func:`~model_export.protocol.fitting.run_folds`), the member fitted on them, and the
  join (:func:`model_export.member_fit.fit_member_combination`) fitted on their calibrated
  visual scores and member scores that are themselves out of fold inside the fit set (an
  inner split by the same folds), so the join does not learn from a member scoring its own
  training tracks. A video without a face track keeps its visual score, as in the gateway.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from contract.combination import MemberCombination, combine_member
from model_export import roc
from model_export.calibration import DEPLOYMENT_FAKE_PRIOR
from model_export.member_fit import MemberScores, fit_member_combination
from model_export.motion_member import DEFAULT_L2, fit_motion_model
from model_export.protocol.fitting import (
    FoldResult,
    LosoScores,
    ScorerFactory,
    array_scorer,
    run_folds,
)
from model_export.protocol.folds import FOLD_GROUPS, FoldGroup, loso_folds


def _out_of_fold(
    features: np.ndarray,
    labels: np.ndarray,
    sources: Sequence[str],
    index: Sequence[int],
    groups: Sequence[FoldGroup],
    l2: float,
    trains: np.ndarray,
) -> np.ndarray:
    """Member scores of the videos at ``index`` (rows with a track), each fitted without its
    fold's sources on the videos ``trains`` marks; NaN where that fit held one label only."""
    scores = np.full(len(index), np.nan)
    local = [sources[i] for i in index]
    for fold in loso_folds(local, groups):
        fit = [index[j] for j in fold.fit if trains[index[j]]]
        if len(set(labels[fit].tolist())) < 2:
            continue
        model = fit_motion_model(features[fit], labels[fit], l2=l2)
        scores[list(fold.held_out)] = model.score(features[[index[j] for j in fold.held_out]])
    return scores


def _joined(
    visual: np.ndarray,
    index: Sequence[int],
    member: np.ndarray,
    has_track: np.ndarray,
    combination: MemberCombination,
) -> list[float]:
    """Visual scores joined with the member's where it scored (a track, a finite score)."""
    return [
        combine_member(v, m, combination) if has_track[i] and np.isfinite(m) else float(v)
        for v, i, m in zip(visual, index, member, strict=True)
    ]


def member_loso(
    features: np.ndarray,
    labels: np.ndarray,
    sources: Sequence[str],
    *,
    groups: Sequence[FoldGroup] = FOLD_GROUPS,
    l2: float = DEFAULT_L2,
    trains: np.ndarray | None = None,
) -> tuple[np.ndarray, LosoScores]:
    """The member's raw out-of-fold scores of every row, and the protocol's pooled scores
    (each fold's calibration and threshold fitted on the other folds' raw scores).

    ``trains`` marks the rows the member is fitted on (default all): the talking-head
    member learns talking heads against real clips, not every fake, and is scored on all.
    """
    trains = np.ones(len(labels), bool) if trains is None else np.asarray(trains, bool)
    raw = _out_of_fold(features, labels, sources, range(len(labels)), groups, l2, trains)
    if np.isnan(raw).any():
        raise ValueError("a fold's fit set holds one label only")
    return raw, run_folds(labels, sources, array_scorer(raw), groups=groups)


def joined_loso(
    visual_scorer: ScorerFactory,
    features: np.ndarray,
    has_track: np.ndarray,
    labels: np.ndarray,
    sources: Sequence[str],
    *,
    groups: Sequence[FoldGroup] = FOLD_GROUPS,
    l2: float = DEFAULT_L2,
    trains: np.ndarray | None = None,
) -> tuple[LosoScores, list[dict[str, float]]]:
    """Out-of-fold scores of the visual version joined with the member (see the module).

    ``visual_scorer`` scores videos through the visual version's per-frame results and a
    calibration (:func:`model_export.protocol.fitting.video_scorer_for`); ``features`` has a
    row per video (ignored where ``has_track`` is false). Returns the pooled scores with each
    fold's threshold (chosen on its fit set's joined scores) and each fold's combination.
    ``trains`` marks the videos the member is fitted on (as in :func:`member_loso`); the
    join is fitted on every video of the fit set.
    """
    y = np.asarray(labels).astype(int)
    trains = np.ones(len(y), bool) if trains is None else np.asarray(trains, bool)
    visual = run_folds(y, sources, visual_scorer, groups=groups)
    by_name = {f.name: f for f in visual.folds}
    scores = np.full(len(y), np.nan)
    thresholds = np.full(len(y), np.nan)
    names = np.empty(len(y), dtype=object)
    folds: list[FoldResult] = []
    combinations = []
    for fold in loso_folds(sources, groups):
        fit, held = list(fold.fit), list(fold.held_out)
        calibration = by_name[fold.name].calibration
        fit_visual = visual_scorer(fit)(calibration)
        held_visual = visual_scorer(held)(calibration)
        tracked_fit = [i for i in fit if has_track[i]]
        inner = _out_of_fold(features, y, sources, tracked_fit, groups, l2, trains)
        usable = ~np.isnan(inner)
        position = {i: k for k, i in enumerate(fit)}
        member_fit = np.full(len(fit), np.nan)
        for i, s in zip(tracked_fit, inner, strict=True):
            member_fit[position[i]] = s
        rows = [position[i] for i, ok in zip(tracked_fit, usable, strict=True) if ok]
        combination, report = fit_member_combination(
            MemberScores(fit_visual[rows], member_fit[rows], y[fit][rows], len(fit) - len(rows))
        )
        member_rows = [i for i in tracked_fit if trains[i]]
        one_label = len(set(y[member_rows].tolist())) < 2
        model = (
            None if one_label else fit_motion_model(features[member_rows], y[member_rows], l2=l2)
        )
        fit_joined = np.array(_joined(fit_visual, fit, member_fit, has_track, combination))
        threshold = roc.best_threshold(y[fit], fit_joined, fake_prior=DEPLOYMENT_FAKE_PRIOR)
        held_member = np.full(len(held), np.nan)
        tracked_held = [k for k, i in enumerate(held) if has_track[i]]
        if tracked_held and model is not None:
            held_member[tracked_held] = model.score(features[[held[k] for k in tracked_held]])
        scores[held] = _joined(held_visual, held, held_member, has_track, combination)
        thresholds[held] = threshold
        names[held] = fold.name
        folds.append(
            FoldResult(fold.name, fold.sources, calibration, threshold, len(fit), len(held),
                       fold.reason)
        )  # fmt: skip
        combinations.append({"fold": fold.name, **report})
    return LosoScores(folds, scores, thresholds, names), combinations
