"""Faults while jobs run, produced for real: the KEK rotated with jobs queued, PostgreSQL
stopped and started under running jobs and a webhook in flight, a worker's disk full.

Each ends with every job succeeded or failed with a code, none lost, none run twice (the
gateway's own "job started" / "job finished" log lines, over every run of it), and each
job's event received once per ``webhook-id`` (a receiver deduplicates on it; a repeat
under the same id is allowed, two ids for one event are not).

The disk filling while a job's media is stored at submission is covered by
tests/gateway/test_faults.py (``test_full_disk_while_a_job_is_stored_gets_507_and_leaves_nothing``,
a real tmpfs); here, the disk is full when a worker writes the job's decrypted copy.
"""

from __future__ import annotations

import base64
import json
import os
import signal
from collections import Counter
from pathlib import Path

import httpx
import pytest
from standardwebhooks import Webhook

from tests.conftest import (
    MODEL_NAME,
    GatewayHandle,
    start_gateway,
    start_serving,
    wait_for,
)
from tests.gateway.disks import fill, small_disk
from tests.pg_cluster import PrivateCluster, new_pg_database

from .helpers import ENDED, KEY_A, Jobs
from .webhook_receiver import Received, Receiver

pytestmark = pytest.mark.slow


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def _webhook_env(receiver: Receiver) -> dict[str, str]:
    """Callbacks may reach the loopback receiver, and failed attempts retry quickly."""
    return {
        "GATEWAY_API_KEYS": KEY_A,
        "GATEWAY_JOB_POLL_S": "0.1",
        "GATEWAY_WEBHOOK_ALLOW_LOOPBACK": "true",
        "GATEWAY_WEBHOOK_PORTS": str(receiver.port),
        "GATEWAY_WEBHOOK_CA_FILE": str(receiver.ca_file),
        "GATEWAY_WEBHOOK_RETRY_BASE_S": "0.3",
    }


def _log(var: Path) -> list[dict]:
    """The gateway's JSON log lines, over every run on ``var`` (other lines skipped)."""
    entries = []
    for line in (var / "gateway.log").read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


def _count(var: Path, message: str) -> Counter[str]:
    """How many times each job was logged with ``message``."""
    return Counter(e["job_id"] for e in _log(var) if e.get("msg") == message)


def _ended(jobs: Jobs, ids: list[str]) -> dict[str, dict] | None:
    """Every job in ``ids`` once all have ended, else None (also while the store is away:
    the gateway answers 503 then)."""
    try:
        found = {job_id: jobs.get(job_id) for job_id in ids}
    except httpx.HTTPError:
        return None
    if any(r.status_code != 200 for r in found.values()):
        return None
    bodies = {job_id: r.json() for job_id, r in found.items()}
    return bodies if all(b["status"] in ENDED for b in bodies.values()) else None


def _wait_ended(jobs: Jobs, ids: list[str], timeout_s: float = 60.0) -> dict[str, dict]:
    done: dict[str, dict] = {}

    def check() -> bool:
        bodies = _ended(jobs, ids)
        if bodies is not None:
            done.update(bodies)
        return bodies is not None

    wait_for(check, f"jobs {ids} ended", timeout_s)
    return done


def _by_webhook_id(received: list[Received], secret: str) -> dict[str, set[tuple[str, str]]]:
    """The (job, event) pairs each ``webhook-id`` announced, every signature checked."""
    found: dict[str, set[tuple[str, str]]] = {}
    for hook in received:
        body = Webhook(secret).verify(hook.body, hook.headers)
        found.setdefault(hook.headers["webhook-id"], set()).add((body["data"]["id"], body["type"]))
    return found


def _assert_once_per_event(
    received: list[Received], secret: str, events: dict[str, str]
) -> dict[str, dict]:
    """Each job of ``events`` announced its event under exactly one webhook-id, and no
    webhook-id announced anything else. The bodies, by job."""
    by_id = _by_webhook_id(received, secret)
    assert all(len(pairs) == 1 for pairs in by_id.values()), by_id
    announced = Counter(pair for pairs in by_id.values() for pair in pairs)
    assert announced == Counter(events.items()), announced
    bodies = {}
    for hook in received:
        body = json.loads(hook.body)
        bodies[body["data"]["id"]] = body
    return bodies


