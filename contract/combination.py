"""How a track member's score joins a video score: one rule for every such member.

A version's audio-visual member (:mod:`contract.audio`) and its talking-head member
(:mod:`contract.motion`) each score one face track, not frames, so their scores cannot join
the per-frame combination of the visual members. Each ships a :class:`MemberCombination`
in ``model_info`` instead, fitted by ``model_export`` on labelled videos, and the gateway
joins the member's score to the visual video score with :func:`combine_member`
(:func:`contract.member_verdict.join_member` for a whole verdict). A version joins its
talking-head member first and its audio-visual member second, the order the combinations
were fitted in.

Needs nothing beyond the standard library: no TensorFlow, nor ``gateway``, ``model_export``
or ``serving``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

#: ``model_info`` output (float32 [N]) of a version whose track members join its verdict:
#: the threshold of the visual score alone, chosen on the same videos before the joins. It
#: decides where no member is asked (a live session); ``threshold`` is the joined score's.
VISUAL_THRESHOLD_OUTPUT = "visual_threshold"

#: Probabilities are kept this far from 0 and 1 before their logit is taken.
_EPSILON = 1e-6


@dataclass(frozen=True)
class MemberCombination:
    """How a track member's score joins a video score, in logit space::

        score = sigmoid(visual * logit(video) + member * logit(member score) + bias)

    clipped to ``[floor, 1 - floor]``. ``visual`` must be positive, so the joined score
    rises with the visual one (its interval maps end to end). The default is the identity.
    """

    visual: float = 1.0
    member: float = 0.0
    bias: float = 0.0
    floor: float = 0.0

    def __post_init__(self) -> None:
        values = (self.visual, self.member, self.bias, self.floor)
        if not all(math.isfinite(v) for v in values):
            raise ValueError("a member combination's values must be finite")
        if self.visual <= 0:
            raise ValueError(f"the visual weight must be positive, got {self.visual}")
        if not 0.0 <= self.floor < 0.5:
            raise ValueError(f"the floor must lie in [0, 0.5), got {self.floor}")

    @property
    def is_identity(self) -> bool:
        """Whether joining changes no score."""
        return (self.visual, self.member, self.bias, self.floor) == (1.0, 0.0, 0.0, 0.0)

    def as_row(self) -> list[float]:
        """The four values in a ``*_combination`` output's order."""
        return [self.visual, self.member, self.bias, self.floor]

    @classmethod
    def from_row(cls, row: Sequence[float]) -> MemberCombination:
        """The combination of one ``*_combination`` row; ValueError when malformed."""
        values = [float(v) for v in row]
        if len(values) != 4:
            raise ValueError(f"a member combination has 4 values, got {len(values)}")
        return cls(*values)


def _logit(p: float) -> float:
    p = min(max(float(p), _EPSILON), 1.0 - _EPSILON)
    return math.log(p) - math.log1p(-p)


def combine_member(
    video_score: float, member_score: float, combination: MemberCombination
) -> float:
    """The video score joined with a track member's score (see the class)."""
    if combination.is_identity:
        return float(video_score)
    z = (
        combination.visual * _logit(video_score)
        + combination.member * _logit(member_score)
        + combination.bias
    )
    score = 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
    return min(max(score, combination.floor), 1.0 - combination.floor)
