"""An audio-visual member's score joined to a video verdict.

Apart from :mod:`contract.audio` because it needs :mod:`contract.aggregation`'s verdict, and
:mod:`contract.audio` is imported by the package itself.
"""

from __future__ import annotations

from dataclasses import replace

import contract

from .aggregation import ScoreInterval, Verdict, label_for
from .audio import AudioCombination, combine_audio


def join_audio(verdict: Verdict, member_score: float, combination: AudioCombination) -> Verdict:
    """``verdict`` with its score joined with the audio-visual member's (:mod:`contract.audio`).

    The score and both ends of its interval go through :func:`contract.audio.combine_audio`
    (increasing in the visual score, so the interval stays an interval around the score); the
    label is decided again against the same threshold, except that a verdict without enough
    faces stays ``inconclusive``. The tracks keep their visual scores.
    """
    if combination.is_identity:
        return verdict
    score = combine_audio(verdict.score, member_score, combination)
    interval = verdict.interval
    if interval is not None:
        interval = ScoreInterval(
            combine_audio(interval.low, member_score, combination),
            combine_audio(interval.high, member_score, combination),
            interval.level,
        )
    label = (
        label_for(score, verdict.threshold, interval)
        if verdict.faces_found
        else contract.VERDICT_INCONCLUSIVE
    )
    return replace(verdict, verdict=label, score=score, interval=interval)
