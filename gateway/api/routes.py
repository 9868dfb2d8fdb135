"""HTTP routes. They raise domain errors; ``error_responses`` renders them.

Most of its length is the routes' parameter and OpenAPI declarations; the work is in the
modules they call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Header, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError

from .. import metrics
from ..audio_schemas import AudioMemberInfo
from ..errors import (
    ANY_ROUTE_ERRORS,
    AUTH_ERRORS,
    UPSTREAM_ERRORS,
    AggregationUnavailable,
    BadRequest,
    CallbackRefused,
    ClientDisconnected,
    IdempotencyMismatch,
    ImageTooLarge,
    InvalidImage,
    InvalidParameters,
    InvalidVideo,
    MissingVideo,
    Overloaded,
    RateLimited,
    RequestTimeout,
    ServingUnavailable,
    UnknownOperatingPoint,
    UnsupportedMediaType,
    UploadTooLarge,
    UpstreamError,
    VideoLimitExceeded,
    WebhookSecretMissing,
)
from ..motion_schemas import MotionMemberInfo
from ..pipeline.params import DetectParams
from ..pipeline.responses import detection_response
from ..pipeline.shadow import hand_over
from ..pipeline.timing import StageTimer
from ..schemas import DetectionResponse, Health
from ..upstream.serving_types import ModelRef, OperatingPoint, ServedVersion, VersionDescription
from ..version_schemas import ModelsResponse, ModelVersionInfo, OperatingPointInfo
from .audit import audit_record
from .deps import (
    AdmissionDep,
    ApiKey,
    ClientDep,
    KeyIdDep,
    PipelineDep,
    QuotasDep,
    ReceiptKeysDep,
    ReceivingDep,
    SettingsDep,
    ShadowDep,
)
from .error_responses import openapi_responses
from .jobs_routes import (
    METADATA_PARAMETER,
    CallbackUrl,
    IdempotencyKey,
    JobsDep,
    accept_job,
    parse_prefer,
    upload_limits,
)
from .params import detect_params
from .upload import UPLOAD_REQUEST_BODY, receive_upload

log = logging.getLogger(__name__)

router = APIRouter()

# What each route may answer besides 200, from the one table in ``errors``.
_ANY_ERRORS = openapi_responses(*ANY_ROUTE_ERRORS)
_READYZ_ERRORS = openapi_responses(*ANY_ROUTE_ERRORS, ServingUnavailable)
_MODELS_ERRORS = openapi_responses(*ANY_ROUTE_ERRORS, *AUTH_ERRORS, *UPSTREAM_ERRORS)
_DETECT_ERRORS = openapi_responses(
    *ANY_ROUTE_ERRORS,
    *AUTH_ERRORS,
    RateLimited,
    BadRequest,
    RequestTimeout,
    InvalidParameters,
    UploadTooLarge,
    UnsupportedMediaType,
    MissingVideo,
    InvalidVideo,
    InvalidImage,
    ImageTooLarge,
    VideoLimitExceeded,
    AggregationUnavailable,
    UnknownOperatingPoint,
    ClientDisconnected,
    Overloaded,
    *UPSTREAM_ERRORS,
    # With Prefer: respond-async.
    IdempotencyMismatch,
    CallbackRefused,
    WebhookSecretMissing,
)

_UPLOAD_DOC = {"requestBody": UPLOAD_REQUEST_BODY}


@router.get("/healthz", response_model=Health, tags=["operations"], responses=_ANY_ERRORS)
async def healthz() -> Health:
    """The process is up (liveness)."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, tags=["operations"], responses=_READYZ_ERRORS)
async def readyz(client: ClientDep, settings: SettingsDep) -> Health:
    """Serving is reachable and the model has an AVAILABLE version (readiness)."""
    ok, detail = await client.ready(settings.model_name)
    if not ok:
        raise ServingUnavailable(f"not ready: {detail}")
    return Health(status="ready", detail=detail)


@router.get("/metrics", tags=["operations"], include_in_schema=False)
async def prometheus_metrics() -> Response:
    return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)


@router.get(
    "/v1/models",
    response_model=ModelsResponse,
    tags=["models"],
    dependencies=[ApiKey],
    responses=_MODELS_ERRORS,
)
async def list_models(
    client: ClientDep, settings: SettingsDep, shadow: ShadowDep
) -> ModelsResponse:
    """Versions Serving knows of the model, their states and labels, and what each
    AVAILABLE version says about itself (its ``model_info``)."""
    statuses = sorted(await client.model_status(settings.model_name), key=lambda s: s.version)
    labels = await client.version_labels(settings.model_name, settings.label_names)

    async def describe(status: ServedVersion) -> VersionDescription | None:
        if status.state != "AVAILABLE":
            return None
        try:
            return await client.model_info(ModelRef(settings.model_name, version=status.version))
        except UpstreamError:
            return None  # unloaded meanwhile, or Serving went away: the status says enough

    described = await asyncio.gather(*(describe(s) for s in statuses))
    return ModelsResponse(
        name=settings.model_name,
        versions=[
            ModelVersionInfo(
                version=s.version,
                state=s.state,
                labels=sorted(k for k, v in labels.items() if v == s.version),
                error=s.error,
                threshold=round(d.threshold, 6) if d is not None else None,
                frame_min_side=d.frame_min_side if d is not None else None,
                sequence_length=d.sequence_length if d is not None else None,
                kind=d.kind if d is not None else None,
                members=list(d.members) if d is not None and d.members is not None else None,
                operating_points=(
                    [operating_point_info(p) for p in d.points()] if d is not None else None
                ),
                visual_threshold=(
                    round(d.visual_threshold, 6)
                    if d is not None and d.visual_threshold is not None
                    else None
                ),
                audio=audio_member_info(d),
                motion=motion_member_info(d),
            )
            for s, d in zip(statuses, described, strict=True)
        ],
        shadow=shadow.status() if shadow is not None else None,
    )


