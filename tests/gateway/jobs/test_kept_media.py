"""A succeeded job's media kept for a replay (GATEWAY_JOB_KEEP_MEDIA), in both stores,
until the job expires."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import pytest

from gateway.jobs.media import MediaStore
from gateway.jobs.models import JobStatus
from tests.gateway.jobs.test_store import _job, store_factory

__all__ = ["store_factory"]


def test_kept_media_outlives_the_job_until_it_expires(store_factory, tmp_path: Path) -> None:
    store = store_factory()
    media = MediaStore(tmp_path / "media", os.urandom(32), store)
    upload = tmp_path / "upload.video"
    upload.write_bytes(os.urandom(1000))
    job = _job()
    stored = media.store(job.id, upload)
    store.create_job(dataclasses.replace(job, wrapped_key=stored.wrapped_key), None)
    assert store.claim_job("w1", 30.0, 3) is not None
    ended = time.time() + 60
    assert store.finish_job(job.id, "w1", JobStatus.SUCCEEDED, expires_at=ended, keep_media=True)
    assert media.has(job.id)
    copy = media.decrypt_to_temp(job.id, stored.wrapped_key, tmp_path / "uploads")
    assert copy.read_bytes() == upload.read_bytes()
    assert copy.parent == tmp_path / "uploads" and copy.name.startswith("upload-")
    # Expiry forgets the wrapped key (and the store's own copy of the media).
    assert store.expire_jobs(ended - 1) == []
    assert store.expire_jobs(ended + 1) == [job.id]
    media.delete(job.id)
    assert not media.has(job.id)
    assert store.get_job(job.id).wrapped_key is None  # type: ignore[union-attr]


# A PostgreSQL store holds the media itself; a SQLite store's media is a file, which the
# worker removes when the job ends.
@pytest.mark.parametrize("store_factory", ["postgresql"], indirect=True)
def test_without_keep_media_the_end_removes_it(store_factory, tmp_path: Path) -> None:
    store = store_factory()
    assert store.holds_media
    media = MediaStore(tmp_path / "media", os.urandom(32), store)
    upload = tmp_path / "upload.video"
    upload.write_bytes(b"x" * 100)
    job = _job()
    stored = media.store(job.id, upload)
    store.create_job(dataclasses.replace(job, wrapped_key=stored.wrapped_key), None)
    assert store.claim_job("w1", 30.0, 3) is not None
    assert store.finish_job(job.id, "w1", JobStatus.SUCCEEDED, expires_at=time.time() + 60)
    assert not media.has(job.id)
