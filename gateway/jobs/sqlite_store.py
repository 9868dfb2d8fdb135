"""The SQLite job store (the default): one WAL-mode database file under GATEWAY_VAR_DIR.

WAL lets readers (status polls) run while a worker writes; every write transaction
starts with ``BEGIN IMMEDIATE`` so that two processes (the gateway and a
``python -m gateway worker``) never claim the same job.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .schema import SCHEMA, split_statements
from .sql import SqlJobStore
from .sql_base import Cursor


class SqliteJobStore(SqlJobStore):
    """:class:`~gateway.jobs.store.JobStore` in a SQLite file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # One connection shared by the threads of this process, one transaction at a time.
        self._conn = sqlite3.connect(
            path, timeout=30.0, isolation_level=None, check_same_thread=False
        )
        self._lock = threading.Lock()
        self._conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed job (the 202 the client saw) survives a power loss too.
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA busy_timeout=30000")
        with self._transaction() as cur:
            for statement in split_statements(SCHEMA.format(blob="BLOB")):
                cur.execute(statement)

    @contextmanager
    def _transaction(self) -> Iterator[Cursor]:
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            else:
                cur.execute("COMMIT")
            finally:
                cur.close()

    def close(self) -> None:
        with self._lock:
            self._conn.close()
