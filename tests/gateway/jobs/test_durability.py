"""Jobs survive a killed gateway, media is encrypted at rest, and both stores run the API."""

from __future__ import annotations

import base64
import json
import os
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from gateway.jobs.crypto import MediaDecryptionError
from gateway.jobs.media import MediaStore
from gateway.jobs.sqlite_store import SqliteJobStore
from stack.processes import ManagedProcess
from tests.conftest import MODEL_NAME, REPO, start_gateway
from tests.pg_cluster import new_pg_database
from tests.videos import write_clip

from .helpers import KEY_A, Jobs, comparable

pytestmark = pytest.mark.slow


def _wait_in_flight(gw, count: int, timeout_s: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    """Wait until ``count`` videos hold a processing slot (the gateway's own gauge)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with gw.client() as client:
            text = client.get("/metrics").text
        if f"gateway_videos_in_flight {float(count)}" in text:
            return
        time.sleep(0.05)
    raise AssertionError(f"never {count} videos in flight")


def _finished(log: Path) -> Counter[str]:
    """How many times each job was recorded as finished, over every gateway run."""
    counts: Counter[str] = Counter()
    for line in log.read_text(errors="replace").splitlines():
        if '"job finished"' in line:
            entry = json.loads(line)
            counts[entry["job_id"]] += 1
    return counts


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Long enough to decode that the first job is still running when the gateway dies.

    Only read, so both stores' runs share it (encoding it takes seconds).
    """
    return write_clip(
        tmp_path_factory.mktemp("durability") / "long.mp4",
        width=640, height=480, frames=600, fps=30, gop=15,
    )  # fmt: skip


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sigkill_loses_no_job_and_runs_none_twice(
    backend: str, serving, long_clip: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    env = {
        "GATEWAY_API_KEYS": KEY_A,
        "GATEWAY_JOB_WORKERS": "1",
        "GATEWAY_JOB_LEASE_S": "3",
        "GATEWAY_JOB_POLL_S": "0.1",
    }
    if backend == "postgresql":
        env["GATEWAY_JOB_STORE"] = new_pg_database(request.getfixturevalue("postgres_url"))
        env["GATEWAY_JOB_KEK"] = base64.b64encode(os.urandom(32)).decode()
    var = tmp_path / "var"
    clip = long_clip
    gateway = start_gateway(var, serving.target, env)
    jobs = Jobs(gateway)
    try:
        ids = [jobs.submit(clip, frames=256).json()["id"] for _ in range(4)]
        # Kill as soon as one job runs while others wait (one worker: they run in turn).
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            states = {j["id"]: j["status"] for j in jobs.call("GET", "/v1/jobs").json()["jobs"]}
            if "running" in states.values() and "queued" in states.values():
                break
            time.sleep(0.05)
        gateway.process.stop(sig=signal.SIGKILL)
        running = {job_id for job_id, state in states.items() if state == "running"}
        assert running and "queued" in states.values(), states
    finally:
        gateway.process.stop()
    # What the killed gateway finished before it died (read before the restart appends).
    finished_first = _finished(var / "gateway.log")
    gateway = start_gateway(var, serving.target, env)
    try:
        jobs = Jobs(gateway)
        ended = {job_id: jobs.wait(job_id, timeout_s=240) for job_id in ids}
        assert [j["status"] for j in ended.values()] == ["succeeded"] * 4
        for job_id, job in ended.items():
            # A job its dead worker held is claimed again once the lease expires.
            reclaimed = job_id in running and job_id not in finished_first
            assert job["attempts"] == (2 if reclaimed else 1), (job_id, job["attempts"])
        assert any(job_id not in finished_first for job_id in running)
        results = {json.dumps(comparable(j["result"]), sort_keys=True) for j in ended.values()}
        assert len(results) == 1  # the same clip, the same answer
    finally:
        gateway.process.stop()
    assert _finished(var / "gateway.log") == {job_id: 1 for job_id in ids}
    assert list((var / "jobs" / "media").glob("*.enc")) == []
    if backend == "postgresql":  # the store holds the media, and removed it with each end
        with psycopg.connect(env["GATEWAY_JOB_STORE"]) as conn:
            assert conn.execute("SELECT COUNT(*) FROM job_media").fetchone() == (0,)


def test_media_is_encrypted_at_rest_and_gone_after_the_job(
    serving, tmp_path: Path, make_clip
) -> None:
    kek = os.urandom(32)
    env = {
        "GATEWAY_API_KEYS": KEY_A,
        "GATEWAY_JOB_WORKERS": "0",  # nothing runs until the worker process below starts
        "GATEWAY_JOB_KEK": base64.b64encode(kek).decode(),
        "GATEWAY_JOB_POLL_S": "0.1",
    }
    var = tmp_path / "var"
    clip = make_clip(frames=30)
    plain = clip.read_bytes()
    gateway = start_gateway(var, serving.target, env)
    worker = None
    try:
        jobs = Jobs(gateway)
        job_id = jobs.submit(clip, frames=4).json()["id"]
        doomed = jobs.submit(clip, frames=4).json()["id"]
        media = var / "jobs" / "media"
        stored = (media / f"{job_id}.enc").read_bytes()
        assert len(stored) > len(plain)
        for offset in range(0, len(plain) - 32, max(1, len(plain) // 50)):
            assert plain[offset : offset + 32] not in stored
        assert not list((var / "uploads").glob("*")), "plaintext upload left behind"

        store = SqliteJobStore(var / "jobs" / "jobs.sqlite3")
        try:
            row = store.get_job(job_id)
            assert row is not None and row.wrapped_key is not None
            decrypted = MediaStore(media, kek).decrypt_to_temp(job_id, row.wrapped_key)
            assert decrypted.read_bytes() == plain
            decrypted.unlink()
            with pytest.raises(MediaDecryptionError):
                MediaStore(media, os.urandom(32)).decrypt_to_temp(job_id, row.wrapped_key)
        finally:
            store.close()

        canceled = jobs.call("POST", f"/v1/jobs/{doomed}/cancel")
        assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
        assert not (media / f"{doomed}.enc").exists()
        again = jobs.call("POST", f"/v1/jobs/{doomed}/cancel")
        assert again.status_code == 200

        worker = ManagedProcess(
            "worker",
            [sys.executable, "-m", "gateway", "worker"],
            env={
                "GATEWAY_VAR_DIR": str(var),
                "SERVING_TARGET": serving.target,
                "MODEL_NAME": MODEL_NAME,
                **env,
            },
            log_path=tmp_path / "worker.log",
            cwd=REPO,
        )
        done = jobs.wait(job_id, timeout_s=120)
        assert done["status"] == "succeeded", worker.log_tail()
        assert '"job finished"' in (tmp_path / "worker.log").read_text()
        assert not (media / f"{job_id}.enc").exists()
        assert list((media / "work").iterdir()) == []
        done_again = jobs.call("POST", f"/v1/jobs/{job_id}/cancel")
        assert done_again.status_code == 409
        assert jobs.call("DELETE", f"/v1/jobs/{job_id}").status_code == 204
        store = SqliteJobStore(var / "jobs" / "jobs.sqlite3")
        try:
            assert store.get_job(job_id) is None  # the wrapped key went with it
        finally:
            store.close()
    finally:
        if worker is not None:
            assert worker.stop() == 0, worker.log_tail()
        gateway.process.stop()


def test_postgresql_store_runs_jobs_and_cancels(
    serving, tmp_path: Path, make_clip, postgres_url: str
) -> None:
    env = {
        "GATEWAY_API_KEYS": KEY_A,
        "GATEWAY_JOB_STORE": new_pg_database(postgres_url),
        "GATEWAY_JOB_KEK": base64.b64encode(os.urandom(32)).decode(),
        "GATEWAY_JOB_POLL_S": "0.1",
        "GATEWAY_MAX_IN_FLIGHT": "1",
        "GATEWAY_JOB_RETENTION": "20",
    }
    gateway = start_gateway(tmp_path / "var", serving.target, env)
    try:
        jobs = Jobs(gateway)
        clip = make_clip(frames=30)
        job_id = jobs.submit(clip, frames=6).json()["id"]
        done = jobs.wait(job_id)
        assert done["status"] == "succeeded"
        assert done["result"]["frames_analyzed"] == 6
        listed = jobs.call("GET", "/v1/jobs").json()["jobs"]
        assert [j["id"] for j in listed] == [job_id]
        # A long synchronous detection holds the only processing slot: the job is claimed
        # and waits for the slot (jobs share the admission limits), and is canceled there.
        long_clip = make_clip("long.mp4", width=640, height=480, frames=900, gop=10)
        holder = threading.Thread(
            target=jobs.submit, args=(long_clip,), kwargs={"path": "/v1/detect", "frames": 256}
        )
        holder.start()
        try:
            _wait_in_flight(gateway, 1)
            waiting_id = jobs.submit(clip, frames=6).json()["id"]
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                waiting = jobs.get(waiting_id).json()
                if waiting["progress"]["stage"] != "queued":
                    break
                time.sleep(0.05)
            assert waiting["status"] == "running" and waiting["progress"]["stage"] == "waiting"
            asked = jobs.call("POST", f"/v1/jobs/{waiting_id}/cancel")
            assert asked.status_code == 202
            ended = jobs.wait(waiting_id, timeout_s=30)
            assert ended["status"] == "canceled"
            assert ended["error"]["code"] == "canceled"
        finally:
            holder.join()
        time.sleep(0.2)
        assert not list((tmp_path / "var" / "jobs" / "media").glob("*.enc"))
        # Past GATEWAY_JOB_RETENTION an ended job keeps its record but not its result.
        expired = jobs.wait(job_id, timeout_s=30, until={"expired"})
        assert expired["result"] is None
        assert expired["expires_at"] == done["expires_at"]
    finally:
        gateway.process.stop()


def test_an_unreachable_job_database_gets_503_loses_nothing_and_recovers(
    serving, tmp_path: Path, make_clip, postgres_url: str
) -> None:
    url = new_pg_database(postgres_url)
    name = url.split("?", 1)[0].rsplit("/", 1)[1]
    env = {
        "GATEWAY_API_KEYS": KEY_A,
        "GATEWAY_JOB_STORE": url,
        "GATEWAY_JOB_KEK": base64.b64encode(os.urandom(32)).decode(),
        "GATEWAY_JOB_WORKERS": "0",  # only the requests below talk to the database
    }
    var = tmp_path / "var"
    gateway = start_gateway(var, serving.target, env)
    clip = make_clip(frames=10)
    try:
        jobs = Jobs(gateway)
        kept = jobs.submit(clip, frames=4)
        assert kept.status_code == 202, kept.text
        # A real outage: the database refuses new connections and drops the gateway's.
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
        try:
            for attempt in (
                jobs.submit(clip, frames=4),
                jobs.call("GET", "/v1/jobs"),
                jobs.get(kept.json()["id"]),
            ):
                assert attempt.status_code == 503, attempt.text
                error = attempt.json()["error"]
                assert error["code"] == "job_store_unavailable"
                assert "database" in error["message"]
                assert int(attempt.headers["retry-after"]) > 0
            assert list((var / "uploads").iterdir()) == [], "plaintext upload left behind"
            assert not list((var / "jobs" / "media").glob("*.enc"))
        finally:
            with psycopg.connect(postgres_url, autocommit=True) as admin:
                admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
        # Back: the refused submission was not half-recorded, the earlier job is intact.
        listed = jobs.call("GET", "/v1/jobs")
        assert listed.status_code == 200, listed.text
        assert [j["id"] for j in listed.json()["jobs"]] == [kept.json()["id"]]
        assert jobs.submit(clip, frames=4).status_code == 202
    finally:
        gateway.process.stop()
