"""The statements of a job's life: create, claim, heartbeat, finish, cancel, expire, count.

Idempotency keys and the per-owner limit on unfinished jobs are checked in the same
transaction that creates the job.
"""

from __future__ import annotations

import json
import time

from ..errors import WORKER_LOST, IdempotencyMismatch, RateLimited
from .events import build_delivery
from .models import Delivery, Heartbeat, Job, JobStatus
from .rows import JOB_COLUMNS, JOB_SELECT, job_from_row, job_row
from .sql_base import Cursor, SqlBase

__all__ = ["JobSql"]


class JobSql(SqlBase):
    """The ``jobs`` and ``idempotency_keys`` tables."""

    def create_job(
        self, job: Job, idempotency: tuple[str, str] | None, max_active: int = 0
    ) -> tuple[Job, bool]:
        with self._transaction() as cur:
            if idempotency is not None:
                key, request_hash = idempotency
                self._exec(
                    cur,
                    "INSERT INTO idempotency_keys (owner, key, request_hash, job_id, created_at) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (job.owner, key, request_hash, job.id, job.created_at),
                )
                if cur.rowcount == 0:
                    row = self._exec(
                        cur,
                        "SELECT request_hash, job_id FROM idempotency_keys "
                        "WHERE owner = ? AND key = ?",
                        (job.owner, key),
                    ).fetchone()
                    if row[0] != request_hash:
                        raise IdempotencyMismatch(
                            "this Idempotency-Key was used for a different request "
                            "(another upload or other parameters)"
                        )
                    found = self._exec(cur, f"{JOB_SELECT} WHERE id = ?", (row[1],)).fetchone()
                    if found is not None:
                        return job_from_row(found), True
                    # The first job was deleted: the key now names this one.
                    self._exec(
                        cur,
                        "UPDATE idempotency_keys SET job_id = ?, created_at = ? "
                        "WHERE owner = ? AND key = ?",
                        (job.id, job.created_at, job.owner, key),
                    )
            if max_active > 0:
                self._check_active(cur, job.owner, max_active)
            marks = ", ".join("?" for _ in JOB_COLUMNS)
            self._exec(
                cur,
                f"INSERT INTO jobs ({', '.join(JOB_COLUMNS)}) VALUES ({marks})",
                job_row(job),
            )
        return job, False

    #: Serialises an owner's job creations within the transaction (see the backends).
    owner_lock_sql = ""

    def _check_active(self, cur: Cursor, owner: str, max_active: int) -> None:
        """Raise :class:`RateLimited` when ``owner`` already has ``max_active`` unfinished jobs."""
        if self.owner_lock_sql:
            self._exec(cur, self.owner_lock_sql, (owner,))
        active = self._exec(
            cur,
            "SELECT COUNT(*) FROM jobs WHERE owner = ? AND status IN (?, ?)",
            (owner, str(JobStatus.QUEUED), str(JobStatus.RUNNING)),
        ).fetchone()[0]
        if int(active) >= max_active:
            raise RateLimited(
                f"this API key has {max_active} queued or running jobs, the most allowed; "
                "submit more when some have ended",
                retry_after_s=5,
            )

    def get_job(self, job_id: str, owner: str | None = None) -> Job | None:
        with self._transaction() as cur:
            if owner is None:
                row = self._exec(cur, f"{JOB_SELECT} WHERE id = ?", (job_id,)).fetchone()
            else:
                row = self._exec(
                    cur, f"{JOB_SELECT} WHERE id = ? AND owner = ?", (job_id, owner)
                ).fetchone()
        return job_from_row(row) if row is not None else None

    def list_jobs(self, owner: str, limit: int, before: tuple[float, str] | None) -> list[Job]:
        with self._transaction() as cur:
            if before is None:
                rows = self._exec(
                    cur,
                    f"{JOB_SELECT} WHERE owner = ? ORDER BY created_at DESC, id DESC LIMIT ?",
                    (owner, limit),
                ).fetchall()
            else:
                at, last_id = before
                rows = self._exec(
                    cur,
                    f"{JOB_SELECT} WHERE owner = ? AND "
                    "(created_at < ? OR (created_at = ? AND id < ?)) "
                    "ORDER BY created_at DESC, id DESC LIMIT ?",
                    (owner, at, at, last_id, limit),
                ).fetchall()
        return [job_from_row(r) for r in rows]

    def claim_job(self, worker: str, lease_s: float, max_attempts: int) -> Job | None:
        now = time.time()
        with self._transaction() as cur:
            row = self._exec(
                cur,
                f"{JOB_SELECT} WHERE status = 'queued' "
                "OR (status = 'running' AND lease_expires < ? AND attempts < ?) "
                f"ORDER BY created_at LIMIT 1{self.lock_clause}",
                (now, max_attempts),
            ).fetchone()
            if row is None:
                return None
            job = job_from_row(row)
            self._exec(
                cur,
                "UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_owner = ?, "
                "lease_expires = ?, updated_at = ?, started_at = COALESCE(started_at, ?) "
                "WHERE id = ?",
                (worker, now + lease_s, now, now, job.id),
            )
        job.status = JobStatus.RUNNING
        job.attempts += 1
        job.lease_owner, job.lease_expires = worker, now + lease_s
        job.started_at = job.started_at or now
        return job

    def fail_exhausted(self, now: float, max_attempts: int) -> list[str]:
        """Running jobs with an expired lease and no attempts left fail as ``worker_lost``."""

        failed = []
        with self._transaction() as cur:
            rows = self._exec(
                cur,
                f"{JOB_SELECT} WHERE status = 'running' AND lease_expires < ? "
                f"AND attempts >= ?{self.lock_clause}",
                (now, max_attempts),
            ).fetchall()
            for row in rows:
                job = job_from_row(row)
                error = {
                    "code": WORKER_LOST,
                    "message": f"the worker running this job stopped {job.attempts} times "
                    f"(the retry limit is {max_attempts}); giving up",
                }
                self._exec(
                    cur,
                    "UPDATE jobs SET status = 'failed', error = ?, finished_at = ?, "
                    "updated_at = ?, lease_owner = NULL, lease_expires = NULL WHERE id = ?",
                    (json.dumps(error), now, now, job.id),
                )
                self._exec(cur, "DELETE FROM job_media WHERE job_id = ?", (job.id,))
                job.status, job.error, job.finished_at = JobStatus.FAILED, error, now
                if job.callback_url:
                    self._insert_delivery(cur, build_delivery(job, now))
                failed.append(job.id)
        return failed

    def heartbeat(
        self, job_id: str, worker: str, lease_s: float, progress: dict[str, object]
    ) -> Heartbeat:
        now = time.time()
        with self._transaction() as cur:
            self._exec(
                cur,
                "UPDATE jobs SET lease_expires = ?, progress = ?, updated_at = ? "
                "WHERE id = ? AND lease_owner = ? AND status = 'running'",
                (now + lease_s, json.dumps(progress), now, job_id, worker),
            )
            if cur.rowcount == 0:
                return Heartbeat(owned=False, cancel_requested=False)
            row = self._exec(
                cur, "SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
        return Heartbeat(owned=True, cancel_requested=bool(row[0]))

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
        now = time.time()
        if worker is None:
            where, who = "status = 'queued'", ()
        else:
            where, who = "status = 'running' AND lease_owner = ?", (worker,)
        with self._transaction() as cur:
            self._exec(
                cur,
                "UPDATE jobs SET status = ?, result = ?, error = ?, "
                "model_version = COALESCE(?, model_version), finished_at = ?, updated_at = ?, "
                "expires_at = ?, lease_owner = NULL, lease_expires = NULL, "
                "progress = COALESCE(?, progress) "
                f"WHERE id = ? AND {where}",
                (
                    str(status),
                    json.dumps(result) if result is not None else None,
                    json.dumps(error) if error is not None else None,
                    model_version,
                    now,
                    now,
                    expires_at,
                    json.dumps(progress) if progress is not None else None,
                    job_id,
                    *who,
                ),
            )
            if cur.rowcount == 0:
                return False
            if not keep_media:
                self._exec(cur, "DELETE FROM job_media WHERE job_id = ?", (job_id,))
            if delivery is not None:
                self._insert_delivery(cur, delivery)
        return True

    def release_job(self, job_id: str, worker: str) -> bool:
        with self._transaction() as cur:
            self._exec(
                cur,
                "UPDATE jobs SET status = 'queued', attempts = attempts - 1, lease_owner = NULL, "
                "lease_expires = NULL, updated_at = ? "
                "WHERE id = ? AND lease_owner = ? AND status = 'running'",
                (time.time(), job_id, worker),
            )
            return bool(cur.rowcount)

    def request_cancel(self, job_id: str, owner: str) -> Job | None:
        with self._transaction() as cur:
            self._exec(
                cur,
                "UPDATE jobs SET cancel_requested = 1, updated_at = ? "
                "WHERE id = ? AND owner = ? AND status = 'running'",
                (time.time(), job_id, owner),
            )
            row = self._exec(
                cur, f"{JOB_SELECT} WHERE id = ? AND owner = ?", (job_id, owner)
            ).fetchone()
        return job_from_row(row) if row is not None else None

    def delete_job(self, job_id: str, owner: str) -> Job | None:
        with self._transaction() as cur:
            row = self._exec(
                cur, f"{JOB_SELECT} WHERE id = ? AND owner = ?", (job_id, owner)
            ).fetchone()
            if row is None:
                return None
            self._exec(cur, "DELETE FROM jobs WHERE id = ?", (job_id,))
            self._exec(cur, "DELETE FROM deliveries WHERE job_id = ?", (job_id,))
            self._exec(cur, "DELETE FROM job_media WHERE job_id = ?", (job_id,))
            self._exec(
                cur, "DELETE FROM idempotency_keys WHERE owner = ? AND job_id = ?", (owner, job_id)
            )
        return job_from_row(row)

    def expire_jobs(self, now: float) -> list[str]:
        # Locked like a claim: every replica's housekeeping runs this, each job expires once.
        with self._transaction() as cur:
            rows = self._exec(
                cur,
                "SELECT id FROM jobs WHERE status IN ('succeeded', 'failed', 'canceled') "
                f"AND expires_at < ?{self.lock_clause}",
                (now,),
            ).fetchall()
            ids = [r[0] for r in rows]
            for job_id in ids:
                self._exec(
                    cur,
                    "UPDATE jobs SET status = 'expired', result = NULL, wrapped_key = NULL, "
                    "updated_at = ? WHERE id = ?",
                    (now, job_id),
                )
                self._exec(cur, "DELETE FROM job_media WHERE job_id = ?", (job_id,))
        return ids

    def purge_idempotency(self, older_than: float) -> int:
        with self._transaction() as cur:
            self._exec(cur, "DELETE FROM idempotency_keys WHERE created_at < ?", (older_than,))
            return int(cur.rowcount)

    def wrapped_keys(self) -> list[tuple[str, bytes]]:
        with self._transaction() as cur:
            rows = self._exec(
                cur, "SELECT id, wrapped_key FROM jobs WHERE wrapped_key IS NOT NULL"
            ).fetchall()
        return [(r[0], bytes(r[1])) for r in rows]

    def replace_wrapped_key(self, job_id: str, old: bytes, new: bytes) -> bool:
        # Compare-and-set: a job deleted or expired meanwhile keeps no key.
        with self._transaction() as cur:
            self._exec(
                cur,
                "UPDATE jobs SET wrapped_key = ? WHERE id = ? AND wrapped_key = ?",
                (new, job_id, old),
            )
            return bool(cur.rowcount)

    def count_by_status(self) -> dict[str, int]:
        with self._transaction() as cur:
            rows = self._exec(cur, "SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall()
        counts = {str(s): 0 for s in JobStatus}
        counts.update({r[0]: int(r[1]) for r in rows})
        return counts
