"""Asynchronous detection jobs: the job model and what both clients share about jobs.

A job is created by uploading a video to ``POST /v1/jobs``, or by naming a media URL the
gateway fetches (a JSON body with ``media_url``; answered ``202`` with
``Location`` and ``Retry-After``), moves through the states below, and once ``succeeded``
carries the same body ``POST /v1/detect`` answers in ``result``::

    queued -> running -> succeeded | failed | canceled | expired

The gateway's OpenAPI snapshot does not describe jobs yet, so :class:`Job` is written
against the documented shape, keeps every other field the gateway sends (``progress``,
``links``, ...), and needs only ``id`` and the state (sent as ``status`` or ``state``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import quote

import httpx
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, PrivateAttr

from . import _core
from ._sse import SseEvent
from .models import DetectionResponse, ErrorDetail

JobState = Literal["queued", "running", "succeeded", "failed", "canceled", "expired"]
#: States a job never leaves.
FINAL_STATES: frozenset[str] = frozenset({"succeeded", "failed", "canceled", "expired"})
#: Poll interval when the gateway sends no ``Retry-After``.
DEFAULT_POLL_S = 1.0


class Job(BaseModel):
    """One detection job as the gateway reports it."""

    model_config = ConfigDict(extra="allow")

    id: str
    state: str = Field(validation_alias=AliasChoices("status", "state"))
    created_at: str | None = None
    updated_at: str | None = None
    result: DetectionResponse | None = None
    error: ErrorDetail | None = None

    _location: str | None = PrivateAttr(None)
    _retry_after: float | None = PrivateAttr(None)

    @property
    def status(self) -> str:
        """The job's state, under the name the gateway's JSON gives it."""
        return self.state

    @property
    def done(self) -> bool:
        """The job is in a final state."""
        return self.state in FINAL_STATES

    @property
    def location(self) -> str | None:
        """The job's URL from the ``Location`` header, when the answer had one."""
        return self._location

    @property
    def retry_after(self) -> float | None:
        """Seconds the gateway asked to wait before polling again, when it said."""
        return self._retry_after


def job_path(job_id: str, *rest: str) -> str:
    """The path of a job (and of what is under it)."""
    return "/".join(["/v1/jobs", quote(job_id, safe=""), *rest])


def url_job_spec(
    url: str,
    *,
    callback_url: str | None,
    metadata: Mapping[str, str] | None,
    idempotency_key: str | None,
    options: dict[str, Any],
) -> _core.RequestSpec:
    """``POST /v1/jobs`` with a JSON body naming ``url``: the gateway fetches the media.

    ``options`` are the detection parameters (``frames``, ``operating_point``, ...), sent as
    fields of the body; unset ones are left out. The ``Idempotency-Key`` (a fresh one unless
    given) makes retries safe.
    """
    body: dict[str, Any] = {"media_url": url, **_core.detect_params(**options)}
    for flag in ("explain", "robustness"):
        if flag in body:
            body[flag] = True  # a JSON boolean here, not the query's "true"
    if callback_url is not None:
        body["callback_url"] = callback_url
    if metadata:
        body["metadata"] = dict(metadata)
    key = idempotency_key or _core.new_idempotency_key()
    return _core.RequestSpec("POST", "/v1/jobs", headers={"Idempotency-Key": key}, json_body=body)


def parse_job(response: httpx.Response) -> Job:
    """The job of an answer, with its ``Location`` and ``Retry-After``."""
    _core.check(response)
    body: Any = response.json() if response.content else {}
    location = response.headers.get("location")
    if isinstance(body, dict) and "job" in body and isinstance(body["job"], dict):
        body = body["job"]
    if isinstance(body, dict) and "id" not in body and location:
        body = {**body, "id": location.rstrip("/").rsplit("/", 1)[-1]}
    job = Job.model_validate(body)
    job._location = location
    job._retry_after = _core.retry_after(response)
    return job


class JobList(BaseModel):
    """One page of ``GET /v1/jobs``, newest first; ``next_cursor`` asks for the next page."""

    model_config = ConfigDict(extra="allow")

    jobs: list[Job]
    next_cursor: str | None = None


def list_params(limit: int | None, cursor: str | None) -> dict[str, Any]:
    """The query of one page of ``GET /v1/jobs``."""
    return {k: v for k, v in (("limit", limit), ("cursor", cursor)) if v is not None}


def parse_job_list(response: httpx.Response) -> JobList:
    """The page of ``GET /v1/jobs`` (a bare list of jobs is taken as a last page)."""
    _core.check(response)
    body = response.json()
    if isinstance(body, list):
        body = {"jobs": body}
    return JobList.model_validate(body)


def poll_delay(job: Job) -> float:
    """How long to wait before asking again about ``job``."""
    return job.retry_after if job.retry_after is not None else DEFAULT_POLL_S


#: Events after which a job's stream has nothing more to say.
FINAL_EVENTS: frozenset[str] = frozenset({"end", "deleted"})


def state_of_event(event: SseEvent) -> str | None:
    """The job state an SSE event reports, if any (``data`` JSON or the event name)."""
    data = event.json()
    if isinstance(data, dict):
        job = data.get("job") if isinstance(data.get("job"), dict) else data
        state = job.get("status", job.get("state"))
        if isinstance(state, str):
            return state
    return event.event if event.event in FINAL_STATES else None


def ends_stream(event: SseEvent) -> bool:
    """The event says the job is final (or gone): stop reading, ask for the job."""
    return event.event in FINAL_EVENTS or state_of_event(event) in FINAL_STATES


def finished(job: Job, raise_on_failure: bool) -> Job:
    """``job`` if it succeeded (or failures are not to raise); else :class:`JobFailed`."""
    from .errors import JobFailed

    if raise_on_failure and job.state != "succeeded":
        why = f": {job.error.code}: {job.error.message}" if job.error else ""
        raise JobFailed(job, f"job {job.id} ended {job.state}{why}")
    return job
