"""The one schema and the SQL both job store backends run.

Statements are written with ``?`` placeholders; a backend with another paramstyle
rewrites them (:meth:`SqlJobStore._sql`). A backend supplies connections as transactions
(:meth:`SqlJobStore._transaction`) and the clause that locks a claimed row.

It is long because it holds the whole schema and every statement both backends run, so the
two stores cannot drift apart.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

from ..errors import WORKER_LOST, IdempotencyMismatch, RateLimited
from .models import Delivery, DeliveryState, Heartbeat, Job, JobStatus

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    started_at DOUBLE PRECISION,
    finished_at DOUBLE PRECISION,
    expires_at DOUBLE PRECISION NOT NULL,
    params TEXT NOT NULL,
    callback_url TEXT,
    metadata TEXT NOT NULL,
    request_id TEXT NOT NULL,
    input_size BIGINT NOT NULL,
    input_sha256 TEXT NOT NULL,
    input_duration_s DOUBLE PRECISION NOT NULL,
    model_version INTEGER,
    progress TEXT NOT NULL,
    result TEXT,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_expires DOUBLE PRECISION,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    wrapped_key {blob}
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, created_at);
CREATE INDEX IF NOT EXISTS jobs_by_owner ON jobs (owner, created_at, id);
CREATE TABLE IF NOT EXISTS idempotency_keys (
    owner TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    job_id TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (owner, key)
);
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL,
    owner TEXT NOT NULL,
    message_id TEXT NOT NULL,
    event TEXT NOT NULL,
    url TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    next_attempt_at DOUBLE PRECISION NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_status INTEGER,
    last_error TEXT,
    log TEXT NOT NULL,
    lease_expires DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (state, next_attempt_at);
CREATE INDEX IF NOT EXISTS deliveries_by_job ON deliveries (job_id, created_at);
CREATE TABLE IF NOT EXISTS job_media (
    job_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    chunk {blob} NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (job_id, seq)
);
CREATE TABLE IF NOT EXISTS webhook_secrets (
    owner TEXT PRIMARY KEY,
    sealed {blob} NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);
"""

_JOB_COLUMNS = [
    "id",
    "owner",
    "status",
    "created_at",
    "updated_at",
    "started_at",
    "finished_at",
    "expires_at",
    "params",
    "callback_url",
    "metadata",
    "request_id",
    "input_size",
    "input_sha256",
    "input_duration_s",
    "model_version",
    "progress",
    "result",
    "error",
    "attempts",
    "lease_owner",
    "lease_expires",
    "cancel_requested",
    "wrapped_key",
]
_JSON_JOB = {"params", "metadata", "progress", "result", "error"}
_DELIVERY_COLUMNS = [
    "id",
    "job_id",
    "owner",
    "message_id",
    "event",
    "url",
    "payload",
    "state",
    "created_at",
    "updated_at",
    "next_attempt_at",
    "attempts",
    "last_status",
    "last_error",
    "log",
    "lease_expires",
]

Cursor = Any  # sqlite3.Cursor or psycopg.Cursor: both have execute/fetchone/fetchall/rowcount


def _job_row(job: Job) -> list[Any]:
    values = []
    for name in _JOB_COLUMNS:
        value = getattr(job, name)
        if name in _JSON_JOB:
            value = None if value is None else json.dumps(value)
        elif name == "status":
            value = str(value)
        elif name == "cancel_requested":
            value = int(value)
        values.append(value)
    return values


def _job(row: Sequence[Any]) -> Job:
    data = dict(zip(_JOB_COLUMNS, row, strict=True))
    for name in _JSON_JOB:
        if data[name] is not None:
            data[name] = json.loads(data[name])
    data["status"] = JobStatus(data["status"])
    data["cancel_requested"] = bool(data["cancel_requested"])
    if data["wrapped_key"] is not None:
        data["wrapped_key"] = bytes(data["wrapped_key"])
    return Job(**data)


def _delivery_row(d: Delivery) -> list[Any]:
    values = []
    for name in _DELIVERY_COLUMNS:
        value = getattr(d, name)
        if name == "log":
            value = json.dumps(value)
        elif name == "state":
            value = str(value)
        values.append(value)
    return values


def _delivery(row: Sequence[Any]) -> Delivery:
    data = dict(zip(_DELIVERY_COLUMNS, row, strict=True))
    data["log"] = json.loads(data["log"])
    data["state"] = DeliveryState(data["state"])
    return Delivery(**data)


_JOB_SELECT = f"SELECT {', '.join(_JOB_COLUMNS)} FROM jobs"
_DELIVERY_SELECT = f"SELECT {', '.join(_DELIVERY_COLUMNS)} FROM deliveries"


