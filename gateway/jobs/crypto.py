"""Encryption of stored job media: per-job data keys in fixed-size AES-GCM segments.

File layout::

    b"DFJM1" | segment_size (4 bytes, big endian) | segment* ...
    segment = nonce (12 bytes) | ciphertext | tag (16 bytes)

Each segment's associated data is the job id, the segment index and a final flag, so
segments cannot be reordered, moved between jobs, dropped or truncated unnoticed. A file
is encrypted and decrypted one segment at a time: a large video is never held in memory.

The data key is wrapped with AES key wrap (RFC 3394) by the key-encryption key (KEK);
only the wrapped key is stored, next to the job, and destroying it makes the media
unreadable.

KEK rotation: a :class:`Keyring` holds the current KEK, which wraps and seals everything
new, and the previous ones (``GATEWAY_JOB_KEK_PREVIOUS``), which only open what was
wrapped or sealed before the change. Nothing stored says which KEK was used: opening tries
the current KEK, then each previous one. That is sound because both primitives
authenticate: AES-KW checks a 64-bit integrity value and AES-GCM a 128-bit tag, so a
wrong KEK fails cleanly instead of yielding a wrong key, and the stored formats stay as
they were (no key id to add or migrate).
"""

from __future__ import annotations

import base64
import os
import secrets
import struct
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

MAGIC = b"DFJM1"
#: Plaintext bytes per segment.
SEGMENT_SIZE = 64 * 1024
_NONCE = 12
_TAG = 16
_HEADER = struct.Struct(">I")


class MediaDecryptionError(Exception):
    """Stored media could not be decrypted: wrong key, or the file was altered."""


def new_data_key() -> bytes:
    """A random 256-bit data key for one job."""
    return AESGCM.generate_key(bit_length=256)


def wrap_key(kek: bytes, data_key: bytes) -> bytes:
    """``data_key`` wrapped by ``kek`` (AES-KW)."""
    return aes_key_wrap(kek, data_key)


def unwrap_key(kek: bytes, wrapped: bytes) -> bytes:
    """The data key inside ``wrapped``; :class:`MediaDecryptionError` for a wrong KEK."""
    try:
        return aes_key_unwrap(kek, wrapped)
    except InvalidUnwrap as exc:
        raise MediaDecryptionError("the data key does not unwrap with this KEK") from exc


def seal(kek: bytes, plaintext: bytes, context: bytes) -> bytes:
    """Small secrets at rest (webhook secrets): ``nonce | AES-GCM(kek)``."""
    nonce = secrets.token_bytes(_NONCE)
    return nonce + AESGCM(kek).encrypt(nonce, plaintext, context)


def unseal(kek: bytes, sealed: bytes, context: bytes) -> bytes:
    """The plaintext :func:`seal` produced."""
    try:
        return AESGCM(kek).decrypt(sealed[:_NONCE], sealed[_NONCE:], context)
    except InvalidTag as exc:
        raise MediaDecryptionError("sealed value does not decrypt with this KEK") from exc


def _aad(job_id: str, index: int, final: bool) -> bytes:
    return job_id.encode() + struct.pack(">QB", index, 1 if final else 0)


def encrypt_file(
    source: BinaryIO, dest: BinaryIO, data_key: bytes, job_id: str, segment_size: int = SEGMENT_SIZE
) -> None:
    """Encrypt ``source`` into ``dest`` segment by segment (one segment of look-ahead)."""
    aead = AESGCM(data_key)
    dest.write(MAGIC + _HEADER.pack(segment_size))
    index = 0
    current = source.read(segment_size)
    while True:
        following = source.read(segment_size)
        final = not following
        nonce = secrets.token_bytes(_NONCE)
        dest.write(nonce + aead.encrypt(nonce, current, _aad(job_id, index, final)))
        if final:
            return
        current = following
        index += 1


