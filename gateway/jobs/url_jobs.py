"""Jobs from media URLs: the queued record a submission makes, and the worker's fetch.

A submission records the URL among the job's stored parameters and nothing else: the
worker fetches it (:func:`fetch_into_media`), so submission never waits on a remote server
and a run cut short loses nothing (the next run fetches again).
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from ..job_settings import JobSettings
from ..pipeline.params import MEDIA_URL_PARAM, DetectParams
from ..settings import Settings
from .fetch import FetchLimits, fetch_media
from .media import MediaStore, StoredMedia
from .models import Job, JobStatus
from .ssrf import CallbackPolicy


def fetch_limits(settings: Settings, job_settings: JobSettings) -> FetchLimits:
    """A media URL is fetched within the limits of an upload, and the fetch's own."""
    return FetchLimits(
        max_bytes=settings.max_upload_bytes,
        idle_timeout_s=settings.upload_idle_timeout_s,
        min_bytes_per_s=settings.upload_min_bytes_per_s,
        grace_s=settings.upload_grace_s,
        total_s=job_settings.media_fetch_timeout_s,
        max_redirects=job_settings.media_max_redirects,
    )


def url_source(media_url: str) -> str:
    """What stands for the media in an idempotency hash: the URL (its bytes are unknown yet)."""
    return "url:" + hashlib.sha256(media_url.encode()).hexdigest()


def new_url_job(
    *,
    job_id: str,
    owner: str,
    now: float,
    retention_s: float,
    media_url: str,
    params: DetectParams,
    callback_url: str | None,
    metadata: dict[str, str],
    request_id: str,
) -> Job:
    """The queued record of a job whose worker fetches ``media_url``.

    The URL is kept among the stored parameters (no column of its own, so stores made
    before media URLs read and write it unchanged); size and hash come once fetched.
    """
    return Job(
        id=job_id,
        owner=owner,
        status=JobStatus.QUEUED,
        created_at=now,
        updated_at=now,
        expires_at=now + retention_s,
        params={**params.to_dict(), MEDIA_URL_PARAM: media_url},
        input_size=0,
        input_sha256="",
        input_duration_s=0.0,
        wrapped_key=None,
        request_id=request_id,
        callback_url=callback_url,
        metadata=metadata,
        progress={"stage": "queued", "frames_done": 0, "frames_total": None},
    )


def fetch_into_media(
    media: MediaStore,
    job_id: str,
    url: str,
    stop: threading.Event,
    *,
    policy: CallbackPolicy,
    limits: FetchLimits,
    ca_file: Path | None,
) -> StoredMedia:
    """Fetch ``url`` as ``job_id``'s encrypted media (blocking: the worker's thread)."""
    # What an earlier, interrupted run of this job stored is unreadable (its data key died
    # with that run): removed before fetching again.
    media.delete(job_id)
    return fetch_media(
        url,
        lambda body: media.store_stream(job_id, body),  # type: ignore[arg-type]
        policy=policy,
        limits=limits,
        ca_file=ca_file,
        stop=stop,
    )
