"""The job store's contract, run against both backends (SQLite file, real PostgreSQL)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.errors import IdempotencyMismatch, RateLimited
from gateway.jobs.crypto import Keyring, new_data_key
from gateway.jobs.events import build_delivery
from gateway.jobs.models import DeliveryState, Job, JobStatus
from gateway.jobs.postgres_store import PostgresJobStore
from gateway.jobs.rekey import Rewrapped, rewrap_under_current
from gateway.jobs.sqlite_store import SqliteJobStore
from gateway.jobs.ssrf import CallbackPolicy
from gateway.jobs.store import JobStore
from gateway.jobs.webhooks import Deliverer, seal_secret, unseal_secret
from tests.pg_cluster import new_pg_database


@pytest.fixture(params=["sqlite", "postgresql"])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator:
    """Opens stores on one database: ``store_factory()`` (several act as several processes)."""
    opened: list[JobStore] = []
    if request.param == "sqlite":
        path = tmp_path / "jobs.sqlite3"

        def make() -> JobStore:
            opened.append(SqliteJobStore(path))
            return opened[-1]
    else:
        url = new_pg_database(request.getfixturevalue("postgres_url"))

        def make() -> JobStore:
            opened.append(PostgresJobStore(url))
            return opened[-1]

    yield make
    for s in opened:
        s.close()


def _job(owner: str = "k1", **kwargs: object) -> Job:
    now = time.time()
    fields: dict = {
        "id": uuid.uuid4().hex,
        "owner": owner,
        "status": JobStatus.QUEUED,
        "created_at": now,
        "updated_at": now,
        "expires_at": now + 60,
        "params": {"frames": 4},
        "input_size": 10,
        "input_sha256": "ab" * 32,
        "input_duration_s": 1.0,
        "wrapped_key": b"\x01" * 40,
        "callback_url": "https://example.com/hook",
        "metadata": {"a": "b"},
    }
    fields.update(kwargs)
    return Job(**fields)


def test_create_get_list_with_owner_isolation(store_factory) -> None:
    store = store_factory()
    jobs = [_job(created_at=1000.0 + i) for i in range(5)]
    for job in jobs:
        store.create_job(job, None)
    store.create_job(_job(owner="k2"), None)
    got = store.get_job(jobs[0].id, "k1")
    assert got is not None and got.wrapped_key == b"\x01" * 40 and got.metadata == {"a": "b"}
    assert store.get_job(jobs[0].id, "k2") is None
    page = store.list_jobs("k1", 3, None)
    assert [j.id for j in page] == [j.id for j in reversed(jobs)][:3]
    rest = store.list_jobs("k1", 3, (page[-1].created_at, page[-1].id))
    assert [j.id for j in rest] == [jobs[1].id, jobs[0].id]


def test_idempotency_replays_and_mismatches(store_factory) -> None:
    store = store_factory()
    first, replayed = store.create_job(_job(), ("key-1", "hash-a"))
    assert not replayed
    again, replayed = store.create_job(_job(), ("key-1", "hash-a"))
    assert replayed and again.id == first.id
    with pytest.raises(IdempotencyMismatch):
        store.create_job(_job(), ("key-1", "hash-b"))
    # Keys are per API key.
    _other, replayed = store.create_job(_job(owner="k2"), ("key-1", "hash-b"))
    assert not replayed
    assert store.purge_idempotency(time.time() + 1) == 2
    fresh, replayed = store.create_job(_job(), ("key-1", "hash-b"))
    assert not replayed and fresh.id != first.id


def test_claims_are_exclusive_across_connections(store_factory) -> None:
    setup = store_factory()
    ids = {setup.create_job(_job(), None)[0].id for _ in range(12)}
    workers = [store_factory() for _ in range(3)]
    claimed: list[str] = []
    lock = threading.Lock()

    def work(store: JobStore, name: str) -> None:
        while (job := store.claim_job(name, 30.0, 3)) is not None:
            with lock:
                claimed.append(job.id)

    threads = [threading.Thread(target=work, args=(w, f"w{i}")) for i, w in enumerate(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(ids)


def _sleep_past(wall_time: float) -> None:
    """Sleep until just after ``wall_time`` (``time.time()`` seconds)."""
    time.sleep(max(0.0, wall_time - time.time()) + 0.05)


def test_expired_leases_are_reclaimed_then_fail_after_the_retry_limit(store_factory) -> None:
    store = store_factory()
    job, _ = store.create_job(_job(), None)
    # Waits go by the leases' own expiry times (wall clock), not by fixed sleeps.
    first = store.claim_job("w1", 2.0, 2)
    assert first is not None and first.attempts == 1 and first.lease_expires is not None
    assert store.claim_job("w2", 2.0, 2) is None  # lease still held
    _sleep_past(first.lease_expires)
    assert not store.heartbeat(job.id, "w2", 1, {}).owned
    second = store.claim_job("w2", 0.5, 2)
    assert second is not None and second.id == job.id and second.attempts == 2
    assert second.lease_expires is not None
    # The first worker lost its lease: it can neither renew nor finish the job.
    assert not store.heartbeat(job.id, "w1", 1, {}).owned
    assert not store.finish_job(job.id, "w1", JobStatus.SUCCEEDED, expires_at=0)
    _sleep_past(second.lease_expires)
    assert store.claim_job("w3", 1.0, 2) is None
    assert store.fail_exhausted(time.time(), 2) == [job.id]
    failed = store.get_job(job.id)
    assert failed is not None and failed.status == JobStatus.FAILED
    assert failed.error is not None and failed.error["code"] == "worker_lost"
    # Its webhook was queued in the same transaction.
    [delivery] = store.list_deliveries(job.id)
    assert delivery.event == "job.failed"


def test_finish_records_the_result_and_the_delivery_atomically(store_factory) -> None:
    store = store_factory()
    job, _ = store.create_job(_job(), None)
    claimed = store.claim_job("w1", 30, 3)
    assert claimed is not None
    beat = store.heartbeat(job.id, "w1", 30, {"stage": "inference", "frames_done": 2})
    assert beat.owned and not beat.cancel_requested
    claimed.status, claimed.result = JobStatus.SUCCEEDED, {"verdict": "real", "score": 0.1}
    delivery = build_delivery(claimed, time.time())
    assert store.finish_job(
        job.id,
        "w1",
        JobStatus.SUCCEEDED,
        expires_at=time.time() - 1,
        result=claimed.result,
        model_version=1,
        delivery=delivery,
    )
    done = store.get_job(job.id)
    assert done is not None and done.status == JobStatus.SUCCEEDED and done.model_version == 1
    leased = store.claim_delivery(time.time(), 30)
    assert leased is not None and leased.id == delivery.id
    assert store.claim_delivery(time.time(), 30) is None  # leased
    leased.state, leased.attempts = DeliveryState.DELIVERED, 1
    assert store.update_delivery(leased)
    assert store.list_deliveries(job.id)[0].state == DeliveryState.DELIVERED
    assert store.expire_jobs(time.time()) == [job.id]
    expired = store.get_job(job.id)
    assert expired is not None and expired.status == JobStatus.EXPIRED
    assert expired.result is None and expired.wrapped_key is None


def test_cancel_and_delete(store_factory) -> None:
    store = store_factory()
    job, _ = store.create_job(_job(), ("k", "h"))
    store.claim_job("w1", 30, 3)
    assert store.request_cancel(job.id, "k2") is None
    assert store.request_cancel(job.id, "k1") is not None
    assert store.heartbeat(job.id, "w1", 30, {}).cancel_requested
    assert store.delete_job(job.id, "k2") is None
    assert store.delete_job(job.id, "k1") is not None
    assert store.get_job(job.id) is None
    assert not store.create_job(_job(), ("k", "h"))[1]  # the key went with the job


def test_webhook_secrets(store_factory) -> None:
    store = store_factory()
    assert store.get_secret("k1") is None
    store.set_secret("k1", b"one", 1.0)
    store.set_secret("k1", b"two", 2.0)
    assert store.get_secret("k1") == b"two"


def test_a_released_job_is_queued_again_without_spending_an_attempt(store_factory) -> None:
    store = store_factory()
    job, _ = store.create_job(_job(), None)
    assert store.claim_job("w1", 30, 3) is not None
    assert not store.release_job(job.id, "w2")
    assert store.release_job(job.id, "w1")
    again = store.claim_job("w2", 30, 3)
    assert again is not None and again.id == job.id and again.attempts == 1


def test_media_lives_in_a_postgresql_store_and_goes_with_the_job(
    store_factory, tmp_path: Path
) -> None:
    """Any host on a PostgreSQL store can decrypt a job's media; its end removes it."""
    from gateway.jobs import media as media_module
    from gateway.jobs.media import MediaStore

    kek = os.urandom(32)
    first, second = store_factory(), store_factory()
    # Over two pieces of stored ciphertext, and no piece of plaintext in any of them.
    plain = os.urandom(media_module.CHUNK_BYTES) + b"PLAINTEXT-MARKER" * 100
    upload = tmp_path / "upload.video"
    upload.write_bytes(plain)
    here = MediaStore(tmp_path / "host-a", kek, first)
    there = MediaStore(tmp_path / "host-b", kek, second)
    job = _job()
    stored = here.store(job.id, upload)
    first.create_job(dataclasses.replace(job, wrapped_key=stored.wrapped_key), None)
    if not first.holds_media:  # SQLite: a file under its own var dir
        assert here.path(job.id).exists() and not list((tmp_path / "host-a").glob("*.video"))
        return
    assert not here.path(job.id).exists()
    chunks = []
    while (chunk := first.media_chunk(job.id, len(chunks))) is not None:
        chunks.append(chunk)
    assert len(chunks) == 2 and all(b"PLAINTEXT-MARKER" not in c for c in chunks)
    copy = there.decrypt_to_temp(job.id, stored.wrapped_key)
    assert copy.read_bytes() == plain and copy.parent == there.work_dir
    claimed = second.claim_job("w-b", 30.0, 3)
    assert claimed is not None and claimed.id == job.id
    # A copy of a running job is kept; once the job ended elsewhere it is swept.
    assert there.sweep_work(lambda _job_id: True) == 0 and copy.exists()
    assert second.finish_job(job.id, "w-b", JobStatus.SUCCEEDED, expires_at=time.time() + 60)
    assert first.media_chunk(job.id, 0) is None  # in the transaction that ended the job
    assert there.sweep_work(lambda _job_id: False) == 1 and not copy.exists()
    # Media whose job was never committed (its submitter died) is purged once old.
    orphan = _job()
    here.store(orphan.id, upload)
    assert first.purge_orphan_media(time.time() - 60) == 0
    assert first.purge_orphan_media(time.time() + 1) == 2
    assert first.media_chunk(orphan.id, 0) is None


