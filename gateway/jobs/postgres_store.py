"""The PostgreSQL job store (psycopg 3), for workers on several hosts.

Claims lock the picked row with ``FOR UPDATE SKIP LOCKED``: concurrent workers each
get a different job instead of queueing on the same row. Encrypted job media is kept in
the database too (``holds_media``), so that any gateway replica or worker host can run a
job whichever replica accepted it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from ..errors import InsufficientStorage, JobStoreUnavailable
from .schema import SCHEMA, split_statements
from .sql import SqlJobStore
from .sql_base import Cursor


class PostgresJobStore(SqlJobStore):
    """:class:`~gateway.jobs.store.JobStore` in a PostgreSQL database."""

    lock_clause = " FOR UPDATE SKIP LOCKED"
    # Two replicas creating jobs of one owner at once would both count below the cap.
    owner_lock_sql = "SELECT pg_advisory_xact_lock(hashtext(CAST(? AS text)))"
    holds_media = True
    paramstyle = "format"

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.Lock()
        self._conn: psycopg.Connection | None = None
        with self._transaction() as cur:
            # Concurrent first starts would race on CREATE TABLE IF NOT EXISTS.
            cur.execute("SELECT pg_advisory_xact_lock(4242)")
            for statement in split_statements(SCHEMA.format(blob="BYTEA")):
                cur.execute(statement)

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(self.url, connect_timeout=10)
        return self._conn

    @contextmanager
    def _transaction(self) -> Iterator[Cursor]:
        # The database's own failures become the gateway's errors here, once: a full
        # disk is 507 as on local disks, a lost or refused connection 503 (the next
        # transaction reconnects).
        try:
            with self._lock:
                conn = self._connection()
                with conn.transaction(), conn.cursor() as cur:
                    yield cur
        except psycopg.errors.DiskFull as error:
            raise InsufficientStorage(
                "the job store's database has no disk space left; try again later"
            ) from error
        except psycopg.OperationalError as error:
            raise JobStoreUnavailable(
                "the job store's database cannot be reached; try again later"
            ) from error

    def _sql(self, sql: str) -> str:
        # psycopg's placeholders are %s; a literal % would need doubling (none is used).
        return sql.replace("?", "%s")

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
