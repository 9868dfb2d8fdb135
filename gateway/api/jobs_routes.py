"""HTTP routes of asynchronous jobs (``/v1/jobs``): submit, list, read, cancel, delete, events.

They raise domain errors (``gateway.errors``); the app's error handlers render them. The
work is in :mod:`gateway.jobs.service`; a job's webhook routes are in
:mod:`gateway.api.webhook_routes`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from ..errors import (
    ANY_ROUTE_ERRORS,
    AUTH_ERRORS,
    BadRequest,
    CallbackRefused,
    ClientDisconnected,
    IdempotencyMismatch,
    ImageTooLarge,
    InvalidImage,
    InvalidParameters,
    InvalidVideo,
    JobHasNoResult,
    JobNotCancelable,
    JobNotFound,
    JobStoreUnavailable,
    MissingVideo,
    RateLimited,
    RequestTimeout,
    UnsupportedMediaType,
    UploadTooLarge,
    VideoLimitExceeded,
    WebhookSecretMissing,
)
from ..jobs.models import ENDED
from ..jobs.schemas import (
    JobList,
    JobResponse,
    job_headers,
)
from ..jobs.service import JobService
from ..jobs.ssrf import MAX_URL_LENGTH
from ..logs import request_id_var
from ..pipeline.params import MAX_METADATA_VALUE, DetectParams
from ..pipeline.timeline_svg import MEDIA_TYPE as SVG_MEDIA_TYPE
from ..pipeline.timeline_svg import render_timeline
from ..settings import Settings
from .deps import KeyIdDep
from .error_responses import openapi_responses
from .jobs_url_request import (
    JOBS_REQUEST_BODY,
    accept_url_job,
    is_json,
    refuse_media_url_beside_upload,
)
from .params import detect_params, metadata_from_query
from .upload import UploadLimits, receive_upload

router = APIRouter(tags=["jobs"])

_SSE_POLL_S = 0.5
_SSE_KEEPALIVE_S = 15.0


def get_jobs(request: Request) -> JobService:
    return request.app.state.jobs


#: The id of the request's API key (jobs and webhook secrets belong to it).
Owner = KeyIdDep
JobsDep = Annotated[JobService, Depends(get_jobs)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=128,
        description="Same key and same request: the first job's answer, marked "
        "Idempotent-Replayed: true. Same key, other request: 422. Kept 24 h per API key.",
    ),
]
CallbackUrl = Annotated[
    str | None,
    Query(
        max_length=MAX_URL_LENGTH,
        description="https URL on port 443 (or an allowed port) resolving only to global "
        "addresses; receives a signed webhook when the job ends.",
    ),
]

# What each route may answer besides its success, from the one table in ``errors``;
# every jobs route reads or writes the job store.
JOBS_ROUTE_ERRORS = (*ANY_ROUTE_ERRORS, *AUTH_ERRORS, JobStoreUnavailable)
_SUBMIT_ERRORS = openapi_responses(
    *JOBS_ROUTE_ERRORS,
    RateLimited,
    RequestTimeout,
    BadRequest,
    InvalidParameters,
    UploadTooLarge,
    UnsupportedMediaType,
    MissingVideo,
    InvalidVideo,
    InvalidImage,
    ImageTooLarge,
    VideoLimitExceeded,
    ClientDisconnected,
    IdempotencyMismatch,
    CallbackRefused,
    WebhookSecretMissing,
)
_LIST_ERRORS = openapi_responses(*JOBS_ROUTE_ERRORS, BadRequest, InvalidParameters)
_JOB_ERRORS = openapi_responses(*JOBS_ROUTE_ERRORS, JobNotFound)
_TIMELINE_ERRORS = openapi_responses(*JOBS_ROUTE_ERRORS, JobNotFound, JobHasNoResult)
_CANCEL_ERRORS = openapi_responses(*JOBS_ROUTE_ERRORS, JobNotFound, JobNotCancelable)
#: OpenAPI of the ``metadata.<name>`` query parameters (FastAPI cannot declare a prefix).
METADATA_PARAMETER = {
    "name": "metadata.{name}",
    "in": "query",
    "required": False,
    "description": "Up to 8 pairs echoed in the job and its webhook: name 1-40 of "
    "[A-Za-z0-9_.-], value up to 64 printable characters.",
    "schema": {"type": "string", "maxLength": MAX_METADATA_VALUE},
}


def parse_prefer(header: str | None) -> dict[str, str]:
    """RFC 7240 ``Prefer`` preferences: ``respond-async, wait=10`` -> {..., "wait": "10"}."""
    prefs: dict[str, str] = {}
    for part in (header or "").split(","):
        token = part.split(";", 1)[0].strip()
        if not token:
            continue
        name, _, value = token.partition("=")
        prefs[name.strip().lower()] = value.strip().strip('"')
    return prefs


def upload_limits(settings: Settings) -> UploadLimits:
    """How uploads may arrive (``/v1/detect`` and ``/v1/jobs`` alike)."""
    return UploadLimits(
        max_bytes=settings.max_upload_bytes,
        idle_timeout_s=settings.upload_idle_timeout_s,
        min_bytes_per_s=settings.upload_min_bytes_per_s,
        grace_s=settings.upload_grace_s,
        max_parts=settings.max_form_parts,
        max_part_header_bytes=settings.max_part_header_bytes,
    )


async def accept_job(
    request: Request,
    *,
    jobs: JobService,
    settings: Settings,
    owner: str,
    params: DetectParams,
    callback_url: str | None,
    idempotency_key: str | None,
    wait_s: float | None = None,
) -> JSONResponse:
    """Store the upload as a job and answer 202 (or the result, when it ends within wait_s)."""
    if idempotency_key is not None and (not idempotency_key or not idempotency_key.isprintable()):
        raise BadRequest("Idempotency-Key must be 1 to 128 printable characters")
    metadata = metadata_from_query(request)
    await jobs.check_callback(owner, callback_url)
    state = request.app.state
    # The upload is received under the same per-key quota and receiving limit as
    # /v1/detect; the processing slot is taken later, by the worker.
    with state.quotas.hold(owner):
        async with state.receiving.slot():
            upload = await receive_upload(
                request, limits=upload_limits(settings), directory=settings.var_dir / "uploads"
            )
    submitted = await jobs.submit(
        owner=owner,
        upload=upload.path,
        params=params,
        callback_url=callback_url,
        metadata=metadata,
        idempotency_key=idempotency_key,
        request_id=request_id_var.get(),
    )
    job = submitted.job
    headers = job_headers(job.id, submitted.replayed)
    if wait_s is not None and wait_s > 0:
        job = await jobs.wait(owner, job.id, wait_s)
        if job.status == "succeeded" and job.result is not None:
            headers.pop("Retry-After")
            headers["Content-Location"] = headers.pop("Location")
            return JSONResponse(job.result, status_code=200, headers=headers)
    return JSONResponse(
        JobResponse.of(job).model_dump(mode="json"), status_code=202, headers=headers
    )


@router.post(
    "/v1/jobs",
    status_code=202,
    response_model=JobResponse,
    responses={
        202: {
            "description": "Accepted: the upload is stored",
            "headers": {
                "Location": {"description": "The job", "schema": {"type": "string"}},
                "Retry-After": {"description": "Seconds to poll", "schema": {"type": "integer"}},
                "Idempotent-Replayed": {
                    "description": "true: the answer of an earlier request with this key",
                    "schema": {"type": "string"},
                },
            },
        },
        **_SUBMIT_ERRORS,
    },
    openapi_extra={"requestBody": JOBS_REQUEST_BODY, "parameters": [METADATA_PARAMETER]},
)
async def submit_job(
    request: Request,
    jobs: JobsDep,
    owner: Owner,
    params: Annotated[DetectParams, Depends(detect_params)],
    callback_url: CallbackUrl = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Upload a video as for /v1/detect, or send JSON with a ``media_url`` for the job to
    fetch; get ``202 Accepted`` and a job to poll."""
    if is_json(request):
        return await accept_url_job(
            request, jobs=jobs, owner=owner, idempotency_key=idempotency_key
        )
    refuse_media_url_beside_upload(request)
    return await accept_job(
        request,
        jobs=jobs,
        settings=request.app.state.settings,
        owner=owner,
        params=params,
        callback_url=callback_url,
        idempotency_key=idempotency_key,
    )


