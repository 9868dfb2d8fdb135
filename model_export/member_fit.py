"""How a track member's score joins the video score, fitted on labelled videos.

A track member (:mod:`model_export.track_member_versions`: the audio-visual member, the talking-head
member of :mod:`model_export.motion_member`) ships a
:class:`contract.combination.MemberCombination`. It is fitted on labelled videos from the two
numbers the gateway has for each (:class:`MemberScores`): the visual video score
(:func:`contract.aggregation.decide` on the ensemble's own answer) and the member's score on
the frames and boxes :func:`contract.audio.audio_track_frames` picks.

The fit (:func:`fit_member_combination`) is a logistic regression on the two logits
(:func:`weighted_logistic`), classes weighted to
:data:`~model_export.calibration.DEPLOYMENT_FAKE_PRIOR`, with a normal prior centred on the
identity (visual weight 1, member weight 0, bias 0) that counts for ``1 / n_eff`` of the mean
log-loss, as the Platt fit does (:mod:`model_export.calibration`): on a few videos, or
one-sided ones, the member is barely joined. A fitted visual weight that is not positive (the
joined score would fall as the visual one rises) gives the identity. The videos must come
from sources neither the members nor the ensemble trained on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from contract.combination import MemberCombination
from model_export.calibration import (
    DEPLOYMENT_FAKE_PRIOR,
    PRIOR_SD,
    class_weights,
    effective_size,
    logit,
)

#: Probabilities are kept this far from 0 and 1 before their logit is taken.
_EPSILON = 1e-6


@dataclass(frozen=True)
class MemberScores:
    """Labelled videos: their visual video scores and a track member's scores."""

    visual: np.ndarray
    member: np.ndarray
    labels: np.ndarray
    #: Videos left out: nothing for the member to score (no sound, no face track).
    skipped: int


def weighted_logistic(
    design: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray,
    centre: np.ndarray,
    strength: float | np.ndarray,
) -> np.ndarray:
    """Coefficients of a logistic regression by Newton's method: ``design`` [n, k] (its
    intercept column included), per-row ``weights``, and a normal prior on the coefficients
    centred on ``centre`` whose precision is ``strength`` (a scalar or one per coefficient)."""
    y = np.asarray(labels, np.float64)
    penalty = np.broadcast_to(np.asarray(strength, np.float64), centre.shape)
    theta = np.asarray(centre, np.float64).copy()
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ theta, -50, 50)))
        gradient = design.T @ (weights * (p - y)) + penalty * (theta - centre)
        hessian = (design * (weights * p * (1 - p))[:, None]).T @ design + np.diag(penalty)
        step = np.linalg.solve(hessian + 1e-12 * np.eye(len(theta)), gradient)
        theta -= step
        if np.max(np.abs(step)) < 1e-9:
            break
    return theta


def fit_member_combination(
    scores: MemberScores, *, fake_prior: float = DEPLOYMENT_FAKE_PRIOR, floor: float = 0.0
) -> tuple[MemberCombination, dict[str, Any]]:
    """The combination fitted on ``scores`` (see the module), and what the fit saw."""
    y = scores.labels.astype(np.float64)
    n_eff = effective_size(scores.labels, fake_prior)
    report: dict[str, Any] = {"videos": len(y), "skipped": scores.skipped, "n_eff": n_eff}
    if n_eff <= 0:
        report["why_identity"] = "needs REAL and FAKE videos the member scored"
        return MemberCombination(floor=floor), report
    x = np.stack([logit(scores.visual, _EPSILON), logit(scores.member, _EPSILON)], axis=1)
    design = np.concatenate([x, np.ones([len(y), 1])], axis=1)
    strength = len(y) / (PRIOR_SD**2 * n_eff)  # the prior's share of the summed log-loss
    theta = weighted_logistic(
        design, y, class_weights(scores.labels, fake_prior), np.array([1.0, 0.0, 0.0]), strength
    )
    visual, member, bias = (float(v) for v in theta)
    report.update(visual=visual, member=member, bias=bias)
    if visual <= 0:
        report["why_identity"] = "the fitted visual weight is not positive"
        return MemberCombination(floor=floor), report
    return MemberCombination(visual, member, bias, floor), report
