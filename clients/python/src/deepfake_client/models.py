"""Response models of the gateway's API, generated from ``clients/python/openapi.json``.

Do not edit: run ``clients/python/scripts/generate_models.py`` after refreshing the snapshot.
Unknown fields are kept (``extra="allow"``) so that a newer gateway does not break an older
client.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class ErrorDetail(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    code: Annotated[str, Field(title="Code")]
    message: Annotated[str, Field(title="Message")]


class ErrorResponse(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    error: ErrorDetail


class FaceResult(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    box: Annotated[list[float], Field(title="Box")]
    """
    [y1, x1, y2, x2] as fractions of the upright frame.
    """
    detection_score: Annotated[float, Field(title="Detection Score")]
    score: Annotated[float, Field(title="Score")]
    """
    Fake probability of this face.
    """
    track: Annotated[int, Field(title="Track")]


class Health(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    detail: Annotated[str | None, Field(title="Detail")] = ""
    status: Annotated[str, Field(title="Status")]


class ModelInfo(BaseModel):
    """
    The model version that answered a detection.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    label: Annotated[str | None, Field(title="Label")] = None
    """
    The version label asked for, if any.
    """
    name: Annotated[str, Field(title="Name")]
    version: Annotated[int, Field(title="Version")]
    """
    The model version that actually answered.
    """


class ModelVersionInfo(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    error: Annotated[str | None, Field(title="Error")] = ""
    frame_min_side: Annotated[int | None, Field(title="Frame Min Side")] = None
    """
    Shorter frame side the version needs; 0: any (AVAILABLE versions).
    """
    labels: Annotated[list[str] | None, Field(title="Labels")] = []
    sequence_length: Annotated[int | None, Field(title="Sequence Length")] = None
    """
    Faces per window of its sequence head; 0: none (AVAILABLE versions).
    """
    state: Annotated[str, Field(title="State")]
    threshold: Annotated[float | None, Field(title="Threshold")] = None
    """
    Decision threshold the version ships (AVAILABLE versions).
    """
    version: Annotated[int, Field(title="Version")]


class ModelsResponse(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    name: Annotated[str, Field(title="Name")]
    versions: Annotated[list[ModelVersionInfo], Field(title="Versions")]


class TimelinePoint(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    faces: Annotated[list[FaceResult] | None, Field(title="Faces", validate_default=True)] = []
    score: Annotated[float, Field(title="Score")]
    """
    Fake probability of the frame.
    """
    t_s: Annotated[float, Field(title="T S")]


class Timings(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    aggregate: Annotated[float, Field(title="Aggregate")]
    decode: Annotated[float, Field(title="Decode")]
    inference: Annotated[float, Field(title="Inference")]
    probe: Annotated[float, Field(title="Probe")]
    sequence: Annotated[float | None, Field(title="Sequence")] = None
    """
    The sequence head scoring the face tracks (aggregation 'sequence').
    """
    total: Annotated[float, Field(title="Total")]
    upload: Annotated[float, Field(title="Upload")]


class TrackResult(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    frames: Annotated[list[int], Field(title="Frames")]
    """
    Indices into the timeline where this track appears.
    """
    id: Annotated[int, Field(title="Id")]
    score: Annotated[float, Field(title="Score")]
    """
    Fake probability of this face track.
    """


class VideoSummary(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    duration_s: Annotated[float, Field(title="Duration S")]
    fps: Annotated[float, Field(title="Fps")]
    frames_sampled: Annotated[int, Field(title="Frames Sampled")]
    height: Annotated[int, Field(title="Height")]
    """
    Height as displayed, after rotation.
    """
    rotation: Annotated[int, Field(title="Rotation")]
    """
    Clockwise degrees applied to display the video upright.
    """
    width: Annotated[int, Field(title="Width")]
    """
    Width as displayed, after rotation.
    """


class DetectionResponse(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    aggregation: Annotated[
        Literal["mean", "median", "topk_mean", "confident", "max", "sequence"],
        Field(title="Aggregation"),
    ]
    """
    The aggregation that decided.
    """
    frames_analyzed: Annotated[int, Field(title="Frames Analyzed")]
    model: ModelInfo
    request_id: Annotated[str, Field(title="Request Id")]
    score: Annotated[float, Field(title="Score")]
    """
    Video fake probability in [0, 1].
    """
    threshold: Annotated[float, Field(title="Threshold")]
    """
    Decision threshold of the answering model version.
    """
    timeline: Annotated[list[TimelinePoint], Field(title="Timeline")]
    timings_ms: Timings
    tracks: Annotated[list[TrackResult], Field(title="Tracks")]
    verdict: Annotated[Literal["real", "fake", "inconclusive"], Field(title="Verdict")]
    video: VideoSummary
