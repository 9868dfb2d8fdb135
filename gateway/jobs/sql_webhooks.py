"""The statements of webhook deliveries and of the owners' sealed signing secrets."""

from __future__ import annotations

import json

from .models import Delivery
from .rows import DELIVERY_SELECT, delivery_from_row
from .sql_base import SqlBase

__all__ = ["WebhookSql"]


class WebhookSql(SqlBase):
    """The ``deliveries`` and ``webhook_secrets`` tables."""

    def add_delivery(self, delivery: Delivery) -> None:
        with self._transaction() as cur:
            self._insert_delivery(cur, delivery)

    def claim_delivery(self, now: float, lease_s: float) -> Delivery | None:
        with self._transaction() as cur:
            row = self._exec(
                cur,
                f"{DELIVERY_SELECT} WHERE state = 'pending' AND next_attempt_at <= ? "
                "AND (lease_expires IS NULL OR lease_expires < ?) "
                f"ORDER BY next_attempt_at LIMIT 1{self.lock_clause}",
                (now, now),
            ).fetchone()
            if row is None:
                return None
            self._exec(
                cur, "UPDATE deliveries SET lease_expires = ? WHERE id = ?", (now + lease_s, row[0])
            )
        claimed = delivery_from_row(row)
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
                cur, f"{DELIVERY_SELECT} WHERE job_id = ? ORDER BY created_at, id", (job_id,)
            ).fetchall()
        return [delivery_from_row(r) for r in rows]

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

    def sealed_secrets(self) -> list[tuple[str, bytes]]:
        with self._transaction() as cur:
            rows = self._exec(cur, "SELECT owner, sealed FROM webhook_secrets").fetchall()
        return [(r[0], bytes(r[1])) for r in rows]

    def replace_secret(self, owner: str, old: bytes, new: bytes) -> bool:
        # Compare-and-set: a secret replaced meanwhile (POST /v1/webhook-secret) stays.
        with self._transaction() as cur:
            self._exec(
                cur,
                "UPDATE webhook_secrets SET sealed = ? WHERE owner = ? AND sealed = ?",
                (new, owner, old),
            )
            return bool(cur.rowcount)
