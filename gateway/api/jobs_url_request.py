"""The JSON body of ``POST /v1/jobs`` naming a media URL: read within a size, checked whole.

A job takes its media from one source: an upload, or a ``media_url`` in a JSON body whose
other fields are the upload's query parameters. Mixing the two is refused here, before
anything is recorded.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse

from ..errors import BadRequest, InvalidParameters
from ..jobs.schemas import JobResponse, MediaUrlJob, job_headers
from ..jobs.service import JobService
from ..logs import request_id_var
from ..pipeline.params import MEDIA_URL_PARAM, METADATA_PREFIX, metadata_from_pairs
from .upload import UPLOAD_REQUEST_BODY

#: A JSON job description is a few hundred bytes; more is not one.
MAX_JSON_BYTES = 16 * 1024
#: Query parameters that carry job options (with a JSON body they go in the body).
_OPTION_QUERY = frozenset(
    {"model_version", "model_label", "frames", "fps", "aggregation", "explain"}
    | {"operating_point", "robustness", "callback_url", MEDIA_URL_PARAM}
)
#: The request body ``POST /v1/jobs`` documents: an upload, or this JSON.
JOBS_REQUEST_BODY: dict[str, Any] = {
    **UPLOAD_REQUEST_BODY,
    "content": {
        **UPLOAD_REQUEST_BODY["content"],  # type: ignore[dict-item]
        "application/json": {"schema": MediaUrlJob.model_json_schema()},
    },
}


def is_json(request: Request) -> bool:
    """Whether the request's body is declared as JSON (a job from a media URL)."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0]
    return media_type.strip().lower() == "application/json"


def refuse_media_url_beside_upload(request: Request) -> None:
    """An upload with a ``media_url`` query parameter names two sources: 400."""
    if MEDIA_URL_PARAM in request.query_params:
        raise BadRequest(f"give a {MEDIA_URL_PARAM} in a JSON body, or upload a file, not both")


async def _body(request: Request) -> bytes:
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > MAX_JSON_BYTES:
            raise BadRequest(f"a JSON job description is at most {MAX_JSON_BYTES} bytes")
    return bytes(received)


async def read_url_job(request: Request) -> tuple[MediaUrlJob, dict[str, str]]:
    """The checked job description and its metadata; 400 or 422 (``validation_error``)
    when it is malformed, lacks ``media_url``, or options also come in the query."""
    given = [k for k in request.query_params if k in _OPTION_QUERY or k.startswith(METADATA_PREFIX)]
    if given:
        raise BadRequest(f"with a JSON body, give the job's options in it, not the query: {given}")
    raw = await _body(request)
    if not raw.strip():
        raise InvalidParameters(f"the JSON body needs a {MEDIA_URL_PARAM}")
    try:
        body = MediaUrlJob.model_validate_json(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidParameters(problems) from exc
    if body.model_version is not None and body.model_label is not None:
        raise InvalidParameters("give model_version or model_label, not both")
    return body, metadata_from_pairs(body.metadata.items())


async def accept_url_job(
    request: Request, *, jobs: JobService, owner: str, idempotency_key: str | None
) -> JSONResponse:
    """Record a job that fetches its ``media_url`` itself, and answer 202 at once."""
    if idempotency_key is not None and (not idempotency_key or not idempotency_key.isprintable()):
        raise BadRequest("Idempotency-Key must be 1 to 128 printable characters")
    body, metadata = await read_url_job(request)
    await jobs.check_callback(owner, body.callback_url)
    with request.app.state.quotas.hold(owner):
        submitted = await jobs.submit_url(
            owner=owner,
            media_url=body.media_url,
            params=body.params(),
            callback_url=body.callback_url,
            metadata=metadata,
            idempotency_key=idempotency_key,
            request_id=request_id_var.get(),
        )
    job = submitted.job
    return JSONResponse(
        JobResponse.of(job).model_dump(mode="json"),
        status_code=202,
        headers=job_headers(job.id, submitted.replayed),
    )
