"""The Ed25519 keys that sign receipts: kept under ``GATEWAY_VAR_DIR``, rotated by number.

One directory holds every key the gateway has signed with. Key ``n`` is ``<n>.pem`` (its
private key, PKCS #8, mode 0600) while it is the newest; rotating writes key ``n + 1`` and
replaces every older private key by its public key (``<n>.pub.pem``), so that receipts
signed before the rotation still verify against the published JWKS while nothing can sign
with the old keys any more. The newest key signs. A key's id (``kid``) is its RFC 7638
thumbprint, so it names the key itself and cannot collide between gateways.

Processes sharing the directory (replicas on one volume, ``python -m gateway worker``)
see a rotation on their next signature: the directory is looked at again when it changes.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = ["ReceiptKey", "ReceiptKeys", "jwk_thumbprint", "public_jwk", "rotate_receipt_key"]

_PRIVATE_SUFFIX = ".pem"
_PUBLIC_SUFFIX = ".pub.pem"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def jwk_thumbprint(key: Ed25519PublicKey) -> str:
    """The RFC 7638 thumbprint (SHA-256, base64url) of ``key``'s OKP JWK: its key id."""
    # RFC 8037 section 2: the required members of an OKP key, in lexicographic order.
    members = {"crv": "Ed25519", "kty": "OKP", "x": _b64url(_raw_public(key))}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return _b64url(hashlib.sha256(canonical).digest())


def public_jwk(key: Ed25519PublicKey) -> dict[str, str]:
    """``key`` as a public JWK (RFC 8037), with its ``kid`` and ``alg``."""
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": _b64url(_raw_public(key)),
        "kid": jwk_thumbprint(key),
        "alg": "EdDSA",
        "use": "sig",
    }


@dataclass(frozen=True)
class ReceiptKey:
    """One key of the directory: its number, id, public half and, for the newest, private."""

    number: int
    kid: str
    public: Ed25519PublicKey
    private: Ed25519PrivateKey | None


def _number(path: Path) -> int | None:
    stem = path.name.removesuffix(_PUBLIC_SUFFIX).removesuffix(_PRIVATE_SUFFIX)
    return int(stem) if stem.isdigit() else None


def _write_new(path: Path, data: bytes) -> bool:
    """Create ``path`` holding ``data`` (mode 0600) unless it exists; True when created.

    Written beside it and linked into place, so no reader ever sees half a key and two
    processes creating the same number cannot both win.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".key-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _private_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _read_keys(directory: Path) -> list[ReceiptKey]:
    """Every key in ``directory``, oldest first (a private file wins over a public one)."""
    found: dict[int, ReceiptKey] = {}
    for path in sorted(directory.glob(f"*{_PRIVATE_SUFFIX}")):
        number = _number(path)
        if number is None:
            continue
        data = path.read_bytes()
        if path.name.endswith(_PUBLIC_SUFFIX):
            if number in found:
                continue
            public = serialization.load_pem_public_key(data)
            private = None
        else:
            loaded = serialization.load_pem_private_key(data, password=None)
            if not isinstance(loaded, Ed25519PrivateKey):
                raise ValueError(f"{path} is not an Ed25519 private key")
            private, public = loaded, loaded.public_key()
        if not isinstance(public, Ed25519PublicKey):
            raise ValueError(f"{path} is not an Ed25519 key")
        found[number] = ReceiptKey(number, jwk_thumbprint(public), public, private)
    return [found[n] for n in sorted(found)]


def _prepare(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    # Only this user may list or add keys.
    os.chmod(directory, 0o700)


def rotate_receipt_key(directory: Path) -> str:
    """Make a new newest key in ``directory`` and keep only the public half of older ones.

    Returns the new key's id. Receipts signed with the older keys still verify: their public
    keys stay in the directory and in the JWKS.
    """
    _prepare(directory)
    while True:
        keys = _read_keys(directory)
        number = keys[-1].number + 1 if keys else 1
        key = Ed25519PrivateKey.generate()
        if _write_new(directory / f"{number}{_PRIVATE_SUFFIX}", _private_pem(key)):
            break
    for old in keys:
        if old.private is not None:
            _write_new(directory / f"{old.number}{_PUBLIC_SUFFIX}", _public_pem(old.public))
            with contextlib.suppress(FileNotFoundError):
                (directory / f"{old.number}{_PRIVATE_SUFFIX}").unlink()
    return jwk_thumbprint(key.public_key())


def _make_first_key(directory: Path) -> None:
    """Key 1, unless another process has just made it (then that one is kept)."""
    _prepare(directory)
    _write_new(directory / f"1{_PRIVATE_SUFFIX}", _private_pem(Ed25519PrivateKey.generate()))


class ReceiptKeys:
    """The keys of one directory: the newest signs, all are published.

    The first use creates the directory and its first key when there is none; a directory
    whose newest key has lost its private half is refused (ValueError), not silently given
    a new key that other processes sharing it would not have.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._seen: tuple[int, int] | None = None
        self._keys: list[ReceiptKey] = []

    def _current(self) -> list[ReceiptKey]:
        with self._lock:
            try:
                stat = self.directory.stat()
            except FileNotFoundError:
                stat = None
            # Adding or removing a key changes the directory's mtime: read again only then.
            seen = (stat.st_mtime_ns, stat.st_ino) if stat is not None else None
            if seen is None or seen != self._seen or not self._keys:
                keys = _read_keys(self.directory) if stat is not None else []
                if not keys:
                    _make_first_key(self.directory)
                    keys = _read_keys(self.directory)
                if keys[-1].private is None:
                    # Making a key here would fork this process's keys from the others'.
                    raise ValueError(
                        f"{self.directory}: the newest receipt key ({keys[-1].number}) has no "
                        "private key; restore it, or rotate to make a new one"
                    )
                st = self.directory.stat()
                self._seen, self._keys = (st.st_mtime_ns, st.st_ino), keys
            return self._keys

    def signing_key(self) -> ReceiptKey:
        """The newest key, the one that signs (created on first use)."""
        return self._current()[-1]

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """Every public key, newest first, as a JWK Set (RFC 7517)."""
        return {"keys": [public_jwk(k.public) for k in reversed(self._current())]}
