"""HTTP routes. They raise domain errors; ``errors.install_error_handlers`` renders them.

Most of its length is the routes' parameter and OpenAPI declarations; the work is in the
modules they call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Header, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError

from contract import MODEL_KIND_UNKNOWN

from . import metrics
from .answers import model_warnings
from .audit import audit_record
from .deps import (
    AdmissionDep,
    ApiKey,
    ClientDep,
    KeyIdDep,
    PipelineDep,
    QuotasDep,
    ReceivingDep,
    SettingsDep,
    ShadowDep,
)
from .detection import DetectionResult, DetectOptions
from .errors import (
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
    ServingTimeout,
    ServingUnavailable,
    UnknownOperatingPoint,
    UnsupportedMediaType,
    UploadTooLarge,
    UpstreamError,
    VideoLimitExceeded,
    WebhookSecretMissing,
    openapi_responses,
)
from .jobs.params import DetectParams, detect_params
from .jobs.routes import (
    METADATA_PARAMETER,
    CallbackUrl,
    IdempotencyKey,
    JobsDep,
    accept_job,
    parse_prefer,
    upload_limits,
)
from .logs import request_id_var
from .schemas import (
    AppliedOperatingPoint,
    DetectionResponse,
    FaceExplanation,
    FaceResult,
    Health,
    ModelInfo,
    ModelsResponse,
    ModelVersionInfo,
    OperatingPointInfo,
    Provenance,
    ScoreInterval,
    TimelinePoint,
    Timings,
    TrackResult,
    VideoSummary,
)
from .serving_types import ModelRef, OperatingPoint, ServedVersion, VersionDescription
from .timing import StageTimer
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
            )
            for s, d in zip(statuses, described, strict=True)
        ],
        shadow=shadow.status() if shadow is not None else None,
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
    start = time.perf_counter()
    timer = StageTimer()
    audit = audit_record(request)
    limits = upload_limits(settings)
    with quotas.hold(key_id):
        upload, shadowed = None, False
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
                opts = params.options(
                    settings,
                    # Threaded decoding lowers latency while cores are idle, but costs CPU
                    # (about a quarter more) that other videos need once they are all busy.
                    decode_threads=admission.in_flight < (os.cpu_count() or 1),
                )
                try:
                    async with asyncio.timeout(settings.request_timeout_s):
                        result = await pipeline.run(upload.path, opts, timer)
                except TimeoutError as exc:
                    raise ServingTimeout(
                        f"the video was not processed within {settings.request_timeout_s:g} s"
                    ) from exc
            if shadow is not None:
                # The shadow run owns the file from here and starts once this answer is sent.
                answer_sent = shadow.offer(upload.path, opts, result)
                if answer_sent is not None:
                    shadowed = True
                    after_answer.add_task(answer_sent)
        finally:
            if upload is not None and not shadowed:
                with contextlib.suppress(FileNotFoundError):
                    upload.path.unlink()
    if audit is not None:
        audit.verdict = result.verdict.verdict
        audit.score = round(result.verdict.score, 4)
        audit.model_version = result.version
    timer.ms["total"] = (time.perf_counter() - start) * 1000.0
    metrics.VERDICTS.labels(verdict=result.verdict.verdict).inc()
    return detection_response(result, opts, timer)


def detection_response(
    result: DetectionResult, opts: DetectOptions, timer: StageTimer
) -> DetectionResponse:
    """The body of ``/v1/detect`` (and a job's ``result``) for one pipeline result."""
    info = result.info
    kind = result.description.kind if result.description is not None else MODEL_KIND_UNKNOWN
    names = result.member_names or ()

    def by_member(scores: list[float] | None) -> dict[str, float] | None:
        if not names or scores is None:
            return None
        return {name: round(score, 4) for name, score in zip(names, scores, strict=True)}

    members = result.members
    timeline = [
        TimelinePoint(
            t_s=f.t_s,
            score=round(f.score, 4),
            faces=[
                FaceResult(
                    box=face.box,
                    score=face.score,
                    detection_score=face.detection_score,
                    track=face.track,
                    members=by_member(face.members),
                )
                for face in f.faces
            ],
        )
        for f in result.frames
    ]
    return DetectionResponse(
        verdict=result.verdict.verdict,
        score=round(result.verdict.score, 4),
        threshold=round(result.verdict.threshold, 4),
        operating_point=AppliedOperatingPoint(
            name=result.operating_point, threshold=round(result.verdict.threshold, 4)
        ),
        aggregation=result.strategy,
        model=ModelInfo(
            name=result.model_name, version=result.version, label=opts.model.label, kind=kind
        ),
        frames_analyzed=len(result.frames),
        video=VideoSummary(
            kind=info.kind,
            duration_s=round(info.duration_s, 3),
            fps=round(info.fps, 3),
            width=info.width,
            height=info.height,
            rotation=info.rotation,
            frames_sampled=len(result.frames),
        ),
        tracks=[
            TrackResult(
                id=t.id,
                score=round(t.score, 4),
                frames=t.frames,
                members=by_member(members.tracks.get(t.id) if members is not None else None),
                explanations=(
                    [FaceExplanation(**vars(e)) for e in result.explanations.get(t.id, [])]
                    if result.explanations is not None
                    else None
                ),
            )
            for t in result.verdict.tracks
        ],
        timeline=timeline,
        timings_ms=Timings(
            **{
                k: round(timer.ms.get(k, 0.0), 2)
                for k in ("upload", "probe", "decode", "inference", "aggregate", "total")
            },
            sequence=round(timer.ms["sequence"], 2) if "sequence" in timer.ms else None,
            provenance=round(timer.ms["provenance"], 2) if "provenance" in timer.ms else None,
            explain=round(timer.ms["explain"], 2) if "explain" in timer.ms else None,
        ),
        request_id=request_id_var.get(),
        warnings=[*model_warnings(kind), *(result.warnings or [])],
        score_interval=(
            ScoreInterval(
                low=round(interval.low, 4), high=round(interval.high, 4), level=interval.level
            )
            if (interval := result.verdict.interval) is not None
            else None
        ),
        reasons=list(result.reasons),
        provenance=result.provenance or Provenance(present=False),
        members=by_member(members.video if members is not None else None),
    )
