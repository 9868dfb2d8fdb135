"""The shadow canary's agreement as ``GET /v1/models`` shows it (part of the OpenAPI document)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ShadowStatus(BaseModel):
    """The shadow version (GATEWAY_SHADOW_MODEL) and how often it agreed with the answers,
    counted by this gateway process since it started."""

    model: str = Field(description="The shadow as configured: a version number or a label.")
    version: int | None = Field(
        description="The version the shadow is (for a label: the one it last answered with)."
    )
    label: str | None = Field(description="The label the shadow is asked by, if any.")
    sample_rate: float = Field(description="Share of detections also scored by the shadow.")
    score_delta: float = Field(
        description="Video scores further apart than this disagree, even with one verdict."
    )
    compared: int = Field(description="agreements plus disagreements.")
    agreements: int
    disagreements: int
    failed: int = Field(description="Shadow runs that failed (the answers did not).")
    dropped: int = Field(
        description="Sampled detections not shadowed: the queue was full, or at shutdown."
    )
    agreement_rate: float | None = Field(
        description="agreements / compared; null before the first comparison."
    )