def test_kek_rotation_keeps_queued_jobs_and_a_dropped_kek_fails_them_with_a_code(
    serving, receiver: Receiver, make_clip, tmp_path: Path
) -> None:
    old, new = os.urandom(32), os.urandom(32)
    var = tmp_path / "var"
    clip = make_clip(frames=10)
    receiver.reset()
    base = _webhook_env(receiver)

    def gateway(kek: bytes, *, previous: bytes | None = None, workers: int) -> GatewayHandle:
        env = {**base, "GATEWAY_JOB_KEK": _b64(kek), "GATEWAY_JOB_WORKERS": str(workers)}
        if previous is not None:
            env["GATEWAY_JOB_KEK_PREVIOUS"] = _b64(previous)
        return start_gateway(var, serving.target, env)

    def submit(jobs: Jobs, count: int) -> list[str]:
        answers = [jobs.submit(clip, frames=4, callback_url=receiver.url) for _ in range(count)]
        assert all(a.status_code == 202 for a in answers), [a.text for a in answers]
        return [a.json()["id"] for a in answers]

    # Queued under the old KEK, with a webhook secret sealed under it; nothing runs yet.
    gw = gateway(old, workers=0)
    try:
        secret = Jobs(gw).webhook_secret()
        queued = submit(Jobs(gw), 3)
    finally:
        gw.process.stop()

    # The new KEK, the old one as previous: every queued job runs, once, and is announced.
    gw = gateway(new, previous=old, workers=2)
    try:
        ended = _wait_ended(Jobs(gw), queued)
        assert {j["status"] for j in ended.values()} == {"succeeded"}, ended
        received = receiver.wait_for(3)
    finally:
        gw.process.stop()
    _assert_once_per_event(received, secret, {job_id: "job.succeeded" for job_id in queued})
    # The start with the previous KEK moved every queued job's key and the secret under
    # the new one.
    [rewrapped] = [e for e in _log(var) if e.get("msg") == "re-wrapped under the current KEK"]
    counts = {k: rewrapped[k] for k in ("job_keys", "webhook_secrets", "unreadable")}
    assert counts == {"job_keys": 3, "webhook_secrets": 1, "unreadable": 0}

    # Queued again under the old KEK alone; then the old KEK is dropped before they run.
    gw = gateway(old, workers=0)
    try:
        stale = submit(Jobs(gw), 2)
    finally:
        gw.process.stop()
    receiver.reset()
    gw = gateway(new, workers=2)
    try:
        jobs = Jobs(gw)
        ended = _wait_ended(jobs, stale)
        for job in ended.values():
            assert job["status"] == "failed", job
            assert job["error"]["code"] == "media_undecryptable", job
            assert "GATEWAY_JOB_KEK_PREVIOUS" in job["error"]["message"]
        # The gateway is unharmed: a job queued now, under the new KEK, runs.
        [fresh] = submit(jobs, 1)
        assert _wait_ended(jobs, [fresh])[fresh]["status"] == "succeeded"
        received = receiver.wait_for(3)
    finally:
        gw.process.stop()
    # The secret was sealed again under the new KEK at the rotation: still signed with it.
    bodies = _assert_once_per_event(
        received, secret, {**{j: "job.failed" for j in stale}, fresh: "job.succeeded"}
    )
    assert {bodies[j]["data"]["error"]["code"] for j in stale} == {"media_undecryptable"}

    every = [*queued, *stale, fresh]
    assert _count(var, "job started") == {job_id: 1 for job_id in every}
    assert _count(var, "job finished") == {job_id: 1 for job_id in every}
    assert _count(var, "job media does not decrypt") == {job_id: 1 for job_id in stale}
    assert not [e for e in _log(var) if e.get("msg") == "job failed unexpectedly"]