class SqlJobStore:
    """:class:`~gateway.jobs.store.JobStore` over a DB-API connection; see the backends."""

    #: Appended to the SELECT that picks a row to claim.
    lock_clause = ""
    #: Whether job media lives in the store (``job_media``) rather than under GATEWAY_VAR_DIR.
    holds_media = False
    paramstyle = "qmark"

    def _transaction(self) -> AbstractContextManager[Cursor]:
        raise NotImplementedError

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.paramstyle == "format" else sql

    def _exec(self, cur: Cursor, sql: str, params: Sequence[Any] = ()) -> Cursor:
        cur.execute(self._sql(sql), tuple(params))
        return cur

    # Jobs ------------------------------------------------------------------------------

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
                    found = self._exec(cur, f"{_JOB_SELECT} WHERE id = ?", (row[1],)).fetchone()
                    if found is not None:
                        return _job(found), True
                    # The first job was deleted: the key now names this one.
                    self._exec(
                        cur,
                        "UPDATE idempotency_keys SET job_id = ?, created_at = ? "
                        "WHERE owner = ? AND key = ?",
                        (job.id, job.created_at, job.owner, key),
                    )
            if max_active > 0:
                self._check_active(cur, job.owner, max_active)
            marks = ", ".join("?" for _ in _JOB_COLUMNS)
            self._exec(
                cur,
                f"INSERT INTO jobs ({', '.join(_JOB_COLUMNS)}) VALUES ({marks})",
                _job_row(job),
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
                row = self._exec(cur, f"{_JOB_SELECT} WHERE id = ?", (job_id,)).fetchone()
            else:
                row = self._exec(
                    cur, f"{_JOB_SELECT} WHERE id = ? AND owner = ?", (job_id, owner)
                ).fetchone()
        return _job(row) if row is not None else None

    def list_jobs(self, owner: str, limit: int, before: tuple[float, str] | None) -> list[Job]:
        with self._transaction() as cur:
            if before is None:
                rows = self._exec(
                    cur,
                    f"{_JOB_SELECT} WHERE owner = ? ORDER BY created_at DESC, id DESC LIMIT ?",
                    (owner, limit),
                ).fetchall()
            else:
                at, last_id = before
                rows = self._exec(
                    cur,
                    f"{_JOB_SELECT} WHERE owner = ? AND "
                    "(created_at < ? OR (created_at = ? AND id < ?)) "
                    "ORDER BY created_at DESC, id DESC LIMIT ?",
                    (owner, at, at, last_id, limit),
                ).fetchall()
        return [_job(r) for r in rows]

    def claim_job(self, worker: str, lease_s: float, max_attempts: int) -> Job | None:
        now = time.time()
        with self._transaction() as cur:
            row = self._exec(
                cur,
                f"{_JOB_SELECT} WHERE status = 'queued' "
                "OR (status = 'running' AND lease_expires < ? AND attempts < ?) "
                f"ORDER BY created_at LIMIT 1{self.lock_clause}",
                (now, max_attempts),
            ).fetchone()
            if row is None:
                return None
            job = _job(row)
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
        from .webhooks import build_delivery  # the delivery payload lives with webhooks

        failed = []
        with self._transaction() as cur:
            rows = self._exec(
                cur,
                f"{_JOB_SELECT} WHERE status = 'running' AND lease_expires < ? "
                f"AND attempts >= ?{self.lock_clause}",
                (now, max_attempts),
            ).fetchall()
            for row in rows:
                job = _job(row)
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
                cur, f"{_JOB_SELECT} WHERE id = ? AND owner = ?", (job_id, owner)
            ).fetchone()
        return _job(row) if row is not None else None

    def delete_job(self, job_id: str, owner: str) -> Job | None:
        with self._transaction() as cur:
            row = self._exec(
                cur, f"{_JOB_SELECT} WHERE id = ? AND owner = ?", (job_id, owner)
            ).fetchone()
            if row is None:
                return None
            self._exec(cur, "DELETE FROM jobs WHERE id = ?", (job_id,))
            self._exec(cur, "DELETE FROM deliveries WHERE job_id = ?", (job_id,))
            self._exec(cur, "DELETE FROM job_media WHERE job_id = ?", (job_id,))
            self._exec(
                cur, "DELETE FROM idempotency_keys WHERE owner = ? AND job_id = ?", (owner, job_id)
            )
        return _job(row)

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

    def count_by_status(self) -> dict[str, int]:
        with self._transaction() as cur:
            rows = self._exec(cur, "SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall()
        counts = {str(s): 0 for s in JobStatus}
        counts.update({r[0]: int(r[1]) for r in rows})
        return counts

    # Deliveries ------------------------------------------------------------------------

    def _insert_delivery(self, cur: Cursor, delivery: Delivery) -> None:
        marks = ", ".join("?" for _ in _DELIVERY_COLUMNS)
        self._exec(
            cur,
            f"INSERT INTO deliveries ({', '.join(_DELIVERY_COLUMNS)}) VALUES ({marks})",
            _delivery_row(delivery),
        )

    def add_delivery(self, delivery: Delivery) -> None:
        with self._transaction() as cur:
            self._insert_delivery(cur, delivery)

    def claim_delivery(self, now: float, lease_s: float) -> Delivery | None:
        with self._transaction() as cur:
            row = self._exec(
                cur,
                f"{_DELIVERY_SELECT} WHERE state = 'pending' AND next_attempt_at <= ? "
                "AND (lease_expires IS NULL OR lease_expires < ?) "
                f"ORDER BY next_attempt_at LIMIT 1{self.lock_clause}",
                (now, now),
            ).fetchone()
            if row is None:
                return None
            self._exec(
                cur, "UPDATE deliveries SET lease_expires = ? WHERE id = ?", (now + lease_s, row[0])
            )
        claimed = _delivery(row)
        # The lease is also the claim's token: update_delivery checks it is still this one.
        claimed.lease_expires = now + lease_s
        return claimed

    def update_delivery(self, delivery: Delivery) -> bool:
        with self._transaction() as cur:
            self._exec(
                cur,
                "UPDATE deliveries SET state = ?, attempts = ?, next_attempt_at = ?, "
                "last_status = ?, last_error = ?, log = ?, updated_at = ?, lease_expires = NULL "
                "WHERE id = ? AND lease_expires = ?",
                (
                    str(delivery.state),
                    delivery.attempts,
                    delivery.next_attempt_at,
                    delivery.last_status,
                    delivery.last_error,
                    json.dumps(delivery.log),
                    delivery.updated_at,
                    delivery.id,
                    delivery.lease_expires,
                ),
            )
            return bool(cur.rowcount)

    def list_deliveries(self, job_id: str) -> list[Delivery]:
        with self._transaction() as cur:
            rows = self._exec(
                cur, f"{_DELIVERY_SELECT} WHERE job_id = ? ORDER BY created_at, id", (job_id,)
            ).fetchall()
        return [_delivery(r) for r in rows]

    # Encrypted media (stores with ``holds_media``) -----------------------------------------

    def add_media_chunk(self, job_id: str, seq: int, chunk: bytes) -> None:
        """Store piece ``seq`` of ``job_id``'s encrypted media (each piece commits alone)."""
        with self._transaction() as cur:
            self._exec(
                cur,
                "INSERT INTO job_media (job_id, seq, chunk, created_at) VALUES (?, ?, ?, ?)",
                (job_id, seq, chunk, time.time()),
            )

    def media_chunk(self, job_id: str, seq: int) -> bytes | None:
        """Piece ``seq`` of ``job_id``'s encrypted media; None past the last one."""
        with self._transaction() as cur:
            row = self._exec(
                cur, "SELECT chunk FROM job_media WHERE job_id = ? AND seq = ?", (job_id, seq)
            ).fetchone()
        return bytes(row[0]) if row is not None else None

    def delete_media(self, job_id: str) -> None:
        """Forget ``job_id``'s encrypted media."""
        with self._transaction() as cur:
            self._exec(cur, "DELETE FROM job_media WHERE job_id = ?", (job_id,))

    def purge_orphan_media(self, older_than: float) -> int:
        """Media of no job (its submitter died before the job was committed), stored
        before ``older_than``. Returns how many pieces were removed."""
        with self._transaction() as cur:
            self._exec(
                cur,
                "DELETE FROM job_media WHERE created_at < ? "
                "AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.id = job_media.job_id)",
                (older_than,),
            )
            return int(cur.rowcount)

    # Webhook secrets -------------------------------------------------------------------

    def get_secret(self, owner: str) -> bytes | None:
        with self._transaction() as cur:
            row = self._exec(
                cur, "SELECT sealed FROM webhook_secrets WHERE owner = ?", (owner,)
            ).fetchone()
        return bytes(row[0]) if row is not None else None

    def set_secret(self, owner: str, sealed: bytes, now: float) -> None:
        with self._transaction() as cur:
            self._exec(
                cur,
                "INSERT INTO webhook_secrets (owner, sealed, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT (owner) DO UPDATE SET sealed = excluded.sealed, "
                "created_at = excluded.created_at",
                (owner, sealed, now),
            )


def split_statements(schema: str) -> Iterator[str]:
    """The schema's statements one by one (drivers run one per ``execute``)."""
    for statement in schema.split(";"):
        if statement.strip():
            yield statement.strip()