def decrypt_file(source: BinaryIO, dest: BinaryIO, data_key: bytes, job_id: str) -> None:
    """Decrypt what :func:`encrypt_file` wrote, in order, checking every segment."""
    head = source.read(len(MAGIC) + _HEADER.size)
    if len(head) != len(MAGIC) + _HEADER.size or not head.startswith(MAGIC):
        raise MediaDecryptionError("not an encrypted media file")
    (segment_size,) = _HEADER.unpack(head[len(MAGIC) :])
    record = _NONCE + segment_size + _TAG
    aead = AESGCM(data_key)
    index = 0
    current = source.read(record)
    while True:
        if len(current) < _NONCE + _TAG:
            raise MediaDecryptionError("encrypted media is truncated")
        following = source.read(record)
        final = not following
        try:
            plain = aead.decrypt(current[:_NONCE], current[_NONCE:], _aad(job_id, index, final))
        except InvalidTag as exc:
            raise MediaDecryptionError(
                f"segment {index} does not decrypt (wrong key, altered or truncated file)"
            ) from exc
        dest.write(plain)
        if final:
            return
        current = following
        index += 1


class Keyring:
    """The current KEK and the previous ones that may still open stored keys and secrets."""

    def __init__(self, current: bytes, previous: tuple[bytes, ...] = ()) -> None:
        self.current = current
        # The current key is tried first anyway; listing it again would only cost a try.
        self.previous = tuple(dict.fromkeys(k for k in previous if k != current))

    @property
    def all(self) -> tuple[bytes, ...]:
        """Every KEK, in the order opening tries them (the current one first)."""
        return (self.current, *self.previous)

    def wrap(self, data_key: bytes) -> bytes:
        """``data_key`` wrapped by the current KEK."""
        return wrap_key(self.current, data_key)

    def unwrap(self, wrapped: bytes) -> bytes:
        """The data key inside ``wrapped``, whichever KEK of the ring wrapped it."""
        return self._open(lambda kek: unwrap_key(kek, wrapped))[0]

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        """``plaintext`` sealed under the current KEK (see :func:`seal`)."""
        return seal(self.current, plaintext, context)

    def unseal(self, sealed: bytes, context: bytes) -> bytes:
        """What :meth:`seal` sealed, under whichever KEK of the ring."""
        return self._open(lambda kek: unseal(kek, sealed, context))[0]

    def rewrap(self, wrapped: bytes) -> bytes | None:
        """``wrapped`` wrapped again by the current KEK; None if it already is."""
        data_key, current = self._open(lambda kek: unwrap_key(kek, wrapped))
        return None if current else self.wrap(data_key)

    def reseal(self, sealed: bytes, context: bytes) -> bytes | None:
        """``sealed`` sealed again under the current KEK; None if it already is."""
        plaintext, current = self._open(lambda kek: unseal(kek, sealed, context))
        return None if current else self.seal(plaintext, context)

    def _open(self, attempt: Callable[[bytes], bytes]) -> tuple[bytes, bool]:
        """``attempt`` with each KEK in turn: the first result, and whether the current
        KEK gave it. :class:`MediaDecryptionError` when none does."""
        for n, kek in enumerate(self.all):
            try:
                return attempt(kek), n == 0
            except MediaDecryptionError:
                continue
        raise MediaDecryptionError(
            f"does not open with any of the {len(self.all)} configured KEKs "
            "(GATEWAY_JOB_KEK, GATEWAY_JOB_KEK_PREVIOUS)"
        )


def load_keyring(configured: str | None, previous: str | None, path: Path) -> Keyring:
    """The KEKs: the current one (:func:`load_or_create_kek`) and ``previous``, a
    comma-separated list of base64 KEKs (``GATEWAY_JOB_KEK_PREVIOUS``)."""
    current = load_or_create_kek(configured, path)
    olds = tuple(
        _decode_kek(text.strip(), f"GATEWAY_JOB_KEK_PREVIOUS entry {n}")
        for n, text in enumerate((previous or "").split(","), start=1)
        if text.strip()
    )
    return Keyring(current, olds)


def load_or_create_kek(configured: str | None, path: Path) -> bytes:
    """The 32-byte KEK: ``configured`` (base64) if given, else the one in ``path``.

    When neither exists a random KEK is generated into ``path`` with mode 0600.
    """
    if configured:
        return _decode_kek(configured, "GATEWAY_JOB_KEK")
    if path.exists():
        return _decode_kek(path.read_text(encoding="ascii").strip(), str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    kek = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(base64.b64encode(kek).decode() + "\n")
    return kek


def _decode_kek(text: str, where: str) -> bytes:
    try:
        kek = base64.b64decode(text, validate=True)
    except ValueError as exc:
        raise ValueError(f"{where}: the KEK must be base64") from exc
    if len(kek) != 32:
        raise ValueError(f"{where}: the KEK must be 32 bytes (base64 of 32 random bytes)")
    return kek
