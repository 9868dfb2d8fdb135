"""Fitting how a track member joins the video score (numpy, no videos)."""

from __future__ import annotations

import numpy as np

from contract.combination import MemberCombination, combine_member
from model_export.member_fit import MemberScores, fit_member_combination


def _scores(n: int, seed: int = 0) -> MemberScores:
    """Visual scores that know little, member scores that know much."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % 2).astype(int)
    visual = 1 / (1 + np.exp(-(0.3 * (2 * labels - 1) + rng.normal(0, 1, n))))
    member = 1 / (1 + np.exp(-(2.0 * (2 * labels - 1) + rng.normal(0, 1, n))))
    return MemberScores(visual, member, labels, skipped=0)


def _log_loss(scores: MemberScores, combination: MemberCombination) -> float:
    pairs = zip(scores.visual, scores.member, strict=True)
    joined = np.array([combine_member(v, m, combination) for v, m in pairs])
    y = scores.labels
    return float(-np.mean(y * np.log(joined) + (1 - y) * np.log(1 - joined)))


def test_an_informative_member_is_joined_and_lowers_the_log_loss() -> None:
    scores = _scores(200)
    combination, report = fit_member_combination(scores)
    assert combination.member > 0.5 and combination.visual > 0
    assert report["videos"] == 200
    held_out = _scores(200, seed=1)
    assert _log_loss(held_out, combination) < _log_loss(held_out, MemberCombination()) - 0.1


def test_a_few_videos_stay_near_the_identity() -> None:
    few, _ = fit_member_combination(_scores(4))
    many, _ = fit_member_combination(_scores(200))
    assert abs(few.member) < abs(many.member)
    assert abs(few.visual - 1.0) < 1.0


def test_one_class_only_gives_the_identity() -> None:
    scores = _scores(10)
    reals = MemberScores(scores.visual, scores.member, np.zeros(10, int), skipped=2)
    combination, report = fit_member_combination(reals, floor=0.01)
    assert combination == MemberCombination(floor=0.01)
    assert report["skipped"] == 2 and "REAL and FAKE" in report["why_identity"]
