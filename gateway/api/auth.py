"""API keys: held only as SHA-256 hashes and compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from ..errors import InvalidApiKey, MissingApiKey

_HASH_PREFIX = "sha256:"


def hash_key(key: str) -> str:
    """Hex SHA-256 of an API key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_id(key: str) -> str:
    """A short, stable name for a key in logs: 12 hex digits of its SHA-256."""
    return hash_key(key)[:12]


def load_or_create_key(path: Path) -> str:
    """Return the key stored at ``path``, creating a random one (mode 0600) on first use."""
    if path.exists():
        key = path.read_text(encoding="utf-8").strip()
        if key:
            return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key + "\n")
    return key


class ApiKeyVerifier:
    """Checks bearer tokens against a set of key hashes."""

    def __init__(self, hashes: list[str]) -> None:
        if not hashes:
            raise ValueError("at least one API key is required")
        self._hashes = [bytes.fromhex(h) for h in hashes]

    @classmethod
    def from_config(cls, api_keys: str, key_file: Path) -> ApiKeyVerifier:
        """Keys from ``GATEWAY_API_KEYS`` (plain or ``sha256:<hex>``), else the generated key."""
        entries = [e.strip() for e in api_keys.split(",") if e.strip()]
        if not entries:
            entries = [load_or_create_key(key_file)]
        hashes = [
            e[len(_HASH_PREFIX) :].lower() if e.startswith(_HASH_PREFIX) else hash_key(e)
            for e in entries
        ]
        return cls(hashes)

    def verify(self, authorization: str | None) -> str:
        """The key's :func:`key_id`; raise unless ``authorization`` is ``Bearer <known key>``."""
        if not authorization:
            raise MissingApiKey("missing API key: send 'Authorization: Bearer <key>'")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise MissingApiKey("malformed Authorization header: expected 'Bearer <key>'")
        digest = hashlib.sha256(token.encode("utf-8")).digest()
        # Compare against every key so timing reveals neither which nor whether one matched.
        matched = False
        for known in self._hashes:
            matched |= hmac.compare_digest(digest, known)
        if not matched:
            raise InvalidApiKey("unknown or revoked API key")
        return digest.hex()[:12]
