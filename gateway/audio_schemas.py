"""The upload's audio track as the answer reports it (a response model).

Decoded by :mod:`gateway.pipeline.audio` and scored by :mod:`gateway.pipeline.audio_member`;
a model of its own so that :mod:`gateway.schemas`, on the ground floor, can carry it.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class AudioSummary(BaseModel):
    """What the upload's audio track is and, for versions with an audio-visual member, what
    that member scored. A scored member's score joins the video score by the version's
    fitted combination (``contract.combination.MemberCombination``); the tracks keep their visual
    scores. Without audio, the same version answers with ``present`` false and its visual
    score."""

    present: bool = Field(description="The upload has an audio stream the gateway could decode.")
    sample_rate: int | None = Field(
        None,
        description="The rate, in Hz, the audio was resampled to (mono) for the model; "
        "null when absent.",
    )
    seconds: float = Field(
        0.0,
        description="Seconds of audio decoded, from the start, at most the contract's cap "
        "(8 s); 0 when absent.",
    )
    score: float | None = Field(
        None,
        description="The audio-visual member's fake probability, joined to the video score by "
        "the version's fitted combination (the tracks keep their visual scores); null when "
        "the version has no such member, the audio is absent or no face track lies within "
        "the audio.",
    )
    offset_s: float | None = Field(
        None,
        description="The audio-video offset, in seconds, the member estimates; null unless "
        "the member learns it.",
    )


class AudioMemberInfo(BaseModel):
    """A version's audio-visual member as ``GET /v1/models`` lists it: the rate it takes and
    how its score joins the video score (``sigmoid(visual * logit(video score) + audio *
    logit(member score) + bias)``, clipped to ``[floor, 1 - floor]``)."""

    sample_rate: int = Field(description="The rate, in Hz, the member takes (mono).")
    visual: float = Field(description="Weight of the visual video score's logit.")
    audio: float = Field(description="Weight of the member score's logit; 0: reported only.")
    bias: float = Field(description="Added to the joined logit.")
    floor: float = Field(description="Lowest probability shipped (and 1 - floor the highest).")