def _encode_cursor(created_at: float, job_id: str) -> str:
    return base64.urlsafe_b64encode(f"{created_at!r}:{job_id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        at, _, job_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        return float(at), job_id
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadRequest("invalid cursor") from exc


@router.get("/v1/jobs", response_model=JobList, responses=_LIST_ERRORS)
async def list_jobs(
    jobs: JobsDep,
    owner: Owner,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> JobList:
    """This API key's jobs, newest first; follow ``next_cursor`` for older ones."""
    before = _decode_cursor(cursor) if cursor else None
    found = await jobs.list(owner, limit + 1, before)
    page = found[:limit]
    more = len(found) > limit
    return JobList(
        jobs=[JobResponse.of(j) for j in page],
        next_cursor=_encode_cursor(page[-1].created_at, page[-1].id) if more else None,
    )


@router.get("/v1/jobs/{job_id}", response_model=JobResponse, responses=_JOB_ERRORS)
async def get_job(job_id: str, jobs: JobsDep, owner: Owner, response: Response) -> JobResponse:
    """The job's status, progress, input, and its result or error once it ended."""
    job = await jobs.get(owner, job_id)
    if job.status not in ENDED:
        response.headers["Retry-After"] = "1"
    return JobResponse.of(job)


@router.get(
    "/v1/jobs/{job_id}/timeline.svg",
    response_class=Response,
    responses={
        200: {
            "content": {SVG_MEDIA_TYPE: {"schema": {"type": "string"}}},
            "description": "The per-frame score, the threshold and one lane per face track",
        },
        **_TIMELINE_ERRORS,
    },
)
async def job_timeline(job_id: str, jobs: JobsDep, owner: Owner) -> Response:
    """The result's timeline as an SVG image (no scripts, no external references)."""
    job = await jobs.get(owner, job_id)
    if job.status != "succeeded" or not job.result:
        raise JobHasNoResult(f"job {job_id} is {job.status}; only a succeeded job has a timeline")
    return Response(render_timeline(job.result), media_type=SVG_MEDIA_TYPE)


@router.post("/v1/jobs/{job_id}/cancel", response_model=JobResponse, responses=_CANCEL_ERRORS)
async def cancel_job(job_id: str, jobs: JobsDep, owner: Owner) -> JSONResponse:
    """Cancel: a queued job at once (200), a running one as soon as its worker sees it (202)."""
    job = await jobs.cancel(owner, job_id)
    status = 202 if job.status == "running" else 200
    return JSONResponse(JobResponse.of(job).model_dump(mode="json"), status_code=status)


@router.delete("/v1/jobs/{job_id}", status_code=204, responses=_JOB_ERRORS)
async def delete_job(job_id: str, jobs: JobsDep, owner: Owner) -> Response:
    """Remove the job, its media, wrapped key, result and deliveries."""
    await jobs.delete(owner, job_id)
    return Response(status_code=204)


@router.get(
    "/v1/jobs/{job_id}/events",
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "Server-sent events"},
        **_JOB_ERRORS,
    },
)
async def job_events(job_id: str, request: Request, jobs: JobsDep, owner: Owner) -> Response:
    """Server-sent events: ``progress`` (the job as JSON) on each change, then one ``end``."""
    await jobs.get(owner, job_id)  # 404 before the stream starts

    async def stream() -> AsyncIterator[str]:
        last: object = None
        count = 0
        quiet_since = time.monotonic()
        while True:
            job = await asyncio.to_thread(jobs.store.get_job, job_id, owner)
            if job is None:
                yield "event: deleted\ndata: {}\n\n"
                return
            state = (job.status, json.dumps(job.progress, sort_keys=True))
            ended = job.status in ENDED
            if state != last or ended:
                last = state
                count += 1
                body = JobResponse.of(job).model_dump_json()
                yield f"id: {count}\nevent: {'end' if ended else 'progress'}\ndata: {body}\n\n"
                quiet_since = time.monotonic()
            if ended:
                return
            if time.monotonic() - quiet_since > _SSE_KEEPALIVE_S:
                yield ": keep-alive\n\n"  # a comment: keeps proxies from closing the stream
                quiet_since = time.monotonic()
            if await request.is_disconnected():
                return
            await asyncio.sleep(_SSE_POLL_S)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
