"""Signed job webhooks in the Standard Webhooks format, and their durable delivery.

A job that ends (succeeded, failed, canceled) with a ``callback_url`` gets one delivery
row, stored in the transaction that ends the job. The :class:`Deliverer` loop sends due
deliveries: ``webhook-id`` (the same for every attempt), ``webhook-timestamp`` and
``webhook-signature: v1,<base64 HMAC-SHA256>`` signed with the API key's secret by the
``standardwebhooks`` package. 2xx is success; anything else (redirects included, never
followed) is retried with exponential backoff; 410 Gone stops.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from standardwebhooks import Webhook

from ..errors import CallbackRefused
from . import metrics
from .crypto import Keyring, MediaDecryptionError
from .models import Delivery, DeliveryState
from .ssrf import CallbackPolicy, ResolvedCallback, resolve_callback
from .store import JobStore, until_stored

log = logging.getLogger(__name__)

#: Bytes of a receiver's answer read (and kept in the delivery log) at most.
MAX_RESPONSE_BYTES = 1024
_MAX_BACKOFF_S = 3600.0
_SECRET_CONTEXT = b"gateway webhook secret"


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def seal_secret(keys: Keyring, owner: str, secret: str) -> bytes:
    """``secret`` encrypted at rest under the current KEK, bound to its owner."""
    return keys.seal(secret.encode(), _SECRET_CONTEXT + owner.encode())


def unseal_secret(keys: Keyring, owner: str, sealed: bytes) -> str:
    """The secret :func:`seal_secret` sealed, under any KEK of ``keys``."""
    return keys.unseal(sealed, _SECRET_CONTEXT + owner.encode()).decode()


def reseal_secret(keys: Keyring, owner: str, sealed: bytes) -> bytes | None:
    """``sealed`` sealed again under the current KEK; None if it already is."""
    return keys.reseal(sealed, _SECRET_CONTEXT + owner.encode())


def sign(secret: str, message_id: str, timestamp: int, body: str) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body``."""
    when = datetime.fromtimestamp(timestamp, UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": Webhook(secret).sign(message_id, when, body),
    }


