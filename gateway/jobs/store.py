"""The job store interface, and the setting that picks its backend.

Both backends (:mod:`.sqlite_store`, :mod:`.postgres_store`) share one schema and the SQL
in :mod:`.sql`; they differ only in connections and in how a claim locks its row. The
methods are synchronous (database drivers are); async code calls them in a thread, and
through :func:`until_stored` where a write must outlast an outage of the database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

from ..errors import JobStoreUnavailable
from .models import Delivery, Heartbeat, Job, JobStatus

log = logging.getLogger(__name__)

T = TypeVar("T")
#: Longest wait between two tries of :func:`until_stored`.
_RETRY_MAX_S = 2.0


class JobStore(Protocol):
    """Durable jobs, idempotency keys, webhook deliveries and webhook secrets.

    A store that ``holds_media`` keeps the jobs' encrypted media as well (what several
    hosts must share); the others leave it to files under GATEWAY_VAR_DIR. Ending,
    expiring or deleting a job removes its stored media in the same transaction.
    """

    holds_media: bool

    def create_job(
        self, job: Job, idempotency: tuple[str, str] | None, max_active: int = 0
    ) -> tuple[Job, bool]:
        """Insert ``job``; with ``(key, request_hash)``, or return the key's earlier job.

        Returns the job and whether it is a replay. Raises
        :class:`gateway.errors.IdempotencyMismatch` when the key was used for a
        different request, and :class:`gateway.errors.RateLimited` when the owner already
        has ``max_active`` queued or running jobs (0: no cap; a replay is never refused).
        """
        ...

    def get_job(self, job_id: str, owner: str | None = None) -> Job | None:
        """The job, if it exists (and belongs to ``owner`` when given)."""
        ...

    def list_jobs(self, owner: str, limit: int, before: tuple[float, str] | None) -> list[Job]:
        """``owner``'s jobs, newest first, strictly before ``(created_at, id)``."""
        ...

    def claim_job(self, worker: str, lease_s: float, max_attempts: int) -> Job | None:
        """Take the oldest queued job, or a running one whose lease expired.

        Running jobs out of attempts are failed instead (and their webhook queued).
        """
        ...

    def heartbeat(
        self, job_id: str, worker: str, lease_s: float, progress: dict[str, object]
    ) -> Heartbeat:
        """Renew ``worker``'s lease and record progress."""
        ...

    def finish_job(
        self,
        job_id: str,
        worker: str | None,
        status: JobStatus,
        *,
        expires_at: float,
        result: dict[str, object] | None = None,
        error: dict[str, str] | None = None,
        model_version: int | None = None,
        delivery: Delivery | None = None,
        progress: dict[str, object] | None = None,
        keep_media: bool = False,
    ) -> bool:
        """End a running job held by ``worker`` (or a queued one when ``worker`` is None).

        The webhook delivery, if any, is stored in the same transaction; the media the store
        holds is removed with it unless ``keep_media``. False when the job is no longer that
        worker's (or no longer queued).
        """
        ...

    def release_job(self, job_id: str, worker: str) -> bool:
        """Give a running job back to the queue (a worker shutting down); no attempt is spent."""
        ...

    def request_cancel(self, job_id: str, owner: str) -> Job | None:
        """Flag a running job for cancelation; the job as it is now."""
        ...

    def delete_job(self, job_id: str, owner: str) -> Job | None:
        """Remove the job, its wrapped key, result, deliveries and idempotency key."""
        ...

    def expire_jobs(self, now: float) -> list[str]:
        """Ended jobs past ``expires_at`` become ``expired``: result and key destroyed."""
        ...

    def purge_idempotency(self, older_than: float) -> int:
        """Forget idempotency keys created before ``older_than``."""
        ...

    def fail_exhausted(self, now: float, max_attempts: int) -> list[str]:
        """Fail running jobs whose lease expired with no attempts left (see claim_job)."""
        ...

    def count_by_status(self) -> dict[str, int]:
        """Jobs per status (for metrics)."""
        ...

    def add_delivery(self, delivery: Delivery) -> None:
        """Store a new delivery (a redelivery)."""
        ...

    def claim_delivery(self, now: float, lease_s: float) -> Delivery | None:
        """Take a pending delivery that is due, leased for ``lease_s`` (its ``lease_expires``)."""
        ...

    def update_delivery(self, delivery: Delivery) -> bool:
        """Record an attempt's outcome (state, attempts, next attempt, log).

        False, and nothing recorded, when the claim's lease is no longer the row's: it ran
        out and another deliverer claimed the delivery, whose outcome is the one kept.
        """
        ...

    def list_deliveries(self, job_id: str) -> list[Delivery]:
        """A job's deliveries, oldest first."""
        ...

    def get_secret(self, owner: str) -> bytes | None:
        """``owner``'s sealed webhook secret."""
        ...

    def set_secret(self, owner: str, sealed: bytes, now: float) -> None:
        """Store (or replace) ``owner``'s sealed webhook secret."""
        ...

    def add_media_chunk(self, job_id: str, seq: int, chunk: bytes) -> None:
        """Store piece ``seq`` of ``job_id``'s encrypted media."""
        ...

    def media_chunk(self, job_id: str, seq: int) -> bytes | None:
        """Piece ``seq`` of ``job_id``'s encrypted media; None past the last one."""
        ...

    def delete_media(self, job_id: str) -> None:
        """Forget ``job_id``'s encrypted media."""
        ...

    def purge_orphan_media(self, older_than: float) -> int:
        """Remove stored media of no job, stored before ``older_than``."""
        ...

    def wrapped_keys(self) -> list[tuple[str, bytes]]:
        """Every stored wrapped data key: ``(job id, wrapped key)``."""
        ...

    def replace_wrapped_key(self, job_id: str, old: bytes, new: bytes) -> bool:
        """Store ``new`` as the job's wrapped key if it still holds ``old``."""
        ...

    def sealed_secrets(self) -> list[tuple[str, bytes]]:
        """Every sealed webhook secret: ``(owner, sealed)``."""
        ...

    def replace_secret(self, owner: str, old: bytes, new: bytes) -> bool:
        """Store ``new`` as ``owner``'s sealed secret if it still is ``old``."""
        ...

    def close(self) -> None: ...