def test_an_attempt_that_outlived_its_lease_does_not_overwrite_the_next_claim(
    store_factory,
) -> None:
    """Two deliverers (replicas) on one delivery: only the current claim records."""
    first, second = store_factory(), store_factory()
    job, _ = first.create_job(_job(), None)
    first.add_delivery(build_delivery(job, time.time()))
    slow = first.claim_delivery(time.time(), 0.2)
    assert slow is not None
    time.sleep(0.3)  # the slow deliverer's POST is still waiting for an answer
    fast = second.claim_delivery(time.time(), 30)
    assert fast is not None and fast.message_id == slow.message_id
    fast.state, fast.attempts = DeliveryState.DELIVERED, 1
    assert second.update_delivery(fast)
    slow.state, slow.attempts, slow.last_error = DeliveryState.PENDING, 1, "ReadTimeout"
    assert not first.update_delivery(slow)
    (kept,) = first.list_deliveries(job.id)
    assert (kept.state, kept.attempts, kept.last_error) == (DeliveryState.DELIVERED, 1, None)
    assert first.claim_delivery(time.time() + 3600, 30) is None  # never sent a third time


def test_an_owner_over_its_active_jobs_cap_is_refused_until_one_ends(store_factory) -> None:
    store = store_factory()
    first, _ = store.create_job(_job(), ("key-1", "hash-a"), max_active=2)
    store.create_job(_job(), None, max_active=2)
    with pytest.raises(RateLimited, match="2 queued or running jobs") as refused:
        store.create_job(_job(), None, max_active=2)
    assert refused.value.retry_after_s > 0
    # A replay names the earlier job: never refused. Other owners have caps of their own.
    again, replayed = store.create_job(_job(), ("key-1", "hash-a"), max_active=2)
    assert replayed and again.id == first.id
    store.create_job(_job(owner="k2"), None, max_active=2)
    # Running jobs count; an ended one frees its place.
    claimed = store.claim_job("w1", 30, 3)
    assert claimed is not None
    with pytest.raises(RateLimited):
        store.create_job(_job(), None, max_active=2)
    assert store.finish_job(claimed.id, "w1", JobStatus.SUCCEEDED, expires_at=time.time() + 60)
    store.create_job(_job(), None, max_active=2)
    assert store.count_by_status()["queued"] == 3  # the refused ones left nothing