@dataclass(frozen=True)
class Outcome:
    """One attempt's result."""

    status: int | None
    error: str | None
    body: str = ""

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def _tls_context(ca_file: Path | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


async def post_pinned(
    target: ResolvedCallback,
    headers: dict[str, str],
    body: str,
    *,
    timeout_s: float,
    tls: ssl.SSLContext,
) -> Outcome:
    """POST ``body`` to a checked address, with SNI, certificate check and Host as the name.

    The checked addresses are tried in order until one accepts the connection; nothing
    is resolved again here.
    """
    host_header = target.host if target.port == 443 else f"{target.host}:{target.port}"
    outcome = Outcome(status=None, error="no address")
    async with httpx.AsyncClient(
        verify=tls, timeout=timeout_s, follow_redirects=False, trust_env=False
    ) as client:
        for address in target.addresses:
            url = httpx.URL(target.url).copy_with(host=str(address))
            try:
                async with client.stream(
                    "POST",
                    url,
                    content=body.encode(),
                    headers={
                        **headers,
                        "Host": host_header,
                        "Content-Type": "application/json",
                        "User-Agent": "deepfake-gateway-webhooks/1",
                    },
                    extensions={"sni_hostname": target.host},
                ) as response:
                    received = b""
                    async for chunk in response.aiter_raw():
                        received += chunk
                        if len(received) >= MAX_RESPONSE_BYTES:
                            break
                    text = received[:MAX_RESPONSE_BYTES].decode("utf-8", "replace")
                    return Outcome(status=response.status_code, error=None, body=text)
            except httpx.ConnectError as exc:
                outcome = Outcome(status=None, error=f"ConnectError: {exc}"[:300])
            except httpx.HTTPError as exc:
                return Outcome(status=None, error=f"{type(exc).__name__}: {exc}"[:300])
    return outcome


class Deliverer:
    """Sends due deliveries, one at a time per loop, and records every attempt."""

    def __init__(
        self,
        store: JobStore,
        keys: Keyring,
        policy: CallbackPolicy,
        *,
        ca_file: Path | None,
        timeout_s: float,
        max_attempts: int,
        retry_base_s: float,
        poll_s: float,
    ) -> None:
        self.store, self.keys, self.policy = store, keys, policy
        self.timeout_s, self.max_attempts = timeout_s, max_attempts
        self.retry_base_s, self.poll_s = retry_base_s, poll_s
        self._tls = _tls_context(ca_file)

    async def run(self) -> None:
        """Deliver forever (until canceled)."""
        while True:
            try:
                delivery = await asyncio.to_thread(
                    self.store.claim_delivery, time.time(), self.timeout_s * 3
                )
            except Exception:
                log.exception("claiming a delivery failed")
                delivery = None
            if delivery is None:
                await asyncio.sleep(self.poll_s)
                continue
            try:
                await self.attempt(delivery)
            except Exception:
                log.exception("delivery attempt failed", extra={"delivery": delivery.id})

    async def attempt(self, delivery: Delivery) -> None:
        """One attempt at ``delivery``; its new state is stored."""
        started = time.time()
        outcome = await self._send(delivery)
        now = time.time()
        delivery.attempts += 1
        delivery.last_status, delivery.last_error = outcome.status, outcome.error
        delivery.updated_at = now
        delivery.log.append(
            {
                "attempt": delivery.attempts,
                "at": started,
                "duration_ms": round((now - started) * 1000, 1),
                "status": outcome.status,
                "error": outcome.error,
            }
        )
        if outcome.delivered:
            delivery.state, result = DeliveryState.DELIVERED, "delivered"
        elif outcome.status == 410:
            delivery.state, result = DeliveryState.STOPPED, "gone"
        elif delivery.attempts >= self.max_attempts:
            delivery.state, result = DeliveryState.FAILED, "failed"
        else:
            backoff = min(self.retry_base_s * 2 ** (delivery.attempts - 1), _MAX_BACKOFF_S)
            # Jitter so that many failed deliveries do not retry in lockstep.
            delivery.next_attempt_at = now + backoff * (0.8 + 0.4 * secrets.randbelow(1000) / 1000)
            result = "retry"
        # The receiver has answered: an outage of the store now must not lose the outcome
        # (the delivery would be sent again once its claim ran out).
        recorded = await until_stored(
            lambda: self.store.update_delivery(delivery), "record delivery", poll_s=self.poll_s
        )
        if not recorded:
            # This attempt outlived its lease and another deliverer claimed the delivery:
            # the receiver may get the message twice (same webhook-id), the record is theirs.
            log.warning(
                "webhook attempt outlived its lease; not recorded",
                extra={
                    "job_id": delivery.job_id,
                    "delivery": delivery.id,
                    "status": outcome.status,
                },
            )
            return
        metrics.WEBHOOK_DELIVERIES.labels(outcome=result).inc()
        log.info(
            "webhook attempt",
            extra={
                "job_id": delivery.job_id,
                "delivery": delivery.id,
                "attempt": delivery.attempts,
                "status": outcome.status,
                "error": outcome.error,
                "outcome": result,
            },
        )

    async def _send(self, delivery: Delivery) -> Outcome:
        # Waited for through an outage: failing here would leave the delivery claimed,
        # and so unsent, until its claim ran out.
        sealed = await until_stored(
            lambda: self.store.get_secret(delivery.owner), "read webhook secret", poll_s=self.poll_s
        )
        if sealed is None:
            return Outcome(status=None, error="no webhook secret for this API key")
        try:
            secret = unseal_secret(self.keys, delivery.owner, sealed)
        except MediaDecryptionError:
            # Counted as a failed attempt, so that it backs off and ends instead of looping.
            return Outcome(
                status=None,
                error="the webhook secret does not decrypt with this gateway's KEKs "
                "(set the KEK it was sealed under in GATEWAY_JOB_KEK_PREVIOUS, or create "
                "a new secret with POST /v1/webhook-secret)",
            )
        try:
            # Checked again: DNS may have changed since submission.
            target = await resolve_callback(delivery.url, self.policy)
        except CallbackRefused as exc:
            return Outcome(status=None, error=f"refused: {exc.message}")
        headers = sign(secret, delivery.message_id, int(time.time()), delivery.payload)
        return await post_pinned(
            target, headers, delivery.payload, timeout_s=self.timeout_s, tls=self._tls
        )
