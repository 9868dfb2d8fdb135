"""Verify webhook deliveries signed the Standard Webhooks way.

A delivery carries ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and
``webhook-signature`` (space-separated ``v1,<base64>`` entries; several while a secret is
rotated). The signature is HMAC-SHA256, keyed with the base64 secret after its ``whsec_``
prefix, over ``{id}.{timestamp}.{body}``. Written on the standard library alone: the
algorithm is a dozen lines, and a receiver should not need more packages to check it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from .errors import WebhookVerificationError

#: Deliveries older or newer than this (seconds) are refused, against replays.
TOLERANCE_S = 5 * 60
_PREFIX = "whsec_"


def _key(secret: str | bytes) -> bytes:
    if isinstance(secret, bytes):
        return secret
    encoded = secret.removeprefix(_PREFIX)
    try:
        # Padding is optional in secrets as handed out.
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise WebhookVerificationError("the secret is not base64 (after whsec_)") from exc
    if not key:
        raise WebhookVerificationError("the secret is empty")
    return key


def _digest(msg_id: str, timestamp: int, body: bytes | str, secret: str | bytes) -> bytes:
    payload = body.encode() if isinstance(body, str) else body
    signed = f"{msg_id}.{timestamp}.".encode() + payload
    return hmac.new(_key(secret), signed, hashlib.sha256).digest()


def sign(msg_id: str, timestamp: int, body: bytes | str, secret: str | bytes) -> str:
    """The ``webhook-signature`` value (``v1,<base64>``) of a delivery."""
    return "v1," + base64.b64encode(_digest(msg_id, timestamp, body, secret)).decode()


def verify(
    headers: Mapping[str, str],
    body: bytes | str,
    secret: str | bytes,
    *,
    tolerance_s: int = TOLERANCE_S,
    now: float | None = None,
) -> Any:
    """Check a delivery and return its JSON payload; :class:`WebhookVerificationError` if not.

    ``headers`` are matched case-insensitively; ``body`` must be the raw bytes received
    (re-serialised JSON will not verify). ``secret`` is the ``whsec_...`` string, or the raw
    key bytes.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    try:
        msg_id = lower["webhook-id"]
        stamp = lower["webhook-timestamp"]
        signatures = lower["webhook-signature"]
    except KeyError as exc:
        raise WebhookVerificationError(f"missing header {exc.args[0]}") from None
    try:
        timestamp = int(stamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not an integer") from None
    current = time.time() if now is None else now
    if timestamp < current - tolerance_s:
        raise WebhookVerificationError("the delivery is too old")
    if timestamp > current + tolerance_s:
        raise WebhookVerificationError("the delivery's timestamp is in the future")
    expected = _digest(msg_id, timestamp, body, secret)
    for entry in signatures.split():
        version, _, value = entry.partition(",")
        if version != "v1":
            continue  # other schemes (e.g. v1a, asymmetric) are not ours to check
        try:
            given = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            continue
        # Constant-time: the comparison leaks nothing about how much of it matched.
        if hmac.compare_digest(given, expected):
            payload = body.decode() if isinstance(body, bytes) else body
            try:
                return json.loads(payload) if payload else None
            except ValueError:
                return payload
    raise WebhookVerificationError("no matching signature")


class Webhooks:
    """``client.webhooks``: the same functions, reachable from a client."""

    sign = staticmethod(sign)
    verify = staticmethod(verify)