def test_concurrent_creations_never_pass_the_cap(store_factory) -> None:
    # Several processes (stores) creating one owner's jobs at once count one after another.
    stores = [store_factory() for _ in range(4)]
    outcomes: list[str] = []

    def create(store: JobStore) -> None:
        for _ in range(3):
            try:
                store.create_job(_job(), None, max_active=5)
                outcomes.append("created")
            except RateLimited:
                outcomes.append("refused")

    threads = [threading.Thread(target=create, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("created") == 5 and outcomes.count("refused") == 7


def test_a_kek_rotation_rewraps_job_keys_and_reseals_secrets(store_factory) -> None:
    store = store_factory()
    old, new, gone = (os.urandom(32) for _ in range(3))
    data_key = new_data_key()
    jobs = {
        "old": _job(wrapped_key=Keyring(old).wrap(data_key)),
        "new": _job(wrapped_key=Keyring(new).wrap(data_key)),
        "gone": _job(wrapped_key=Keyring(gone).wrap(data_key)),
        "url": _job(wrapped_key=None),  # a media URL job: no key until fetched
    }
    for job in jobs.values():
        store.create_job(job, None)
    store.set_secret("k1", seal_secret(Keyring(old), "k1", "whsec_one"), 1.0)
    store.set_secret("k2", seal_secret(Keyring(new), "k2", "whsec_two"), 1.0)

    ring = Keyring(new, (old,))
    assert rewrap_under_current(store, ring) == Rewrapped(job_keys=1, secrets=1, unreadable=1)
    only_new = Keyring(new)
    moved = store.get_job(jobs["old"].id)
    assert moved is not None and moved.wrapped_key is not None
    assert only_new.unwrap(moved.wrapped_key) == data_key
    assert unseal_secret(only_new, "k1", store.get_secret("k1") or b"") == "whsec_one"
    assert store.get_secret("k2") is not None
    assert unseal_secret(only_new, "k2", store.get_secret("k2") or b"") == "whsec_two"
    # What was already current, and what no KEK opens, is left as it was.
    for name in ("new", "gone"):
        kept = store.get_job(jobs[name].id)
        assert kept is not None and kept.wrapped_key == jobs[name].wrapped_key
    assert rewrap_under_current(store, ring) == Rewrapped(job_keys=0, secrets=0, unreadable=1)
    # Compare-and-set: a row changed since it was read is not overwritten.
    current_secret = store.get_secret("k1")
    assert not store.replace_secret("k1", b"what was read", b"stale")
    assert store.get_secret("k1") == current_secret
    assert not store.replace_wrapped_key(jobs["old"].id, b"what was read", b"stale")
    assert store.get_job(jobs["old"].id).wrapped_key == moved.wrapped_key  # type: ignore[union-attr]


def test_a_webhook_whose_secret_no_kek_opens_is_a_failed_attempt(store_factory) -> None:
    store = store_factory()
    job = _job()
    store.create_job(job, None)
    store.set_secret("k1", seal_secret(Keyring(os.urandom(32)), "k1", "whsec_lost"), 1.0)
    store.add_delivery(build_delivery(job, time.time()))
    claimed = store.claim_delivery(time.time(), 30.0)
    assert claimed is not None
    deliverer = Deliverer(
        store,
        Keyring(os.urandom(32)),
        CallbackPolicy(),
        ca_file=None,
        timeout_s=1.0,
        max_attempts=2,
        retry_base_s=0.01,
        poll_s=0.01,
    )
    asyncio.run(deliverer.attempt(claimed))
    [recorded] = store.list_deliveries(job.id)
    # Recorded as an attempt that backs off (not an error that leaves it claimed, unsent).
    assert recorded.state == DeliveryState.PENDING and recorded.attempts == 1
    assert recorded.last_status is None
    assert "does not decrypt" in (recorded.last_error or "")
    again = store.claim_delivery(time.time() + 1, 30.0)
    assert again is not None
    asyncio.run(deliverer.attempt(again))
    [ended] = store.list_deliveries(job.id)
    assert ended.state == DeliveryState.FAILED and ended.attempts == 2
