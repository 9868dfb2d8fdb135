"""Response models of the jobs API (part of the OpenAPI document)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from contract.aggregation import Aggregation

from ..pipeline.params import MAX_METADATA_PAIRS, MEDIA_URL_PARAM, DetectParams
from ..schemas import DetectionResponse, ErrorDetail
from .events import job_links
from .fetch import MAX_MEDIA_URL_LENGTH
from .models import Delivery, Job
from .ssrf import MAX_URL_LENGTH

JobState = Literal["queued", "running", "succeeded", "failed", "canceled", "expired"]


def iso(ts: float | None) -> str | None:
    """Unix seconds as RFC 3339 UTC with milliseconds."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def job_headers(job_id: str, replayed: bool) -> dict[str, str]:
    """The headers of a 202 that accepted a job (or replayed one)."""
    headers = {"Location": f"/v1/jobs/{job_id}", "Retry-After": "1"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return headers


class MediaUrlJob(BaseModel):
    """``POST /v1/jobs`` as JSON: a job whose media the gateway fetches from ``media_url``.

    The options are the upload's query parameters, here as fields.
    """

    model_config = ConfigDict(extra="forbid")

    media_url: str = Field(
        min_length=1,
        max_length=MAX_MEDIA_URL_LENGTH,
        description="http(s) URL of a video or a JPEG, PNG or WebP image, fetched by the "
        "job: only globally routable hosts, redirects re-checked, within the upload limits.",
    )
    callback_url: str | None = Field(None, max_length=MAX_URL_LENGTH)
    metadata: dict[str, str] = Field(
        default_factory=dict,
        max_length=MAX_METADATA_PAIRS,
        description="Up to 8 pairs echoed in the job and its webhook.",
    )
    model_version: int | None = Field(None, ge=1)
    model_label: str | None = Field(None, pattern=r"^[A-Za-z0-9_]+$")
    frames: int | None = Field(None, ge=1, le=256)
    fps: float | None = Field(None, gt=0, le=60)
    aggregation: Aggregation | None = None
    explain: bool = False
    operating_point: str | None = Field(None, pattern=r"^[A-Za-z0-9_]{1,40}$")
    robustness: bool = False

    def params(self) -> DetectParams:
        """The detection options, as the query parameters of an upload give them."""
        return DetectParams(
            self.model_version,
            self.model_label,
            self.frames,
            self.fps,
            self.aggregation,
            self.explain,
            self.operating_point,
            self.robustness,
        )


class JobProgress(BaseModel):
    stage: str = Field(
        description="queued, fetch (a media URL), waiting (for a processing slot), decrypt, "
        "probe, inference, "
        "sequence, motion, aggregate, done"
    )
    frames_done: int = Field(0, description="Frames scored by Serving so far.")
    frames_total: int | None = Field(None, description="Frames that will be sampled.")


class JobInput(BaseModel):
    size_bytes: int = Field(description="Bytes of the media (of a media URL: 0 until fetched).")
    sha256: str = Field(description="SHA-256 of the media (of a media URL: once fetched).")
    duration_s: float = Field(description="Probed at submission (0 for a media URL).")
    media_url: str | None = Field(
        None, description="The URL the job fetches its media from (null for an upload)."
    )


class JobLinks(BaseModel):
    self: str
    events: str
    deliveries: str


class JobResponse(BaseModel):
    id: str
    status: JobState
    created_at: str
    updated_at: str
    started_at: str | None = None
    finished_at: str | None = None
    expires_at: str = Field(
        description="When the job's record and result are removed (GATEWAY_JOB_RETENTION "
        "after it ends; before that, after submission)."
    )
    attempts: int = Field(
        description="Times a worker claimed the job (retries after a lost worker)."
    )
    progress: JobProgress
    input: JobInput
    model_version: int | None = None
    parameters: dict[str, int | float | str] = {}
    callback_url: str | None = None
    metadata: dict[str, str] = {}
    result: DetectionResponse | None = Field(
        None, description="Exactly the body /v1/detect returns (status succeeded)."
    )
    error: ErrorDetail | None = Field(
        None,
        description="The sync API's error codes, or worker_lost / canceled / "
        "media_undecryptable; for a media URL also media_unreachable, media_too_large, "
        "media_not_allowed, unsupported_media.",
    )
    links: JobLinks

    @classmethod
    def of(cls, job: Job) -> JobResponse:
        progress = dict(job.progress)
        params = dict(job.params)
        media_url = params.pop(MEDIA_URL_PARAM, None)
        return cls(
            id=job.id,
            status=str(job.status),  # type: ignore[arg-type]
            created_at=iso(job.created_at),  # type: ignore[arg-type]
            updated_at=iso(job.updated_at),  # type: ignore[arg-type]
            started_at=iso(job.started_at),
            finished_at=iso(job.finished_at),
            expires_at=iso(job.expires_at),  # type: ignore[arg-type]
            attempts=job.attempts,
            progress=JobProgress(
                stage=progress.get("stage", "queued") if job.status != "succeeded" else "done",
                frames_done=progress.get("frames_done", 0),
                frames_total=progress.get("frames_total"),
            ),
            # A fetched medium's size and hash travel in the progress the worker records
            # (the row's input columns are written once, at submission).
            input=JobInput(
                size_bytes=progress.get("input_bytes", job.input_size),
                sha256=progress.get("input_sha256", job.input_sha256),
                duration_s=job.input_duration_s,
                media_url=media_url,
            ),
            model_version=job.model_version,
            parameters=params,
            callback_url=job.callback_url,
            metadata=job.metadata,
            result=DetectionResponse.model_validate(job.result) if job.result else None,
            error=ErrorDetail(**job.error) if job.error else None,
            links=JobLinks(**job_links(job.id)),
        )


class JobList(BaseModel):
    jobs: list[JobResponse]
    next_cursor: str | None = Field(None, description="Pass as ?cursor= for the next page.")


class DeliveryAttempt(BaseModel):
    attempt: int
    at: str
    duration_ms: float
    status: int | None = Field(None, description="The receiver's HTTP status, if it answered.")
    error: str | None = None


class DeliveryResponse(BaseModel):
    id: str
    message_id: str = Field(description="The webhook-id header; the same on every attempt.")
    event: str
    url: str
    state: Literal["pending", "delivered", "failed", "stopped"]
    attempts: int
    next_attempt_at: str | None
    last_status: int | None
    last_error: str | None
    created_at: str
    log: list[DeliveryAttempt]

    @classmethod
    def of(cls, d: Delivery) -> DeliveryResponse:
        return cls(
            id=d.id,
            message_id=d.message_id,
            event=d.event,
            url=d.url,
            state=str(d.state),  # type: ignore[arg-type]
            attempts=d.attempts,
            next_attempt_at=iso(d.next_attempt_at) if d.state == "pending" else None,
            last_status=d.last_status,
            last_error=d.last_error,
            created_at=iso(d.created_at),  # type: ignore[arg-type]
            log=[DeliveryAttempt(**{**a, "at": iso(a["at"])}) for a in d.log],
        )


class DeliveryList(BaseModel):
    deliveries: list[DeliveryResponse]


class WebhookSecret(BaseModel):
    secret: str = Field(
        description="Standard Webhooks secret (whsec_...). Shown only in this answer; "
        "POST again to rotate it."
    )


class ScoreDifference(BaseModel):
    """One score in both answers of a replay; null where one answer has no such item."""

    original: float | None
    replay: float | None
    delta: float | None = Field(description="replay - original; null when either is missing.")


class TrackDifference(ScoreDifference):
    id: int = Field(description="The track id (the same faces, linked the same way).")


class TimelineDifference(ScoreDifference):
    t_s: float = Field(description="Time of the frame in seconds.")


class ReplayDifference(BaseModel):
    """How the replay's answer differs from the job's."""

    score_delta: float = Field(description="replay score - original score.")
    verdict_changed: bool
    tracks: list[TrackDifference]
    timeline: list[TimelineDifference]


class ReplayResponse(BaseModel):
    """A job's stored media scored again by another version, beside the job's own answer."""

    job_id: str
    original: DetectionResponse = Field(description="The job's result, as it was answered.")
    replay: DetectionResponse = Field(description="The same media scored by the version asked.")
    difference: ReplayDifference
