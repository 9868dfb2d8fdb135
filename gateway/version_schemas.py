"""What ``GET /v1/models`` answers: each version, its state, and what it says about itself
(threshold, operating points with what they were measured on, members)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from contract import ModelKind

from .audio_schemas import AudioMemberInfo
from .motion_schemas import MotionMemberInfo
from .shadow_schemas import ShadowStatus


class RateInterval(BaseModel):
    """A rate measured on a fit set, with its 95% percentile bootstrap interval."""

    point: float | None = None
    low: float | None = None
    high: float | None = None
    level: float = 0.95
    resamples: int = 0


class OperatingPointInfo(BaseModel):
    """One named threshold of a version, with what it was measured on."""

    name: str = Field(description="balanced, low_false_positive, high_recall, ...")
    threshold: float = Field(description="On the calibrated scale of score.")
    target: dict[str, float] | None = Field(
        None, description="The target the threshold was chosen to meet; null for balanced."
    )
    false_positive_rate: RateInterval | None = Field(
        None, description="Share of real videos flagged fake on the fit set; null: not measured."
    )
    detection_rate: RateInterval | None = Field(
        None, description="Share of fake videos flagged fake on the fit set; null: not measured."
    )
    videos: dict[str, int] | None = Field(
        None, description="Real and fake videos the rates were measured on; null: none."
    )
    fitted_on: str = Field(
        "none",
        description="Which scores: validation, calibration_data, out_of_fold; none: no data.",
    )
    data: str = Field("none", description="What data the scores came from; none: no data.")
    interval_over: str | None = Field(
        None, description="What the bootstrap resampled: videos or sources."
    )


class ModelVersionInfo(BaseModel):
    """One version of the model as Serving reports it, and what it says about itself."""

    version: int
    state: str
    labels: list[str] = []
    error: str = ""
    threshold: float | None = Field(
        None, description="Decision threshold the version ships (AVAILABLE versions)."
    )
    frame_min_side: int | None = Field(
        None, description="Shorter frame side the version needs; 0: any (AVAILABLE versions)."
    )
    sequence_length: int | None = Field(
        None, description="Faces per window of its sequence head; 0: none (AVAILABLE versions)."
    )
    kind: ModelKind | None = Field(
        None, description="detector, demo or unknown, from its model_info (AVAILABLE versions)."
    )
    members: list[str] | None = Field(
        None,
        description=(
            "Ensembles: the member names, in the order their scores are reported; null for "
            "versions that are not ensembles (AVAILABLE versions)."
        ),
    )
    operating_points: list[OperatingPointInfo] | None = Field(
        None,
        description=(
            "Named thresholds a detection may ask for (operating_point=NAME); balanced is the "
            "shipped threshold. A version that lists none has balanced alone (AVAILABLE "
            "versions)."
        ),
    )
    visual_threshold: float | None = Field(
        None,
        description=(
            "Versions whose track members (audio, motion) join an upload's score: the "
            "threshold of the visual score alone, which a live session's balanced verdict "
            "meets (no track member joins a live verdict); null: threshold serves both "
            "(AVAILABLE versions)."
        ),
    )
    audio: AudioMemberInfo | None = Field(
        None, description="Its audio-visual member; null without one (AVAILABLE versions)."
    )
    motion: MotionMemberInfo | None = Field(None, description="Its talking-head member, or null.")


class ModelsResponse(BaseModel):
    name: str
    versions: list[ModelVersionInfo]
    shadow: ShadowStatus | None = Field(
        None, description="The shadow canary and its agreement so far; null without one."
    )
