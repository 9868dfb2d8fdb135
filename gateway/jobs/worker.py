"""Job workers: claim a job with a lease, run the detection pipeline on it, record the end.

A worker holds its job's lease by heartbeats (which also carry progress and bring back
cancel requests). A worker that dies stops renewing; once the lease expires another
worker claims the job again, up to ``GATEWAY_JOB_MAX_ATTEMPTS`` claims. Only the lease
holder can end a job, so a job is never completed twice.

The detection itself is the sync route's :class:`~gateway.pipeline.DetectionPipeline`;
it runs inside an admission slot shared with ``/v1/detect``. A succeeded run's plaintext
copy goes to the shadow canary as a sync upload does (:mod:`.shadowing`), and its shadow
run starts once the job's end is recorded.

Claiming, heartbeats, cancel and shutdown are one state machine over a lease, kept in one
place.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from ..admission import Admission
from ..errors import (
    DISK_FULL,
    JOB_CANCELED,
    MEDIA_UNDECRYPTABLE,
    GatewayError,
    InsufficientStorage,
    JobStoreUnavailable,
    MediaFetchError,
    Overloaded,
    UnsupportedMedia,
)
from ..logs import request_id_var
from ..pipeline.detection import DetectionPipeline
from ..pipeline.params import MEDIA_URL_PARAM, DetectParams
from ..pipeline.shadow import ShadowCanary
from ..pipeline.sources import sniff_media_kind
from ..settings import Settings
from . import metrics
from .crypto import MediaDecryptionError
from .events import build_delivery
from .media import MediaStore, StoredMedia
from .models import Job, JobStatus
from .shadowing import EndRecorded, offer_to_shadow
from .store import JobStore, until_stored

log = logging.getLogger(__name__)

#: Builds the sync API's response body from a pipeline result (the routes own it).
ResponseBuilder = Callable[..., Any]
#: Fetches a media URL into a job's encrypted media, blocking: ``(job_id, url, stop)``.
MediaFetch = Callable[[str, str, threading.Event], StoredMedia]

_UNDECRYPTABLE = (
    "the job's media does not decrypt with this gateway's key-encryption keys: it was "
    "stored under a KEK that is neither GATEWAY_JOB_KEK nor in GATEWAY_JOB_KEK_PREVIOUS, "
    "or it was altered"
)
_DISK_FULL_MESSAGE = "no disk space left for the job's media; submit it again later"


class HeartbeatProgress:
    """A job's progress, as the heartbeat stores it, told by the pipeline as it runs."""

    def __init__(self, progress: dict[str, Any]) -> None:
        self._progress = progress

    def stage(self, name: str) -> None:
        self._progress["stage"] = name

    def frames_scored(self, count: int) -> None:
        done = self._progress.get("frames_done", 0) + count
        total = self._progress.get("frames_total")
        # A hot swap mid-video rescores every frame: progress never passes the total.
        self._progress["frames_done"] = min(done, total) if total else done


@dataclasses.dataclass
class _Watch:
    """Why a run was interrupted, as the heartbeat saw it."""

    canceled: bool = False
    lost: bool = False


