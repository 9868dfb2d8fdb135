"""The talking-head member as the answer and ``GET /v1/models`` report it (response models).

Scored by :mod:`gateway.pipeline.motion_member`; models of their own so that
:mod:`gateway.schemas`, on the ground floor, can carry them.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class MotionSummary(BaseModel):
    """What a version's talking-head member scored: one face track's motion over time. A
    scored member's score joins the video score by the version's fitted combination
    (``contract.combination.MemberCombination``), before an audio-visual member's; the tracks
    keep their visual scores."""

    score: float | None = Field(
        None,
        description="The talking-head member's fake probability, joined to the video score by "
        "the version's fitted combination (the tracks keep their visual scores); null when "
        "the version has no such member, no face track lay in the window or the upload is "
        "a still image (one frame holds no motion).",
    )


class MotionMemberInfo(BaseModel):
    """A version's talking-head member as ``GET /v1/models`` lists it: how its score joins
    the video score (``sigmoid(visual * logit(video score) + member * logit(member score) +
    bias)``, clipped to ``[floor, 1 - floor]``), before an audio-visual member's."""

    visual: float = Field(description="Weight of the visual video score's logit.")
    member: float = Field(description="Weight of the member score's logit; 0: reported only.")
    bias: float = Field(description="Added to the joined logit.")
    floor: float = Field(description="Lowest probability shipped (and 1 - floor the highest).")