async def until_stored(call: Callable[[], T], what: str, *, poll_s: float) -> T:
    """``call()`` in a thread, tried again for as long as the store is unavailable.

    For what must not be lost while the database is away (stopped, restarted, failed
    over): a job's end, a delivery's outcome. Each try is a whole transaction, so a try
    that failed left nothing behind; the waits grow from ``poll_s`` to 2 s.
    """
    wait, failed = poll_s, False
    while True:
        try:
            result = await asyncio.to_thread(call)
        except JobStoreUnavailable:
            if not failed:
                log.warning("job store unavailable; retrying", extra={"during": what})
            failed = True
            await asyncio.sleep(wait)
            wait = min(wait * 2, _RETRY_MAX_S)
            continue
        if failed:
            log.info("job store available again", extra={"during": what})
        return result


def open_store(url: str, var_dir: Path, sqlite_path: Path) -> JobStore:
    """The backend ``GATEWAY_JOB_STORE`` names: ``sqlite[:///path]`` or ``postgresql://``."""
    if url.startswith(("postgresql://", "postgres://")):
        from .postgres_store import PostgresJobStore

        return PostgresJobStore(url)
    if url == "sqlite" or url.startswith("sqlite:///"):
        from .sqlite_store import SqliteJobStore

        return SqliteJobStore(sqlite_path)
    raise ValueError(f"GATEWAY_JOB_STORE: expected 'sqlite' or a postgresql:// URL, got {url!r}")
