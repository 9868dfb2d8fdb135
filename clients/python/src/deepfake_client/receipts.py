"""Verify the receipt the gateway signs over each answer, offline.

A receipt is a compact JWS (EdDSA, Ed25519; RFC 7515, RFC 8037) whose header names the
signing key (``kid``) and whose claims say what the gateway answered about which bytes:
the media's SHA-256, the model name, version and digest, the sampling and aggregation
settings, the sampled frame times, the scores, the verdict, threshold and operating point,
the gateway's version and the signing time (``iat``). The gateway publishes its public keys
at ``/.well-known/jwks.json``, old ones kept after a rotation; fetch them once
(:func:`fetch_jwks`) and verify any number of receipts without the gateway.

A receipt that verifies proves that the service holding that key gave that answer about
those bytes with that model version. It does not prove that the answer is right.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import jwt

from ._core import ssl_context
from .errors import ReceiptVerificationError, TransportError

__all__ = [
    "JWKS_PATH",
    "RECEIPT_ALGORITHM",
    "RECEIPT_TYPE",
    "fetch_jwks",
    "receipt_from_text",
    "verify_receipt",
]

#: Where the gateway publishes its receipt keys.
JWKS_PATH = "/.well-known/jwks.json"
#: The only algorithm a receipt may use (anything else is refused, never tried).
RECEIPT_ALGORITHM = "EdDSA"
#: The ``typ`` header of a receipt.
RECEIPT_TYPE = "deepfake-receipt+jwt"
#: Clock difference allowed between the gateway and the verifier for ``iat`` (seconds).
_LEEWAY_S = 300
_CHUNK = 1 << 20


def fetch_jwks(
    base_url: str,
    *,
    ca_cert: str | os.PathLike[str] | None = None,
    verify: bool = True,
    timeout_s: float = 30.0,
) -> dict[str, Any]:
    """The gateway's JWK Set, from ``{base_url}/.well-known/jwks.json`` (no API key needed).

    Raises :class:`~deepfake_client.errors.TransportError` without an answer, and
    :class:`~deepfake_client.errors.ReceiptVerificationError` when the answer is not a JWKS.
    """
    url = base_url.rstrip("/") + JWKS_PATH
    try:
        answer = httpx.get(url, verify=ssl_context(verify, ca_cert), timeout=timeout_s)
        answer.raise_for_status()
        jwks = answer.json()
    except httpx.HTTPStatusError as exc:
        raise ReceiptVerificationError(f"{url} answered {exc.response.status_code}") from exc
    except httpx.HTTPError as exc:
        raise TransportError(f"cannot fetch {url}: {exc}") from exc
    except ValueError as exc:
        raise ReceiptVerificationError(f"{url} did not answer JSON") from exc
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise ReceiptVerificationError(f"{url} did not answer a JWK Set")
    return jwks


def receipt_from_text(text: str) -> str:
    """The receipt in ``text``: the compact JWS itself, or a JSON answer that carries one
    (a ``/v1/detect`` answer's ``receipt``, or a job's ``result.receipt``)."""
    stripped = text.strip()
    if not stripped.startswith("{"):
        return stripped
    try:
        loaded = json.loads(stripped)
    except ValueError as exc:
        raise ReceiptVerificationError("neither a receipt nor JSON") from exc
    for holder in (loaded, loaded.get("result") if isinstance(loaded, dict) else None):
        if isinstance(holder, dict) and isinstance(holder.get("receipt"), str):
            return holder["receipt"]
    raise ReceiptVerificationError("the JSON has no receipt (nor result.receipt)")


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as media:
        while chunk := media.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _key_for(header: Mapping[str, Any], jwks: Mapping[str, Any]) -> jwt.PyJWK:
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise ReceiptVerificationError("the receipt's header names no key (kid)")
    for entry in jwks.get("keys") or []:
        if isinstance(entry, Mapping) and entry.get("kid") == kid:
            if entry.get("kty") != "OKP" or entry.get("crv") != "Ed25519":
                raise ReceiptVerificationError(f"key {kid} is not an Ed25519 key")
            try:
                return jwt.PyJWK(dict(entry), algorithm=RECEIPT_ALGORITHM)
            except jwt.PyJWTError as exc:
                raise ReceiptVerificationError(f"key {kid} does not read: {exc}") from exc
    raise ReceiptVerificationError(f"the receipt's key {kid} is not in the JWKS")


def verify_receipt(
    receipt: str, media_path: str | os.PathLike[str], *, jwks: Mapping[str, Any]
) -> dict[str, Any]:
    """Check ``receipt`` against the keys ``jwks`` and the media file ``media_path``.

    ``jwks`` is the gateway's JWK Set (a dict as :func:`fetch_jwks` returns, or as read from
    a saved copy). Checked: the header (``alg`` EdDSA, ``typ``, a ``kid`` the JWKS lists), the
    signature with that key, an integer ``iat``, and that the file's SHA-256 is the one
    signed. Returns the decoded claims. Raises
    :class:`~deepfake_client.errors.ReceiptVerificationError` on any failure.
    """
    try:
        header = jwt.get_unverified_header(receipt)
    except jwt.PyJWTError as exc:
        raise ReceiptVerificationError(f"not a compact JWS: {exc}") from exc
    if header.get("alg") != RECEIPT_ALGORITHM:
        raise ReceiptVerificationError(f"algorithm {header.get('alg')!r} is not EdDSA")
    if header.get("typ") != RECEIPT_TYPE:
        raise ReceiptVerificationError(f"type {header.get('typ')!r} is not {RECEIPT_TYPE}")
    key = _key_for(header, jwks)
    try:
        claims = jwt.decode(
            receipt,
            key,
            algorithms=[RECEIPT_ALGORITHM],
            options={"require": ["iat"]},
            leeway=_LEEWAY_S,
        )
    except jwt.InvalidSignatureError as exc:
        raise ReceiptVerificationError("the signature does not verify") from exc
    except jwt.PyJWTError as exc:
        raise ReceiptVerificationError(f"the receipt does not verify: {exc}") from exc
    media = claims.get("media")
    signed = media.get("sha256") if isinstance(media, dict) else None
    if not isinstance(signed, str):
        raise ReceiptVerificationError("the receipt signs no media sha256")
    actual = _file_sha256(Path(media_path))
    if not hmac.compare_digest(actual, signed.lower()):
        raise ReceiptVerificationError(
            f"the file's sha256 {actual} is not the one the receipt signs ({signed})"
        )
    return claims
