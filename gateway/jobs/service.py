"""The jobs subsystem assembled: store, encrypted media, workers, webhooks, housekeeping.

The gateway builds one :class:`JobService` in its lifespan (workers run as asyncio tasks
there unless ``GATEWAY_JOB_WORKERS=0``); ``python -m gateway worker`` builds the same
service and runs only its background tasks.

Each part lives in its own module; what is left here is the order of operations of
submission, cancel, delete and housekeeping, kept together.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from .. import metrics as gateway_metrics
from ..admission import Admission
from ..errors import (
    JOB_CANCELED,
    JobNotCancelable,
    JobNotFound,
    NoWebhook,
    RateLimited,
    WebhookSecretMissing,
)
from ..job_settings import JobSettings
from ..pipeline.detection import DetectionPipeline
from ..pipeline.params import DetectParams, request_hash
from ..pipeline.pipeline_config import video_limits_from
from ..pipeline.shadow import ShadowCanary
from ..pipeline.sources import probe_upload
from ..pipeline.video import sample_times_of
from ..settings import Settings
from . import metrics
from .crypto import load_keyring
from .events import build_delivery
from .media import MediaStore
from .models import ENDED, Delivery, Job, JobStatus
from .rekey import rewrap_under_current
from .ssrf import CallbackPolicy, resolve_callback
from .store import JobStore, open_store
from .url_jobs import fetch_into_media, fetch_limits, new_url_job, url_source
from .webhooks import Deliverer, new_secret, seal_secret
from .worker import JobWorker, ResponseBuilder, run_periodically

log = logging.getLogger(__name__)

_HOUSEKEEPING_S = 2.0
#: Stored media of no job is an upload whose submitter died before committing its job;
#: storing one takes seconds, so an hour leaves a slow one alone.
_ORPHAN_MEDIA_S = 3600.0


@dataclass(frozen=True)
class Submission:
    """A stored job as its submitter sees it: the job and whether it is a replay."""

    job: Job
    replayed: bool


class JobService:
    """Everything the job routes and the worker process need."""

    def __init__(
        self, settings: Settings, job_settings: JobSettings, store: JobStore | None = None
    ) -> None:
        self.settings = settings
        self.config = job_settings
        self.store = store or open_store(
            job_settings.store, settings.var_dir, job_settings.sqlite_path(settings.var_dir)
        )
        self.keys = load_keyring(
            job_settings.kek, job_settings.kek_previous, job_settings.kek_path(settings.var_dir)
        )
        if self.keys.previous:
            # A KEK rotation: what the previous KEKs protect moves under the current one.
            rewrap_under_current(self.store, self.keys)
        self.media = MediaStore(settings.var_dir / "jobs" / "media", self.keys, self.store)
        self.policy = CallbackPolicy(
            allowed_ports=job_settings.allowed_ports,
            allow_loopback=job_settings.webhook_allow_loopback,
        )
        self.limits = video_limits_from(settings)
        self.fetch_limits = fetch_limits(settings, job_settings)
        self._tasks: list[asyncio.Task[None]] = []
        self._worker: JobWorker | None = None

    @property
    def retention_s(self) -> float:
        return self.config.retention.total_seconds()

    # Background work -----------------------------------------------------------------

    def start(
        self,
        pipeline: DetectionPipeline,
        admission: Admission,
        respond: ResponseBuilder,
        *,
        workers: int,
        shadow: ShadowCanary | None = None,
    ) -> None:
        """Start workers (``workers`` concurrent jobs), the deliverer and housekeeping;
        ``shadow`` also scores sampled succeeded jobs."""
        if workers > 0:
            worker = JobWorker(
                settings=self.settings,
                store=self.store,
                media=self.media,
                pipeline=pipeline,
                admission=admission,
                respond=respond,
                lease_s=self.config.lease_s,
                max_attempts=self.config.max_attempts,
                poll_s=self.config.poll_s,
                retention_s=self.retention_s,
                fetch=functools.partial(
                    fetch_into_media,
                    self.media,
                    policy=self.policy,
                    limits=self.fetch_limits,
                    ca_file=self.config.webhook_ca_file,
                ),
                shadow=shadow,
            )
            self._worker = worker
            self._tasks.append(asyncio.create_task(worker.run(workers), name="job-worker"))
        deliverer = Deliverer(
            self.store,
            self.keys,
            self.policy,
            ca_file=self.config.webhook_ca_file,
            timeout_s=self.config.webhook_timeout_s,
            max_attempts=self.config.webhook_max_attempts,
            retry_base_s=self.config.webhook_retry_base_s,
            poll_s=self.config.poll_s,
        )
        self._tasks.append(asyncio.create_task(deliverer.run(), name="webhook-deliverer"))
        self._tasks.append(
            asyncio.create_task(
                run_periodically(_HOUSEKEEPING_S, self.housekeeping, "housekeeping"),
                name="job-housekeeping",
            )
        )

    async def stop(self) -> None:
        """Cancel the background tasks; running jobs are retried after their lease."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await asyncio.to_thread(self.store.close)

    async def housekeeping(self) -> None:
        """Fail jobs out of attempts, expire old results, forget old keys, remove media
        left by stopped processes, refresh gauges."""
        now = time.time()
        for job_id in await asyncio.to_thread(
            self.store.fail_exhausted, now, self.config.max_attempts
        ):
            log.warning("job failed: its worker was lost too often", extra={"job_id": job_id})
            await asyncio.to_thread(self.media.delete, job_id)
        for job_id in await asyncio.to_thread(self.store.expire_jobs, now):
            await asyncio.to_thread(self.media.delete, job_id)
            log.info("job expired", extra={"job_id": job_id})
        await asyncio.to_thread(
            self.store.purge_idempotency, now - self.config.idempotency_ttl.total_seconds()
        )
        await asyncio.to_thread(self.media.sweep_work, self._is_running)
        if self.store.holds_media:
            await asyncio.to_thread(self.store.purge_orphan_media, now - _ORPHAN_MEDIA_S)
        counts = await asyncio.to_thread(self.store.count_by_status)
        for status, count in counts.items():
            metrics.JOBS.labels(status=status).set(count)
        metrics.QUEUE_DEPTH.set(counts.get(str(JobStatus.QUEUED), 0))

    def _is_running(self, job_id: str) -> bool:
        job = self.store.get_job(job_id)
        return job is not None and job.status == JobStatus.RUNNING

    # Submission ------------------------------------------------------------------------

    async def check_callback(self, owner: str, callback_url: str | None) -> None:
        """Refuse a callback that cannot be delivered: see :mod:`.ssrf`; a secret must exist."""
        if callback_url is None:
            return
        await resolve_callback(callback_url, self.policy)
        if await asyncio.to_thread(self.store.get_secret, owner) is None:
            raise WebhookSecretMissing(
                "this API key has no webhook secret yet: create one with "
                "POST /v1/webhook-secret before asking for callbacks"
            )

    async def submit(
        self,
        *,
        owner: str,
        upload: Path,
        params: DetectParams,
        callback_url: str | None,
        metadata: dict[str, str],
        idempotency_key: str | None,
        request_id: str,
    ) -> Submission:
        """Probe the upload, store it encrypted and durably, then record the queued job.

        ``upload`` (the plaintext temporary file) is deleted here in every case.
        """
        job_id = uuid.uuid4().hex
        try:
            # Probing now answers a broken or oversized video at once, as /v1/detect does.
            info = await asyncio.to_thread(probe_upload, upload, self.limits)
            stored = await asyncio.to_thread(self.media.store, job_id, upload)
        finally:
            upload.unlink(missing_ok=True)
        now = time.time()
        job = Job(
            id=job_id,
            owner=owner,
            status=JobStatus.QUEUED,
            created_at=now,
            updated_at=now,
            expires_at=now + self.retention_s,
            params=params.to_dict(),
            input_size=stored.size,
            input_sha256=stored.sha256,
            input_duration_s=round(info.duration_s, 3),
            wrapped_key=stored.wrapped_key,
            request_id=request_id,
            callback_url=callback_url,
            metadata=metadata,
            progress={
                "stage": "queued",
                "frames_done": 0,
                "frames_total": len(
                    sample_times_of(info, params.frames or self.settings.frames, params.fps)
                ),
            },
        )
        idem = None
        if idempotency_key is not None:
            idem = (idempotency_key, request_hash(stored.sha256, params, callback_url, metadata))
        return await self._record(job, idem)

    async def _record(self, job: Job, idem: tuple[str, str] | None) -> Submission:
        """Commit the queued ``job``, or find the one its idempotency key made before; the
        media of a job not recorded is removed."""
        try:
            saved, replayed = await asyncio.to_thread(
                self.store.create_job, job, idem, self.config.max_active_per_key
            )
        except BaseException as exc:
            if isinstance(exc, RateLimited):
                gateway_metrics.RATE_LIMITED.labels(quota="jobs").inc()
            await asyncio.to_thread(self.media.delete, job.id)
            raise
        if replayed:
            await asyncio.to_thread(self.media.delete, job.id)
        else:
            log.info("job queued", extra={"job_id": job.id, "size": job.input_size})
        return Submission(saved, replayed)

    async def submit_url(
        self,
        *,
        owner: str,
        media_url: str,
        params: DetectParams,
        callback_url: str | None,
        metadata: dict[str, str],
        idempotency_key: str | None,
        request_id: str,
    ) -> Submission:
        """Record a queued job whose worker fetches ``media_url`` (nothing is fetched here).

        The URL is judged where it is fetched, so that submission never waits on a remote
        server; a refused or failed fetch ends the job with its code.
        """
        job = new_url_job(
            job_id=uuid.uuid4().hex,
            owner=owner,
            now=time.time(),
            retention_s=self.retention_s,
            media_url=media_url,
            params=params,
            callback_url=callback_url,
            metadata=metadata,
            request_id=request_id,
        )
        idem = None
        if idempotency_key is not None:
            source = url_source(media_url)
            idem = (idempotency_key, request_hash(source, params, callback_url, metadata))
        return await self._record(job, idem)

    # Reading and changing jobs ---------------------------------------------------------

    async def get(self, owner: str, job_id: str) -> Job:
        job = await asyncio.to_thread(self.store.get_job, job_id, owner)
        if job is None:
            raise JobNotFound(f"no job {job_id!r}")
        return job

    async def wait(self, owner: str, job_id: str, timeout_s: float) -> Job:
        """The job once it ended, or as it is after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            job = await self.get(owner, job_id)
            if job.status in ENDED or time.monotonic() >= deadline:
                return job
            await asyncio.sleep(min(0.25, max(0.0, deadline - time.monotonic())))

    async def list(self, owner: str, limit: int, before: tuple[float, str] | None) -> list[Job]:
        return await asyncio.to_thread(self.store.list_jobs, owner, limit, before)

    async def cancel(self, owner: str, job_id: str) -> Job:
        """Cancel a queued job now, or ask its worker to stop a running one."""
        job = await self.get(owner, job_id)
        if job.status == JobStatus.QUEUED:
            now = time.time()
            error = {"code": JOB_CANCELED, "message": "canceled at the client's request"}
            ended = Job(**{**job.__dict__, "status": JobStatus.CANCELED, "error": error})
            delivery = build_delivery(ended, now) if job.callback_url else None
            done = await asyncio.to_thread(
                lambda: self.store.finish_job(
                    job_id,
                    None,
                    JobStatus.CANCELED,
                    expires_at=now + self.retention_s,
                    error=error,
                    delivery=delivery,
                )
            )
            if done:
                await asyncio.to_thread(self.media.delete, job_id)
                metrics.JOB_SECONDS.labels(status="canceled").observe(now - job.created_at)
                return await self.get(owner, job_id)
            job = await self.get(owner, job_id)  # a worker claimed it meanwhile
        if job.status == JobStatus.RUNNING:
            found = await asyncio.to_thread(self.store.request_cancel, job_id, owner)
            if found is None:
                raise JobNotFound(f"no job {job_id!r}")
            # Recorded first, so that a worker in another process stops at its next beat.
            if self._worker is not None:
                self._worker.cancel_local(job_id)
            return found
        if job.status == JobStatus.CANCELED:
            return job
        raise JobNotCancelable(f"job {job_id!r} already ended ({job.status})")

    async def delete(self, owner: str, job_id: str) -> None:
        """Remove the job: media, wrapped key, result and deliveries."""
        job = await asyncio.to_thread(self.store.delete_job, job_id, owner)
        if job is None:
            raise JobNotFound(f"no job {job_id!r}")
        await asyncio.to_thread(self.media.delete, job_id)
        log.info("job deleted", extra={"job_id": job_id})

    async def deliveries(self, owner: str, job_id: str) -> list[Delivery]:
        await self.get(owner, job_id)
        return await asyncio.to_thread(self.store.list_deliveries, job_id)

    async def redeliver(self, owner: str, job_id: str) -> Delivery:
        """Queue the job's last webhook message again (same ``webhook-id``)."""
        job = await self.get(owner, job_id)
        previous = await asyncio.to_thread(self.store.list_deliveries, job_id)
        if not previous:
            raise NoWebhook(f"job {job_id!r} has no webhook to deliver again")
        last = previous[-1]
        now = time.time()
        delivery = build_delivery(
            Job(**{**job.__dict__, "callback_url": last.url}), now, message_id=last.message_id
        )
        delivery.payload, delivery.event = last.payload, last.event
        await asyncio.to_thread(self.store.add_delivery, delivery)
        return delivery

    async def rotate_secret(self, owner: str) -> str:
        """A new webhook secret for ``owner`` (stored sealed; returned only now)."""
        secret = new_secret()
        sealed = seal_secret(self.keys, owner, secret)
        await asyncio.to_thread(self.store.set_secret, owner, sealed, time.time())
        return secret
