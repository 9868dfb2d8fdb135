"""A succeeded job's verdict as a signed C2PA manifest (``GET /v1/jobs/{id}/manifest``).

Off unless ``GATEWAY_C2PA_SIGN_CERT`` and ``GATEWAY_C2PA_SIGN_KEY`` are set. The answer is
a C2PA manifest store (``application/c2pa``), the bytes of a ``.c2pa`` sidecar: it is not
embedded in the media, and the media is not sent back. Its one custom assertion,
:data:`VERDICT_LABEL`, holds what this gateway answered for the media: verdict, score,
threshold, the answering model, the signed receipt, the media's sha256, and the times.

c2pa-python (0.38) binds a manifest to its asset by hashing the asset as it signs; it has
no call that signs a given hash without the asset. So the job's media must still be kept
(``GATEWAY_JOB_KEEP_MEDIA``, until the job expires): it is decrypted into a temporary file,
hashed by the Builder (its ``Edit`` intent records it as the parent ingredient, and a
``c2pa.opened`` action), and deleted. A reader checks the sidecar against the same media:
``c2pa.Reader(media_type, media, manifest_data=sidecar)``.

The signature says that this gateway's key answered so for these bytes; it does not say
that the media is authentic, nor that the answer is right.
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Response

from ..errors import (
    JobHasNoResult,
    JobMediaGone,
    JobNotFound,
    ManifestUnavailable,
    UnsupportedMediaType,
)
from ..jobs.models import Job, JobStatus
from ..jobs.service import JobService
from ..settings import Settings
from .deps import SettingsDep
from .error_responses import openapi_responses
from .jobs_routes import JOBS_ROUTE_ERRORS, JobsDep, Owner

router = APIRouter(tags=["jobs"])

#: The custom assertion that carries the verdict.
VERDICT_LABEL = "org.deepfake-detection.verdict"
#: The media type of a C2PA manifest store.
MEDIA_TYPE = "application/c2pa"
GENERATOR = {"name": "deepfake-detection-gateway", "version": "1"}

_MANIFEST_ERRORS = openapi_responses(
    *JOBS_ROUTE_ERRORS,
    JobNotFound,
    ManifestUnavailable,
    JobHasNoResult,
    JobMediaGone,
    UnsupportedMediaType,
)


def sniff_media_type(head: bytes) -> str | None:
    """The media type of a file C2PA can bind a manifest to, from its first 12 bytes."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp":
        return "video/quicktime" if head[8:12] == b"qt  " else "video/mp4"
    return None  # WebM, Matroska, AVI...: no C2PA binding in c2pa-python


def _iso(at: float | None) -> str | None:
    return None if at is None else datetime.fromtimestamp(at, UTC).isoformat()


def verdict_assertion(job: Job) -> dict[str, Any]:
    """The data of the :data:`VERDICT_LABEL` assertion for a succeeded job (the model digest
    is in the receipt, which signs it)."""
    result = job.result or {}
    model = result.get("model") or {}
    return {
        "job_id": job.id,
        "verdict": result.get("verdict"),
        "score": result.get("score"),
        "threshold": result.get("threshold"),
        "aggregation": result.get("aggregation"),
        "model": {k: model.get(k) for k in ("name", "version", "label", "kind")},
        "media": {"sha256": job.input_sha256, "size": job.input_size},
        "receipt": result.get("receipt"),
        "answered_at": _iso(job.finished_at),
        "signed_at": datetime.now(UTC).isoformat(),
    }


def sign_verdict(job: Job, media: Path, media_type: str, settings: Settings) -> bytes:
    """Sign ``job``'s verdict as a sidecar manifest store bound to ``media`` (blocking)."""
    import c2pa  # imported on use, as gateway.pipeline.provenance does: a native library

    assert settings.c2pa_sign_cert is not None and settings.c2pa_sign_key is not None
    tsa = settings.c2pa_sign_tsa_url.encode() if settings.c2pa_sign_tsa_url else None
    info = c2pa.C2paSignerInfo(
        c2pa.C2paSigningAlg[settings.c2pa_sign_alg.upper()],
        settings.c2pa_sign_cert.read_bytes(),
        settings.c2pa_sign_key.read_bytes(),
        tsa,
    )
    manifest = {
        "claim_generator_info": [GENERATOR],
        "title": f"Deepfake detection verdict of job {job.id}",
        "assertions": [{"label": VERDICT_LABEL, "data": verdict_assertion(job)}],
    }
    with (
        c2pa.Signer.from_info(info) as signer,
        c2pa.Builder(manifest) as builder,
        open(media, "rb") as source,
        # The Builder writes a copy of the asset too; only the manifest bytes are kept.
        tempfile.TemporaryFile(dir=media.parent) as copy,
    ):
        # Edit: the media is the parent ingredient, opened, not changed.
        builder.set_intent(c2pa.C2paBuilderIntent.EDIT)
        builder.set_no_embed()
        try:
            return builder.sign(signer, media_type, source, copy)
        except c2pa.C2paError.NotSupported as exc:
            raise UnsupportedMediaType(f"C2PA cannot bind a manifest to {media_type}") from exc


def _sign_kept_media(job: Job, settings: Settings, jobs: JobService) -> bytes:
    assert job.wrapped_key is not None
    try:
        path = jobs.media.decrypt_to_temp(job.id, job.wrapped_key, settings.var_dir / "uploads")
    except FileNotFoundError as exc:  # expired meanwhile
        raise JobMediaGone(f"job {job.id!r}: its media is gone") from exc
    try:
        with open(path, "rb") as f:
            media_type = sniff_media_type(f.read(12))
        if media_type is None:
            raise UnsupportedMediaType(f"job {job.id!r}: C2PA cannot bind a manifest to its media")
        return sign_verdict(job, path, media_type, settings)
    finally:
        path.unlink(missing_ok=True)


@router.get(
    "/v1/jobs/{job_id}/manifest",
    response_class=Response,
    responses={
        200: {
            "content": {MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
            "description": "A C2PA manifest store (a .c2pa sidecar of the job's media) whose "
            f"{VERDICT_LABEL} assertion holds the verdict, signed with the gateway's "
            "certificate. It claims what this service answered, not that the media is "
            "authentic or the answer right.",
        },
        **_MANIFEST_ERRORS,
    },
)
async def job_manifest(job_id: str, jobs: JobsDep, owner: Owner, settings: SettingsDep) -> Response:
    """The verdict of a succeeded job as a signed C2PA sidecar manifest bound to its media
    (while it is kept: see ``GATEWAY_JOB_KEEP_MEDIA``); off unless ``GATEWAY_C2PA_SIGN_CERT``."""
    if not settings.signs_manifests:
        raise ManifestUnavailable("this gateway signs no verdict manifests")
    job = await jobs.get(owner, job_id)
    if job.status == JobStatus.EXPIRED:
        raise JobMediaGone(f"job {job_id!r} expired: its media is gone")
    if job.status != JobStatus.SUCCEEDED or job.result is None:
        raise JobHasNoResult(f"job {job_id!r} is {job.status}: only a succeeded job has a verdict")
    if job.wrapped_key is None or not await asyncio.to_thread(jobs.media.has, job.id):
        raise JobMediaGone(f"job {job_id!r}: its media was not kept after it ended")
    data = await asyncio.to_thread(_sign_kept_media, job, settings, jobs)
    return Response(
        data,
        media_type=MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{job.id}.c2pa"'},
    )
