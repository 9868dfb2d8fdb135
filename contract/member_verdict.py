"""A track member's score joined to a video verdict (:mod:`contract.combination`).

Apart from :mod:`contract.combination` because it needs :mod:`contract.aggregation`'s
verdict, and the package itself imports :mod:`contract.combination`'s neighbours.
"""

from __future__ import annotations

from dataclasses import replace

import contract

from .aggregation import ScoreInterval, Verdict, label_for
from .combination import MemberCombination, combine_member


def join_member(verdict: Verdict, member_score: float, combination: MemberCombination) -> Verdict:
    """``verdict`` with its score joined with the track member's (:mod:`contract.combination`).

    The score and both ends of its interval go through :func:`contract.combination.combine_member`
    (increasing in the visual score, so the interval stays an interval around the score); the
    label is decided again against the same threshold, except that a verdict without enough
    faces stays ``inconclusive``. The tracks keep their visual scores.
    """
    if combination.is_identity:
        return verdict
    score = combine_member(verdict.score, member_score, combination)
    interval = verdict.interval
    if interval is not None:
        interval = ScoreInterval(
            combine_member(interval.low, member_score, combination),
            combine_member(interval.high, member_score, combination),
            interval.level,
        )
    label = (
        label_for(score, verdict.threshold, interval)
        if verdict.faces_found
        else contract.VERDICT_INCONCLUSIVE
    )
    return replace(verdict, verdict=label, score=score, interval=interval)
