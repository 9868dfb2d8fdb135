"""Response models of the public API (they make up the OpenAPI document)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, WithJsonSchema

from contract import MODEL_KIND_UNKNOWN, ModelKind, VerdictLabel
from contract.aggregation import INTERVAL_LEVEL, Aggregation
from contract.reasons import INCONCLUSIVE_REASONS, REASON_CODES, REASON_DESCRIPTIONS, ReasonCode

from .audio_schemas import AudioSummary
from .motion_schemas import MotionSummary
from .provenance_schemas import Provenance

#: The reason codes and their meanings, as the OpenAPI document lists them.
_REASONS_TEXT = "; ".join(f"{code}: {REASON_DESCRIPTIONS[code]}" for code in REASON_CODES)


class ModelInfo(BaseModel):
    """The model version that answered a detection."""

    name: str
    version: int = Field(description="The model version that actually answered.")
    label: str | None = Field(None, description="The version label asked for, if any.")
    kind: ModelKind = Field(
        MODEL_KIND_UNKNOWN,
        description=(
            "What the answering version says it is in its model_info: detector, demo (synthetic "
            "plumbing check, not a detector) or unknown (it does not say)."
        ),
    )


#: What an upload is: a video, or a still image (JPEG, PNG, WebP) scored as one frame.
MediaKind = Literal["video", "image"]


class VideoSummary(BaseModel):
    """The upload as probed: a video, or a still image (one frame at t = 0, no duration)."""

    # A default, so that job results stored before this field existed still load.
    kind: MediaKind = Field(
        "video",
        description="video, or image for a still image (JPEG, PNG, WebP): then duration_s and "
        "fps are 0 and the timeline holds one frame at t_s 0.",
    )
    duration_s: float
    fps: float
    width: int = Field(description="Width as displayed, after rotation.")
    height: int = Field(description="Height as displayed, after rotation.")
    rotation: int = Field(
        description="Clockwise degrees applied to display the upload upright (an image's from "
        "its EXIF orientation, which may also mirror it)."
    )
    frames_sampled: int


class FaceExplanation(BaseModel):
    """Where in one face the version saw a fake (``explain=true``)."""

    frame: int = Field(description="Index into the timeline of the frame this face is in.")
    t_s: float = Field(description="Time of that frame in seconds.")
    score: float = Field(description="Fake probability of this face.")
    box: list[float] = Field(description="[y1, x1, y2, x2] of the face, as in the timeline.")
    crop_box: list[float] = Field(
        description=(
            "[y1, x1, y2, x2] of the region both images show (the face and the margin the "
            "model classified), as fractions of the upright frame; may pass its edges."
        )
    )
    face_png: str = Field(
        description="The face crop the model classified: data:image/png;base64 URL (RGB)."
    )
    heatmap_png: str = Field(
        description=(
            "Grad-CAM heatmap over face_png, the same size: data:image/png;base64 URL, 8-bit "
            "grayscale, 255 where the evidence for 'fake' is strongest, 0 where there is none."
        )
    )


class TrackResult(BaseModel):
    id: int
    score: float = Field(description="Fake probability of this face track.")
    frames: list[int] = Field(description="Indices into the timeline where this track appears.")
    members: dict[str, float] | None = Field(
        None,
        description=(
            "Ensembles: each member's score of this track by member name, aggregated from "
            "that member's face scores with the same aggregation as score; null for versions "
            "that are not ensembles."
        ),
    )
    explanations: list[FaceExplanation] | None = Field(
        None,
        description=(
            "With explain=true: the track's most suspicious faces, most suspicious first; "
            "null when not asked for or the version cannot explain."
        ),
    )


class FaceResult(BaseModel):
    box: list[float] = Field(description="[y1, x1, y2, x2] as fractions of the upright frame.")
    score: float = Field(description="Fake probability of this face.")
    detection_score: float
    track: int
    members: dict[str, float] | None = Field(
        None,
        description=(
            "Ensembles: each member's fake probability of this face by member name; null "
            "for versions that are not ensembles."
        ),
    )


class TimelinePoint(BaseModel):
    t_s: float
    score: float = Field(description="Fake probability of the frame.")
    faces: list[FaceResult] = []


class Timings(BaseModel):
    upload: float
    probe: float
    decode: float
    inference: float
    aggregate: float
    total: float
    sequence: float | None = Field(
        None, description="The sequence head scoring the face tracks (aggregation 'sequence')."
    )
    explain: float | None = Field(
        None, description="Explaining the tracks' most suspicious faces (explain=true)."
    )
    motion: float | None = Field(None, description="The talking-head member scoring a face track.")
    provenance: float | None = Field(
        None,
        description="Reading the upload's content credentials; it runs alongside probe, "
        "decode and inference, so it overlaps them.",
    )
    robustness: float | None = Field(
        None,
        description="Re-encoding the video and scoring its copies (robustness=true), after "
        "the detection.",
    )


class TransformScore(BaseModel):
    """One transformed copy of the upload, scored by the version that answered."""

    name: str = Field(description="crf23, crf30, crf38, half or mirror.")
    description: str = Field(description="What was done to the copy (H.264 CRF, size, mirror).")
    score: float = Field(description="The copy's video fake probability.")
    verdict: VerdictLabel
    delta: float = Field(description="The copy's score minus the upload's score.")


class Robustness(BaseModel):
    """How far the answer moves under re-encodes an upload commonly goes through."""

    transforms: list[TransformScore] = Field(
        description="The copies scored, in the order above; fewer when complete is false."
    )
    complete: bool = Field(
        description="False when GATEWAY_ROBUSTNESS_TIMEOUT_S passed before every copy was scored."
    )
    max_abs_delta: float | None = Field(
        description="The largest move of the score over the copies; null if none was scored."
    )
    verdict_flips: int = Field(
        description="How many copies got another verdict than the upload; a verdict that "
        "flips under an ordinary re-encode deserves less trust."
    )


class ScoreInterval(BaseModel):
    """Where the video score would fall on other draws of the same frames."""

    low: float = Field(description="Lower end of the interval, in [0, 1].")
    high: float = Field(description="Upper end of the interval, in [0, 1].")
    level: float = Field(
        description=(
            f"The share of bootstrap resamples the interval holds ({INTERVAL_LEVEL:g}: the "
            "5th to the 95th percentile)."
        )
    )


class DetectionResponse(BaseModel):
    verdict: VerdictLabel = Field(
        description=(
            "fake when score >= threshold, real below it; inconclusive when "
            + " or ".join(INCONCLUSIVE_REASONS)
            + " is among reasons."
        )
    )
    score: float = Field(description="Video fake probability in [0, 1].")
    threshold: float = Field(description="Decision threshold of the answering model version.")
    aggregation: Aggregation = Field(description="The aggregation that decided.")
    model: ModelInfo
    frames_analyzed: int
    video: VideoSummary
    tracks: list[TrackResult]
    timeline: list[TimelinePoint]
    timings_ms: Timings
    request_id: str
    warnings: list[str] = Field(
        default_factory=list,
        description="What to know before trusting the verdict (e.g. a demo model); empty if none.",
    )
    # Defaults, so that job results stored before these fields existed still load.
    score_interval: ScoreInterval | None = Field(
        None,
        description=(
            "A bootstrap interval of score: the deciding face track's frame scores (every "
            "frame's without one) resampled with a fixed seed and aggregated by the same "
            "rule; null when a sequence head scored the tracks."
        ),
    )
    reasons: list[
        Annotated[
            ReasonCode,
            WithJsonSchema(
                {
                    "type": "string",
                    "enum": list(REASON_CODES),
                    "description": _REASONS_TEXT,
                    "x-enum-descriptions": [REASON_DESCRIPTIONS[c] for c in REASON_CODES],
                    "title": "ReasonCode",
                }
            ),
        ]
    ] = Field(
        default_factory=list,
        description=(
            "Why the verdict deserves care, as codes (empty when none); "
            + " and ".join(INCONCLUSIVE_REASONS)
            + " make it inconclusive, the others accompany any verdict."
        ),
    )
    # A default, so that job results stored before this field existed still load.
    provenance: Provenance = Field(
        default_factory=lambda: Provenance(present=False),
        description="The upload's content credentials (C2PA), reported beside the verdict; "
        "they never change the score or the verdict.",
    )
    operating_point: AppliedOperatingPoint | None = Field(
        None,
        description=(
            "The named threshold that decided (operating_point=NAME, default balanced); its "
            "threshold equals threshold."
        ),
    )
    members: dict[str, float] | None = Field(
        None,
        description=(
            "Ensembles: each member's video score by member name (GET /v1/models lists "
            "them), from that member's face scores through the same tracks and aggregation "
            "as score; score itself combines the members' calibrated logits with the weights "
            "fitted for the version, so it is not an average of these. Null for versions "
            "that are not ensembles, unless a track member scored (talking_head, audio_visual)."
        ),
    )
    audio: AudioSummary = Field(
        default_factory=lambda: AudioSummary(present=False),
        description="The upload's audio track and, for versions with an audio-visual member, "
        "its score (also in members); absent audio never changes the visual verdict.",
    )
    motion: MotionSummary | None = Field(
        None, description="The talking-head member's score (also in members); null without one."
    )
    robustness: Robustness | None = Field(
        None,
        description="With robustness=true: the stability probe's copies and how far their "
        "scores moved (not signed by the receipt); null otherwise.",
    )
    # A default, so that job results stored before receipts existed still load.
    receipt: str | None = Field(
        None,
        description=(
            "A compact JWS (EdDSA, Ed25519) signed by the gateway over this answer: the "
            "media's sha256, the model name, version and digest, the sampling and aggregation "
            "settings, the sampled frame times, the video and track scores, the verdict, "
            "threshold and operating point, the gateway's version and the time (iat); its "
            "header's kid names the key, published at /.well-known/jwks.json. It proves that "
            "this service, with this key, gave this answer about these bytes with this model, "
            "not that the answer is right. Null only in results stored before receipts existed."
        ),
    )


class AppliedOperatingPoint(BaseModel):
    """The operating point whose threshold decided a verdict."""

    name: str
    threshold: float


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


class Health(BaseModel):
    status: str
    detail: str = ""
