"""The upload's audio track as the answer reports it (a response model).

Decoded by :mod:`gateway.pipeline.audio` and scored by :mod:`gateway.pipeline.audio_member`;
a model of its own so that :mod:`gateway.schemas`, on the ground floor, can carry it.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class AudioSummary(BaseModel):
    """What the upload's audio track is and, for versions with an audio-visual member, what
    that member scored. The visual verdict never waits for audio: without it, the same
    version answers with ``present`` false."""

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
        description="The audio-visual member's fake probability; null when the version has "
        "no such member, the audio is absent or no face track lies within the audio.",
    )
    offset_s: float | None = Field(
        None,
        description="The audio-video offset, in seconds, the member estimates; null unless "
        "the member learns it.",
    )