def audio_member_info(description: VersionDescription | None) -> AudioMemberInfo | None:
    """What ``GET /v1/models`` says of a version's audio-visual member; None without one."""
    if description is None or description.audio_sample_rate <= 0:
        return None
    joined = description.audio_combination
    return AudioMemberInfo(
        sample_rate=description.audio_sample_rate,
        visual=round(joined.visual, 6),
        audio=round(joined.member, 6),
        bias=round(joined.bias, 6),
        floor=round(joined.floor, 6),
    )


def motion_member_info(description: VersionDescription | None) -> MotionMemberInfo | None:
    """What ``GET /v1/models`` says of a version's talking-head member; None without one."""
    if description is None or description.motion_combination is None:
        return None
    joined = description.motion_combination
    return MotionMemberInfo(
        visual=round(joined.visual, 6),
        member=round(joined.member, 6),
        bias=round(joined.bias, 6),
        floor=round(joined.floor, 6),
    )


def operating_point_info(point: OperatingPoint) -> OperatingPointInfo:
    """What GET /v1/models shows of one operating point: its name and threshold, and what the
    version says it was measured on when that reads as the schema says (else nothing more)."""
    try:
        return OperatingPointInfo(
            name=point.name, threshold=round(point.threshold, 6), **dict(point.details)
        )
    except (ValidationError, TypeError):
        log.warning("operating point details do not read", extra={"point": point.name})
        return OperatingPointInfo(name=point.name, threshold=round(point.threshold, 6))


@router.post(
    "/v1/detect",
    response_model=DetectionResponse,
    tags=["detection"],
    dependencies=[ApiKey],
    responses={
        202: {"description": "With Prefer: respond-async: a job (see POST /v1/jobs)"},
        **_DETECT_ERRORS,
    },
    openapi_extra={**_UPLOAD_DOC, "parameters": [METADATA_PARAMETER]},
)
async def detect(
    request: Request,
    settings: SettingsDep,
    pipeline: PipelineDep,
    admission: AdmissionDep,
    receiving: ReceivingDep,
    quotas: QuotasDep,
    key_id: KeyIdDep,
    jobs: JobsDep,
    receipt_keys: ReceiptKeysDep,
    shadow: ShadowDep,
    after_answer: BackgroundTasks,
    params: Annotated[DetectParams, Depends(detect_params)],
    prefer: Annotated[
        str | None,
        Header(
            description="respond-async: answer 202 with a job instead; with wait=N, "
            "wait up to N s for it and answer 200 with the result if it ended by then."
        ),
    ] = None,
    callback_url: CallbackUrl = None,
    idempotency_key: IdempotencyKey = None,
) -> Response | DetectionResponse:
    """Upload a video or a still image (multipart field ``video`` or ``image``, or a raw
    ``video/*`` or ``image/*`` body) and get a verdict."""
    preferences = parse_prefer(prefer)
    if "respond-async" in preferences:
        wait = preferences.get("wait", "")
        answer = await accept_job(
            request,
            jobs=jobs,
            settings=settings,
            owner=key_id,
            params=params,
            callback_url=callback_url,
            idempotency_key=idempotency_key,
            wait_s=min(float(wait), settings.request_timeout_s) if wait.isdigit() else None,
        )
        answer.headers["Preference-Applied"] = "respond-async"
        return answer
    if callback_url is not None or idempotency_key is not None:
        raise BadRequest("callback_url and Idempotency-Key need Prefer: respond-async")
    timer = StageTimer()
    audit = audit_record(request)
    limits = upload_limits(settings)
    with quotas.hold(key_id):
        upload, handed = None, False
        try:
            # Receive first, under its own limit: a slow client holds no analysis slot.
            async with receiving.slot():
                with timer.stage("upload"):
                    upload = await receive_upload(
                        request, limits=limits, directory=settings.var_dir / "uploads"
                    )
            if audit is not None:
                audit.upload_bytes, audit.sha256 = upload.size, upload.sha256
            async with admission.slot():
                opts = params.options(settings)
                result = await pipeline.detect(
                    upload.path, opts, deadline_s=settings.request_timeout_s, timer=timer
                )
            # The shadow run (if any) owns the file from here and starts once this answer
            # is sent; otherwise the file is gone.
            answer_sent, handed = hand_over(shadow, upload.path, opts, result), True
            if answer_sent is not None:
                after_answer.add_task(answer_sent)
        finally:
            if upload is not None and not handed:
                with contextlib.suppress(FileNotFoundError):
                    upload.path.unlink()
    if audit is not None:
        audit.verdict = result.verdict.verdict
        audit.score = round(result.verdict.score, 4)
        audit.model_version = result.version
    return detection_response(result, opts, media_sha256=upload.sha256, receipt_keys=receipt_keys)