class JobWorker:
    """Runs jobs from ``store`` in ``slots`` concurrent loops."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: JobStore,
        media: MediaStore,
        pipeline: DetectionPipeline,
        admission: Admission,
        respond: ResponseBuilder,
        lease_s: float,
        max_attempts: int,
        poll_s: float,
        retention_s: float,
        fetch: MediaFetch | None = None,
        shadow: ShadowCanary | None = None,
    ) -> None:
        """``shadow``: the canary that also scores sampled succeeded jobs; None: none."""
        self.settings, self.store, self.media = settings, store, media
        self.fetch, self.shadow = fetch, shadow
        self.pipeline, self.admission, self.respond = pipeline, admission, respond
        self.lease_s, self.max_attempts = lease_s, max_attempts
        self.poll_s, self.retention_s = poll_s, retention_s
        self.id = f"{os.uname().nodename}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        #: Jobs running in this process, so that a cancel request here takes effect at once.
        self._active: dict[str, tuple[asyncio.Task[Any], _Watch]] = {}

    async def run(self, slots: int) -> None:
        """Work until canceled."""
        log.info("job worker started", extra={"worker": self.id, "slots": slots})
        await asyncio.gather(*(self._loop() for _ in range(slots)))

    async def _loop(self) -> None:
        while True:
            try:
                job = await asyncio.to_thread(
                    self.store.claim_job, self.id, self.lease_s, self.max_attempts
                )
            except Exception:
                log.exception("claiming a job failed")
                job = None
            if job is None:
                await asyncio.sleep(self.poll_s)
                continue
            try:
                await self.process(job)
            except Exception:
                # A loop that died would leave its slot empty until the process restarts.
                log.exception("running a job failed", extra={"job_id": job.id})

    async def process(self, job: Job) -> None:
        """Run one claimed job to its end (or until its lease is lost)."""
        if job.attempts > 1:
            metrics.LEASE_RECLAIMS.inc()
        log.info("job started", extra={"job_id": job.id, "attempt": job.attempts})
        progress: dict[str, Any] = {
            "stage": "waiting",
            "frames_done": 0,
            "frames_total": job.progress.get("frames_total"),
        }
        watch = _Watch()
        run = asyncio.create_task(self._execute(job, progress))
        self._active[job.id] = (run, watch)
        beat = asyncio.create_task(self._heartbeat(job, progress, run, watch))
        status, result, error, version = JobStatus.FAILED, None, None, None
        end_recorded: EndRecorded | None = None
        store_lost = False
        try:
            result, version, end_recorded = await run
            status = JobStatus.SUCCEEDED
        except asyncio.CancelledError:
            if watch.lost:
                log.warning("job lease lost; another worker owns it", extra={"job_id": job.id})
                return
            if not watch.canceled:
                # The worker is shutting down: the job goes back to the queue at once (a
                # blocking call, as this task is being canceled).
                with contextlib.suppress(Exception):
                    if self.store.release_job(job.id, self.id):
                        log.info("job released at shutdown", extra={"job_id": job.id})
                raise
            status = JobStatus.CANCELED
            error = {"code": JOB_CANCELED, "message": "canceled at the client's request"}
        except JobStoreUnavailable:
            # The database went away while the run read or stored the job's media: not the
            # job's fault, so it goes back to the queue rather than failing.
            store_lost = True
        except MediaDecryptionError:
            log.warning("job media does not decrypt", extra={"job_id": job.id})
            error = {"code": MEDIA_UNDECRYPTABLE, "message": _UNDECRYPTABLE}
        except OSError as exc:
            if exc.errno not in DISK_FULL:
                log.exception("job failed unexpectedly", extra={"job_id": job.id})
                error = {"code": "internal", "message": "internal error"}
            else:
                log.warning("no disk space left for a job's media", extra={"job_id": job.id})
                error = {"code": InsufficientStorage.code, "message": _DISK_FULL_MESSAGE}
        except (GatewayError, MediaFetchError) as exc:
            error = {"code": exc.code, "message": exc.message}
        except Exception:
            log.exception("job failed unexpectedly", extra={"job_id": job.id})
            error = {"code": "internal", "message": "internal error"}
        finally:
            self._active.pop(job.id, None)
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
        if store_lost:
            if await until_stored(
                lambda: self.store.release_job(job.id, self.id), "release job", poll_s=self.poll_s
            ):
                log.info("job released: the job store was unavailable", extra={"job_id": job.id})
            return
        try:
            await self._finish(job, status, result, error, version, progress)
        finally:
            if end_recorded is not None:
                end_recorded()

    def cancel_local(self, job_id: str) -> bool:
        """Stop ``job_id`` now if this process runs it (others see the request by heartbeat)."""
        found = self._active.get(job_id)
        if found is None:
            return False
        run, watch = found
        watch.canceled = True
        run.cancel()
        return True

    async def _finish(
        self,
        job: Job,
        status: JobStatus,
        result: dict[str, Any] | None,
        error: dict[str, str] | None,
        version: int | None,
        progress: dict[str, Any],
    ) -> None:
        now = time.time()
        ended = dataclasses.replace(
            job, status=status, result=result, error=error, model_version=version
        )
        delivery = build_delivery(ended, now) if job.callback_url else None
        # Kept for a replay until the job expires (housekeeping removes it then). Not a
        # fetched medium: its data key lived only in the run, so the URL is what is kept.
        keep = (
            status == JobStatus.SUCCEEDED
            and self.settings.jobs.keep_media
            and MEDIA_URL_PARAM not in job.params
        )
        # The run is over: its end is recorded once the store answers, however long it is
        # away. Should the lease run out meanwhile and another worker claim the job, that
        # worker's run is the one recorded (finish_job checks the lease owner).
        done = await until_stored(
            lambda: self.store.finish_job(
                job.id,
                self.id,
                status,
                expires_at=now + self.retention_s,
                result=result,
                error=error,
                model_version=version,
                delivery=delivery,
                progress=progress,
                keep_media=keep,
            ),
            "finish job",
            poll_s=self.poll_s,
        )
        if not done:
            log.warning("job was taken over or deleted before it ended", extra={"job_id": job.id})
            return
        if not keep:
            try:
                await asyncio.to_thread(self.media.delete, job.id)
            except JobStoreUnavailable:
                # The store removed its copy with the job's end; housekeeping's sweep takes
                # any decrypted copy left here.
                log.warning("job media not removed: store unavailable", extra={"job_id": job.id})
        metrics.JOB_SECONDS.labels(status=str(status)).observe(now - job.created_at)
        log.info(
            "job finished",
            extra={
                "job_id": job.id,
                "status": str(status),
                "attempt": job.attempts,
                "error_code": error["code"] if error else None,
            },
        )

    async def _heartbeat(
        self, job: Job, progress: dict[str, Any], run: asyncio.Task[Any], watch: _Watch
    ) -> None:
        # Often enough to show progress live and to keep a lease of a few seconds.
        interval = min(self.lease_s / 3, 1.0)
        first = True
        while not run.done():
            # The first beat at once: the job's progress shows "waiting", not "queued".
            if not first:
                await asyncio.sleep(interval)
            first = False
            try:
                beat = await asyncio.to_thread(
                    self.store.heartbeat, job.id, self.id, self.lease_s, dict(progress)
                )
            except JobStoreUnavailable:
                # The lease is renewed at the next beat that reaches the store.
                log.warning("heartbeat not stored: job store unavailable", extra={"job_id": job.id})
                continue
            except Exception:
                log.exception("heartbeat failed", extra={"job_id": job.id})
                continue
            if not beat.owned:
                watch.lost = True
                run.cancel()
                return
            if beat.cancel_requested:
                watch.canceled = True
                run.cancel()
                return

    async def _execute(
        self, job: Job, progress: dict[str, Any]
    ) -> tuple[dict[str, Any], int, EndRecorded | None]:
        media_url = job.params.get(MEDIA_URL_PARAM)
        wrapped_key = job.wrapped_key
        if media_url is not None:
            # Fetched before a processing slot is taken: a slow server holds no slot.
            wrapped_key = await self._fetch(job, media_url, progress)
        async with contextlib.AsyncExitStack() as stack:
            await self._wait_for_slot(stack)
            progress["stage"] = "decrypt"
            assert wrapped_key is not None
            path = await asyncio.to_thread(self.media.decrypt_to_temp, job.id, wrapped_key)
            stack.callback(lambda: path.unlink(missing_ok=True))
            # The server's Content-Type is not trusted: the bytes say what the media is.
            if media_url is not None and await asyncio.to_thread(sniff_media_kind, path) is None:
                raise UnsupportedMedia(
                    "the media URL's bytes are neither a JPEG, PNG or WebP image nor a video"
                )
            opts = DetectParams.from_dict(job.params).options(self.settings)
            token = request_id_var.set(job.request_id)
            try:
                result = await self.pipeline.detect(
                    path,
                    opts,
                    deadline_s=self.settings.request_timeout_s,
                    progress=HeartbeatProgress(progress),
                )
                progress["stage"] = "done"
                body = self.respond(result, opts, media_sha256=job.input_sha256)
                answer = body.model_dump(mode="json")
                # Last: nothing after it can fail the run, and the entry keeps the request id.
                end_recorded = offer_to_shadow(
                    self.shadow, self.media, job.id, path, opts, result, self.settings.var_dir
                )
            finally:
                request_id_var.reset(token)
        return answer, result.version, end_recorded

    async def _fetch(self, job: Job, url: str, progress: dict[str, Any]) -> bytes:
        """Fetch ``url`` into the job's encrypted media; the wrapped data key.

        The key lives only in this run: a run cut short (a lost worker, a restart) leaves a
        medium nobody can read, which the next run replaces by fetching again.
        """
        if self.fetch is None:
            raise GatewayError("this worker cannot fetch media URLs")
        progress["stage"] = "fetch"
        stop = threading.Event()
        try:
            stored = await asyncio.to_thread(self.fetch, job.id, url, stop)
        finally:
            stop.set()  # canceled meanwhile: the download ends at its next chunk
        progress["input_bytes"], progress["input_sha256"] = stored.size, stored.sha256
        return stored.wrapped_key

    async def _wait_for_slot(self, stack: contextlib.AsyncExitStack) -> None:
        """Take an admission slot, waiting (not failing) while the gateway is full."""
        while True:
            try:
                await stack.enter_async_context(self.admission.slot())
                return
            except Overloaded:
                await asyncio.sleep(self.poll_s)


async def run_periodically(
    interval_s: float, step: Callable[[], Awaitable[None]], name: str
) -> None:
    """Call ``step`` every ``interval_s`` until canceled; errors are logged, not fatal."""
    while True:
        try:
            await step()
        except Exception:
            log.exception("periodic task failed", extra={"task": name})
        await asyncio.sleep(interval_s)
