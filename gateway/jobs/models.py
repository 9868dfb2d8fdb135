"""Records the job store keeps: jobs, webhook deliveries, and their states."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class JobStatus(StrEnum):
    """Life cycle: queued -> running -> succeeded | failed | canceled; ended -> expired."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    EXPIRED = "expired"


#: States a job never leaves (but for ``expired``, once its retention ends).
ENDED = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED, JobStatus.EXPIRED})
#: States whose end announces itself by webhook.
NOTIFIED = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED})


class DeliveryState(StrEnum):
    PENDING = "pending"  # waiting for its next attempt
    DELIVERED = "delivered"  # a 2xx answer
    FAILED = "failed"  # out of attempts
    STOPPED = "stopped"  # the receiver answered 410 Gone


@dataclass
class Job:
    """One asynchronous detection. Times are Unix seconds."""

    id: str
    owner: str
    status: JobStatus
    created_at: float
    updated_at: float
    expires_at: float
    #: The detection parameters (``model_version``, ``model_label``, ``frames``, ``fps``,
    #: ``aggregation``), as given.
    params: dict[str, Any]
    input_size: int
    input_sha256: str
    input_duration_s: float
    wrapped_key: bytes | None
    request_id: str = "-"
    callback_url: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    started_at: float | None = None
    finished_at: float | None = None
    model_version: int | None = None
    progress: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    error: dict[str, str] | None = None
    attempts: int = 0
    lease_owner: str | None = None
    lease_expires: float | None = None
    cancel_requested: bool = False


@dataclass
class Delivery:
    """One webhook message for a job, and the attempts to deliver it."""

    id: str
    job_id: str
    owner: str
    #: ``webhook-id``: the same for every attempt and redelivery of one message.
    message_id: str
    event: str
    url: str
    payload: str
    state: DeliveryState
    created_at: float
    updated_at: float
    next_attempt_at: float
    attempts: int = 0
    last_status: int | None = None
    last_error: str | None = None
    log: list[dict[str, Any]] = field(default_factory=list)
    lease_expires: float | None = None


@dataclass(frozen=True)
class Heartbeat:
    """What a worker learns when it renews its lease."""

    owned: bool  # False: the lease went to another worker, or the job was deleted
    cancel_requested: bool
