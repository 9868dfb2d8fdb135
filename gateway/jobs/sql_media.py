"""The statements of encrypted job media kept in the store (stores with ``holds_media``)."""

from __future__ import annotations

import time

from .sql_base import SqlBase

__all__ = ["MediaSql"]


class MediaSql(SqlBase):
    """The ``job_media`` table: a job's encrypted media, piece by piece."""

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