def test_postgresql_stopped_and_started_under_running_jobs_and_a_webhook_in_flight(
    model_base: Path, receiver: Receiver, own_postgres: PrivateCluster, make_clip, tmp_path: Path
) -> None:
    # A Serving of the test's own, paused (SIGSTOP) to hold jobs mid-detection.
    serving = start_serving(model_base / MODEL_NAME, tmp_path / "serving.log")
    var = tmp_path / "var"
    env = {
        **_webhook_env(receiver),
        "GATEWAY_JOB_STORE": new_pg_database(own_postgres.url),
        "GATEWAY_JOB_KEK": _b64(os.urandom(32)),
        # Three claimed jobs for two processing slots: one of them waits for a slot.
        "GATEWAY_JOB_WORKERS": "3",
        "GATEWAY_MAX_IN_FLIGHT": "2",
        # Longer than the pauses below: held calls get their answers.
        "GATEWAY_WEBHOOK_TIMEOUT_S": "30",
        "SERVING_TIMEOUT_S": "110",
    }
    clip = make_clip(frames=30)
    receiver.reset()
    receiver.answering.clear()
    gw = start_gateway(var, serving.target, env)
    try:
        jobs = Jobs(gw)
        secret = jobs.webhook_secret()

        def submit() -> str:
            answer = jobs.submit(clip, frames=8, callback_url=receiver.url)
            assert answer.status_code == 202, answer.text
            return answer.json()["id"]

        # The first job's webhook is held in flight at the receiver.
        ids = [submit()]
        wait_for(lambda: len(receiver.received) == 1, "the first webhook in flight")
        os.kill(serving.process.pid, signal.SIGSTOP)
        ids += [submit() for _ in range(4)]
        stages: dict[str, str] = {}

        def held() -> bool:
            # Two jobs past decryption, stuck on Serving; one waiting for a slot; one queued.
            listed = jobs.call("GET", "/v1/jobs").json()["jobs"]
            stages.clear()
            stages.update({j["id"]: j["progress"]["stage"] for j in listed})
            running = Counter(
                j["progress"]["stage"] in ("waiting", "decrypt")
                for j in listed
                if j["status"] == "running"
            )
            queued = [j for j in listed if j["status"] == "queued"]
            return running == {False: 2, True: 1} and len(queued) == 1

        wait_for(held, "two jobs mid-detection, one waiting for a slot, one queued")
        [waiting] = [job_id for job_id, stage in stages.items() if stage == "waiting"]
        own_postgres.stop("fast")
        try:
            # While the database is down: the receiver answers, the two detections end
            # (their slots go to the waiting job, whose media is in the database).
            receiver.answering.set()
            os.kill(serving.process.pid, signal.SIGCONT)

            def outage_seen() -> bool:
                during = [
                    e.get("during")
                    for e in _log(var)
                    if e.get("msg") == "job store unavailable; retrying"
                ]
                return Counter(during) >= Counter(
                    {"record delivery": 1, "finish job": 2, "release job": 1}
                )

            wait_for(outage_seen, "a delivery, two jobs' ends and a run met the outage")
        finally:
            os.kill(serving.process.pid, signal.SIGCONT)
            own_postgres.start()

        ended = _wait_ended(jobs, ids)
        assert {j["status"] for j in ended.values()} == {"succeeded"}, ended
        # None lost: the listing holds every submitted job, and nothing else.
        listed = jobs.call("GET", "/v1/jobs").json()["jobs"]
        assert sorted(j["id"] for j in listed) == sorted(ids)

        def delivered() -> bool:
            answers = [jobs.call("GET", f"/v1/jobs/{job_id}/deliveries") for job_id in ids]
            if any(a.status_code != 200 for a in answers):
                return False
            states = [[d["state"] for d in a.json()["deliveries"]] for a in answers]
            assert all(len(s) == 1 for s in states), states  # one delivery per job's end
            return all(s == ["delivered"] for s in states)

        wait_for(delivered, "every job's webhook recorded delivered")
        received = list(receiver.received)
    finally:
        receiver.answering.set()
        gw.process.stop()
        serving.process.stop()

    _assert_once_per_event(received, secret, {job_id: "job.succeeded" for job_id in ids})
    # Run once: only the job whose run could not read its media started again, after
    # that run was given back to the queue (no attempt spent).
    assert _count(var, "job released: the job store was unavailable") == {waiting: 1}
    assert _count(var, "job started") == {job_id: 1 + (job_id == waiting) for job_id in ids}
    assert _count(var, "job finished") == {job_id: 1 for job_id in ids}
    assert ended[waiting]["attempts"] == 1
    failures = {"running a job failed", "job failed unexpectedly", "delivery attempt failed"}
    assert not [e for e in _log(var) if e.get("msg") in failures]
    assert "database system is shut down" in own_postgres.log_text()


def test_a_full_disk_under_a_workers_decrypted_copy_fails_the_job_with_insufficient_storage(
    serving, make_clip, tmp_path: Path
) -> None:
    var = tmp_path / "var"
    work = var / "jobs" / "media" / "work"  # where a worker decrypts a job's media to decode
    clip = make_clip(frames=10)
    env = {"GATEWAY_API_KEYS": KEY_A, "GATEWAY_JOB_WORKERS": "1", "GATEWAY_JOB_POLL_S": "0.1"}
    with small_disk(work):
        gw = start_gateway(var, serving.target, env)
        try:
            filler = fill(work / "filler.bin")
            jobs = Jobs(gw)
            job_id = jobs.submit(clip, frames=4).json()["id"]
            job = _wait_ended(jobs, [job_id])[job_id]
            assert job["status"] == "failed", job
            assert job["error"]["code"] == "insufficient_storage", job
            assert list(work.iterdir()) == [filler]  # no partial plaintext copy left
            # Removed just after the job's end is recorded.
            media = var / "jobs" / "media" / f"{job_id}.enc"
            wait_for(lambda: not media.exists(), "the failed job's media removed")
            filler.unlink()
            again = jobs.submit(clip, frames=4).json()["id"]
            assert _wait_ended(jobs, [again])[again]["status"] == "succeeded"
        finally:
            gw.process.stop()
    assert _count(var, "job finished") == {job_id: 1, again: 1}
    assert not [e for e in _log(var) if e.get("msg") == "job failed unexpectedly"]
