"""What every statement of the job store runs on: a backend's transactions and paramstyle.

Statements are written with ``?`` placeholders; a backend with another paramstyle
rewrites them (:meth:`SqlBase._sql`). A backend supplies connections as transactions
(:meth:`SqlBase._transaction`) and the clause that locks a claimed row.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from .models import Delivery
from .rows import DELIVERY_COLUMNS, delivery_row

__all__ = ["Cursor", "SqlBase"]

Cursor = Any  # sqlite3.Cursor or psycopg.Cursor: both have execute/fetchone/fetchall/rowcount


class SqlBase:
    """A DB-API connection's transactions, as the statements of :mod:`.sql` use them."""

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

    # Here, not with the deliveries: finishing a job inserts its delivery in its transaction.
    def _insert_delivery(self, cur: Cursor, delivery: Delivery) -> None:
        marks = ", ".join("?" for _ in DELIVERY_COLUMNS)
        self._exec(
            cur,
            f"INSERT INTO deliveries ({', '.join(DELIVERY_COLUMNS)}) VALUES ({marks})",
            delivery_row(delivery),
        )
