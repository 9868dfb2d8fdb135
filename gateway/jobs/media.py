"""Job media, always encrypted: stored on submission, decrypted only to decode.

The upload is encrypted under the job's data key (see :mod:`.crypto`); the wrapped data
key lives in the job's row. Where the ciphertext lives depends on the store: a store that
``holds_media`` (PostgreSQL) keeps it in pieces in its ``job_media`` table, so that any
replica or worker host can run any job; otherwise ``media/<job id>.enc`` on local disk.

A worker decrypts to a private temporary file under ``media/work`` that exists only while
the video is decoded. A process killed mid-decode leaves that plaintext behind, and the
job may end elsewhere: :meth:`MediaStore.sweep_work` removes copies of jobs no longer
running. A copy that must outlive its job (the shadow canary's) is moved out of ``work``
into the uploads directory first (:meth:`MediaStore.release_copy`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .crypto import Keyring, decrypt_file, encrypt_file, new_data_key
from .store import JobStore

log = logging.getLogger(__name__)

#: Pieces of stored ciphertext: small enough per statement, few enough per video.
CHUNK_BYTES = 1024 * 1024
#: ``<job id>-<random>.video``, as :meth:`MediaStore.decrypt_to_temp` names its copies.
_WORK_NAME = re.compile(r"([0-9a-f]{32})-[a-z0-9_]+\.video")


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


class _ChunkWriter:
    """A write-only file that sends the bytes to the store in pieces of CHUNK_BYTES."""

    def __init__(self, store: JobStore, job_id: str) -> None:
        self.store, self.job_id = store, job_id
        self.buffer = bytearray()
        self.seq = 0

    def write(self, data: bytes) -> int:
        self.buffer += data
        while len(self.buffer) >= CHUNK_BYTES:
            self._put(bytes(self.buffer[:CHUNK_BYTES]))
            del self.buffer[:CHUNK_BYTES]
        return len(data)

    def close(self) -> None:
        if self.buffer:
            self._put(bytes(self.buffer))
            self.buffer.clear()

    def _put(self, chunk: bytes) -> None:
        self.store.add_media_chunk(self.job_id, self.seq, chunk)
        self.seq += 1


class _ChunkReader:
    """A read-only file over the pieces the store holds, fetched one at a time."""

    def __init__(self, store: JobStore, job_id: str) -> None:
        self.store, self.job_id = store, job_id
        self.chunk = b""
        self.offset = 0
        self.seq = 0

    def read(self, n: int) -> bytes:
        parts = []
        while n > 0:
            if self.offset == len(self.chunk):
                chunk = self.store.media_chunk(self.job_id, self.seq)
                if chunk is None:
                    break
                self.chunk, self.offset, self.seq = chunk, 0, self.seq + 1
            part = self.chunk[self.offset : self.offset + n]
            self.offset += len(part)
            n -= len(part)
            parts.append(part)
        return b"".join(parts)


def _temp_upload(directory: Path) -> tuple[int, str]:
    """A new 0600 file in ``directory`` named as :mod:`gateway.api.upload` names uploads, so that
    the start-up sweep of a killed process's uploads removes it."""
    directory.mkdir(parents=True, exist_ok=True)
    return tempfile.mkstemp(prefix="upload-", suffix=".video", dir=directory)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class MediaStore:
    """Encrypted media of jobs: in ``store`` when it holds media, else under ``directory``.

    Decrypted working copies are always local, under ``directory/work``.
    """

    def __init__(
        self, directory: Path, keys: Keyring | bytes, store: JobStore | None = None
    ) -> None:
        self.directory = directory
        self.work_dir = directory / "work"
        #: Data keys are wrapped by the current KEK and unwrapped by any of the ring's.
        self.keys = keys if isinstance(keys, Keyring) else Keyring(keys)
        #: The store the ciphertext lives in, when it holds media.
        self.blobs = store if store is not None and store.holds_media else None
        self.work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)

    def path(self, job_id: str) -> Path:
        return self.directory / f"{job_id}.enc"

    def store(self, job_id: str, plaintext: Path) -> StoredMedia:
        """Encrypt ``plaintext`` as ``job_id``'s media, durably (fsync or commit), and hash it."""
        with open(plaintext, "rb") as src:
            return self.store_stream(job_id, src)

    def store_stream(self, job_id: str, source: BinaryIO) -> StoredMedia:
        """Encrypt what ``source.read`` gives as ``job_id``'s media, durably, and hash it.

        Only ciphertext is written: a fetched body goes from the network to this without a
        plaintext copy. An error from ``source`` leaves nothing stored.
        """
        data_key = new_data_key()
        reader = _Hashing(source)
        if self.blobs is not None:
            writer = _ChunkWriter(self.blobs, job_id)
            try:
                encrypt_file(reader, writer, data_key, job_id)  # type: ignore[arg-type]
                writer.close()
            except BaseException:
                with contextlib.suppress(Exception):
                    self.blobs.delete_media(job_id)
                raise
            return StoredMedia(self.keys.wrap(data_key), reader.size, reader.digest.hexdigest())
        final = self.path(job_id)
        fd, tmp = tempfile.mkstemp(prefix=f".{job_id}-", dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as dest:
                encrypt_file(reader, dest, data_key, job_id)  # type: ignore[arg-type]
                dest.flush()
                os.fsync(dest.fileno())
            os.replace(tmp, final)
            _fsync_dir(self.directory)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return StoredMedia(self.keys.wrap(data_key), reader.size, reader.digest.hexdigest())

    def has(self, job_id: str) -> bool:
        """Whether ``job_id``'s encrypted media is still kept."""
        if self.blobs is not None:
            return self.blobs.media_chunk(job_id, 0) is not None
        return self.path(job_id).exists()

    def decrypt_to_temp(
        self, job_id: str, wrapped_key: bytes, directory: Path | None = None
    ) -> Path:
        """Decrypt ``job_id``'s media into a new 0600 temporary file; the caller deletes it.

        The file is a job's working copy under ``work/``; with ``directory``, a temporary
        upload there instead (named as :mod:`gateway.api.upload` names them, so that the start-up
        sweep of a killed process's uploads removes it), which the work sweep never touches.
        """
        data_key = self.keys.unwrap(wrapped_key)
        if directory is None:
            fd, name = tempfile.mkstemp(prefix=f"{job_id}-", suffix=".video", dir=self.work_dir)
        else:
            fd, name = _temp_upload(directory)
        try:
            with contextlib.ExitStack() as files:
                src: BinaryIO
                if self.blobs is not None:
                    src = _ChunkReader(self.blobs, job_id)  # type: ignore[assignment]
                else:
                    src = files.enter_context(open(self.path(job_id), "rb"))
                dest = files.enter_context(os.fdopen(fd, "wb"))
                decrypt_file(src, dest, data_key, job_id)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)
            raise
        return Path(name)

    def release_copy(self, path: Path, directory: Path) -> Path:
        """Move the working copy ``path`` to a new temporary upload in ``directory``; the
        caller owns (and deletes) the file it returns.

        The job's end and :meth:`sweep_work` remove a job's working copies; a moved copy is
        left to its new owner, and to the start-up sweep of uploads should the process be
        killed. A failed move (``directory`` on another file system) raises ``OSError`` and
        leaves ``path`` where it was.
        """
        fd, name = _temp_upload(directory)
        os.close(fd)
        try:
            os.replace(path, name)  # a rename: no second plaintext copy is written
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)
            raise
        return Path(name)

    def delete(self, job_id: str) -> None:
        """Remove ``job_id``'s media (and any decrypted copy a dead worker left behind)."""
        if self.blobs is not None:
            self.blobs.delete_media(job_id)
        with contextlib.suppress(FileNotFoundError):
            self.path(job_id).unlink()
        # Decrypted copies, and a partial ciphertext a process killed while storing left.
        leftovers = [*self.work_dir.glob(f"{job_id}-*"), *self.directory.glob(f".{job_id}-*")]
        for leftover in leftovers:
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()

    def sweep_work(self, running: Callable[[str], bool]) -> int:
        """Remove decrypted copies of jobs for which ``running(job_id)`` is false.

        A copy exists only while its job runs; one of a job that ended (here or on another
        host), was deleted or went back to the queue was left by a killed process. Copies of
        running jobs are kept: another process on this disk may be decoding them. Returns
        how many were removed.
        """
        removed = 0
        for path in list(self.work_dir.iterdir()):
            found = _WORK_NAME.fullmatch(path.name)
            if found is None or running(found.group(1)):
                continue
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
        if removed:
            log.warning(
                "removed decrypted media left by a stopped process", extra={"files": removed}
            )
        return removed
