"""Response models of the jobs API (part of the OpenAPI document)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

from ..schemas import DetectionResponse, ErrorDetail
from .models import Delivery, Job
from .webhooks import job_links

JobState = Literal["queued", "running", "succeeded", "failed", "canceled", "expired"]


def iso(ts: float | None) -> str | None:
    """Unix seconds as RFC 3339 UTC with milliseconds."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JobProgress(BaseModel):
    stage: str = Field(
        description="queued, waiting (for a processing slot), decrypt, probe, inference, "
        "sequence, aggregate, done"
    )
    frames_done: int = Field(0, description="Frames scored by Serving so far.")
    frames_total: int | None = Field(None, description="Frames that will be sampled.")


class JobInput(BaseModel):
    size_bytes: int
    sha256: str
    duration_s: float


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
        None, description="The sync API's error codes, or worker_lost / canceled."
    )
    links: JobLinks

    @classmethod
    def of(cls, job: Job) -> JobResponse:
        progress = dict(job.progress)
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
            input=JobInput(
                size_bytes=job.input_size, sha256=job.input_sha256, duration_s=job.input_duration_s
            ),
            model_version=job.model_version,
            parameters=job.params,
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
