"""Job media on disk, always encrypted: stored on submission, decrypted only to decode.

``media/<job id>.enc`` holds the upload under the job's data key (see :mod:`.crypto`);
the wrapped data key lives in the job's row. A worker decrypts to a private temporary
file that exists only while the video is decoded.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .crypto import decrypt_file, encrypt_file, new_data_key, unwrap_key, wrap_key


@dataclass(frozen=True)
class StoredMedia:
    """What storing an upload tells about it."""

    wrapped_key: bytes
    size: int
    sha256: str


class _Hashing:
    """A reader that hashes and counts what passes through it."""

    def __init__(self, inner: BinaryIO) -> None:
        self.inner = inner
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, n: int) -> bytes:
        data = self.inner.read(n)
        self.digest.update(data)
        self.size += len(data)
        return data


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class MediaStore:
    """Encrypted media files of jobs under one directory."""

    def __init__(self, directory: Path, kek: bytes) -> None:
        self.directory = directory
        self.work_dir = directory / "work"
        self.kek = kek
        self.work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)

    def path(self, job_id: str) -> Path:
        return self.directory / f"{job_id}.enc"

    def store(self, job_id: str, plaintext: Path) -> StoredMedia:
        """Encrypt ``plaintext`` as ``job_id``'s media, durably (fsync), and hash it."""
        data_key = new_data_key()
        final = self.path(job_id)
        fd, tmp = tempfile.mkstemp(prefix=f".{job_id}-", dir=self.directory)
        try:
            with open(plaintext, "rb") as src, os.fdopen(fd, "wb") as dest:
                reader = _Hashing(src)
                encrypt_file(reader, dest, data_key, job_id)  # type: ignore[arg-type]
                dest.flush()
                os.fsync(dest.fileno())
            os.replace(tmp, final)
            _fsync_dir(self.directory)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return StoredMedia(wrap_key(self.kek, data_key), reader.size, reader.digest.hexdigest())

    def decrypt_to_temp(self, job_id: str, wrapped_key: bytes) -> Path:
        """Decrypt ``job_id``'s media into a new 0600 temporary file; the caller deletes it."""
        data_key = unwrap_key(self.kek, wrapped_key)
        fd, name = tempfile.mkstemp(prefix=f"{job_id}-", suffix=".video", dir=self.work_dir)
        try:
            with open(self.path(job_id), "rb") as src, os.fdopen(fd, "wb") as dest:
                decrypt_file(src, dest, data_key, job_id)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)
            raise
        return Path(name)

    def delete(self, job_id: str) -> None:
        """Remove ``job_id``'s media (and any decrypted copy a dead worker left behind)."""
        with contextlib.suppress(FileNotFoundError):
            self.path(job_id).unlink()
        for leftover in self.work_dir.glob(f"{job_id}-*"):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
