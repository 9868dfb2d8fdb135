"""Two gateway replicas on one PostgreSQL job store: a SIGKILLed replica loses no job.

Real processes throughout: one PostgreSQL cluster, two local Serving processes, two
gateways with in-process workers and a webhook receiver. Both gateways reach both Servings
through one round-robin ``SERVING_TARGET`` (as every gateway pod reaches every Serving pod
through one Service), so killing a gateway takes no Serving with it and the survivor keeps
its full inference capacity.

Clients submit to both gateways, one gateway is killed while it holds a job mid-decode,
and the survivor takes that job over once its lease expires. The store's tables prove the
rest: one terminal transition and one result per job (the webhook delivery row is written
in the transaction that ends the job), no media left, one webhook message per job, recorded
delivered once; the receiver may see a message twice only if the killed gateway was
sending it, under the same webhook-id, which is what it deduplicates on.

One test in one module: the five processes are expensive to start, so every check is made
on the one scenario they play.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest
from standardwebhooks import Webhook

from tests.conftest import (
    MODEL_NAME,
    GatewayHandle,
    ServingHandle,
    launch_gateway,
    launch_serving,
)
from tests.gateway.jobs.helpers import KEY_A, Jobs
from tests.gateway.jobs.webhook_receiver import start_receiver
from tests.pg_cluster import new_pg_database
from tests.videos import write_clip

pytestmark = pytest.mark.slow

LEASE_S = 2.0
FRAMES = 48
#: TF Serving's batching as a GPU host runs it: a batch waits up to 250 ms to fill. The
#: gateway's batches of 16 frames never fill 64, so each of a job's three Predict calls
#: takes its timeout: a job runs about a second, long enough to be caught mid-run.
BATCHING = """
max_batch_size { value: 64 }
batch_timeout_micros { value: 250000 }
max_enqueued_batches { value: 16 }
num_batch_threads { value: 2 }
"""


def _rows(db: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def _log_entries(log: Path, message: str) -> list[dict]:
    entries = []
    for line in log.read_text(errors="replace").splitlines():
        if f'"msg": "{message}"' in line:
            entries.append(json.loads(line))
    return entries


def _worker_of(gw: GatewayHandle) -> str:
    """The part of a worker id (``host-pid-random``) that names the gateway's process."""
    return f"-{gw.process.pid}-"


class _Readiness(threading.Thread):
    """Polls a gateway's /readyz until stopped; every answer's status is kept."""

    def __init__(self, gw: GatewayHandle) -> None:
        super().__init__(daemon=True)
        self.gw, self.codes = gw, Counter[int]()
        self.halt = threading.Event()

    def run(self) -> None:
        with self.gw.client() as client:
            while not self.halt.is_set():
                try:
                    self.codes[client.get("/readyz").status_code] += 1
                except httpx.HTTPError:  # a refused connection counts as not ready
                    self.codes[0] += 1
                self.halt.wait(0.2)


def test_a_killed_replica_loses_no_job_and_none_ends_twice(
    model_base: Path, postgres_url: str, tmp_path: Path
) -> None:
    db = new_pg_database(postgres_url)
    receiver, hook_server = start_receiver(tmp_path / "receiver")
    clip = write_clip(tmp_path / "clip.mp4", width=320, height=240, frames=60, fps=30, gop=10)
    batching = tmp_path / "batching.config"
    batching.write_text(BATCHING)
    env = {
        "GATEWAY_API_KEYS": KEY_A,
        "GATEWAY_JOB_STORE": db,
        "GATEWAY_JOB_KEK": base64.b64encode(os.urandom(32)).decode(),
        "GATEWAY_JOB_WORKERS": "1",
        "GATEWAY_JOB_LEASE_S": str(LEASE_S),
        "GATEWAY_JOB_POLL_S": "0.1",
        "GATEWAY_WEBHOOK_ALLOW_LOOPBACK": "true",
        "GATEWAY_WEBHOOK_PORTS": str(receiver.port),
        "GATEWAY_WEBHOOK_CA_FILE": str(receiver.ca_file),
        "GATEWAY_WEBHOOK_RETRY_BASE_S": "0.3",
        # A delivery the killed gateway had claimed waits out 3 x this lease before another
        # gateway sends it.
        "GATEWAY_WEBHOOK_TIMEOUT_S": "2",
    }
    servings: list[ServingHandle] = []
    gateways: list[GatewayHandle] = []
    try:
        # All launched side by side from this thread (children die with the thread that
        # made them); a gateway starts without Serving, and is ready once Serving is.
        flags = ("--enable_batching", f"--batching_parameters_file={batching}")
        servings += [
            launch_serving(model_base / MODEL_NAME, tmp_path / f"serving{i}.log", flags)
            for i in range(2)
        ]
        target = ",".join(s.target for s in servings)
        gateways += [launch_gateway(tmp_path / f"gw{i}", target, env) for i in range(2)]
        for handle in servings:
            handle.wait_ready()
        for gw in gateways:
            gw.wait_ready()
        survivor, victim = gateways
        readiness = _Readiness(survivor)
        readiness.start()
        # The secret is created through one replica and signs what the other delivers.
        secret = Jobs(survivor).webhook_secret()

        def submit(gw: GatewayHandle, key: str | None = None) -> dict:
            headers = {"Idempotency-Key": key} if key else {}
            response = Jobs(gw).submit(
                clip, headers=headers, frames=FRAMES, callback_url=receiver.url
            )
            assert response.status_code == 202, response.text
            return {
                "id": response.json()["id"],
                "replayed": response.headers.get("idempotent-replayed"),
            }

        with ThreadPoolExecutor(4) as pool:
            # One key sent to both replicas at once, one key sent twice to one replica.
            shared = list(pool.map(lambda gw: submit(gw, "shared-key"), gateways))
            solo = [submit(victim, "solo-key") for _ in range(2)]
            plain = list(pool.map(submit, [survivor, victim] * 4))
        assert shared[0]["id"] == shared[1]["id"]
        assert sorted(str(s["replayed"]) for s in shared) == ["None", "true"]
        assert solo[0]["id"] == solo[1]["id"] and solo[1]["replayed"] == "true"
        ids = {shared[0]["id"], solo[0]["id"], *(p["id"] for p in plain)}
        assert len(ids) == 10

        # Kill the victim just after it decrypted a job's media (its private copy is whole
        # and a few milliseconds old): the job's frames are being decoded and scored.
        work = victim.var_dir / "jobs" / "media" / "work"
        size = clip.stat().st_size
        deadline = time.monotonic() + 60
        held: set[str] = set()
        while time.monotonic() < deadline and not held:
            now = time.time()
            for copy in work.glob("*.video"):
                try:
                    fresh = copy.stat().st_size == size and now - copy.stat().st_mtime < 0.2
                except FileNotFoundError:
                    continue
                if fresh:
                    held.add(copy.name.split("-")[0])
            time.sleep(0.005)
        assert held, "the victim never started a job after the submissions"
        victim.process.stop(sig=signal.SIGKILL)
        killed_at = time.time()
        # Deliveries leased at the kill: the dead gateway may have been sending one of them.
        in_flight = {
            job_id
            for (job_id,) in _rows(
                db,
                "SELECT job_id FROM deliveries WHERE state = 'pending' "
                "AND lease_expires IS NOT NULL",
            )
        }
        # Read after the kill: the dead worker held the job, mid-run, and its last lease.
        at_kill = _rows(
            db,
            "SELECT id, status, lease_owner, lease_expires FROM jobs WHERE id = ANY(%s)",
            (list(held),),
        )
        assert all(
            status == "running" and _worker_of(victim) in owner for _, status, owner, _ in at_kill
        ), at_kill
        leases = {job_id: expires for job_id, _, _, expires in at_kill}
        # What the dead process left: the plaintext copy of the job it was decoding.
        leftovers = list(work.iterdir())
        assert leftovers and {p.name.split("-")[0] for p in leftovers} <= held
        # The replica comes back on its disk at once (as a container restarting in its pod),
        # as a gateway without job workers: it cannot take the job back, its housekeeping
        # runs.
        back = launch_gateway(victim.var_dir, target, {**env, "GATEWAY_JOB_WORKERS": "0"})
        gateways.append(back)
        taken_over: dict[str, float] = {}
        while time.monotonic() < deadline and len(taken_over) < len(held):
            for job_id, owner in _rows(
                db, "SELECT id, lease_owner FROM jobs WHERE id = ANY(%s)", (list(held),)
            ):
                if job_id not in taken_over and _worker_of(survivor) in (owner or ""):
                    taken_over[job_id] = time.time()
            time.sleep(0.02)
        assert set(taken_over) == held, "the survivor did not take over the dead replica's job"
        for job_id in held:
            # Not before the dead worker's lease ran out (then as soon as a worker is free).
            assert leases[job_id] <= taken_over[job_id] < leases[job_id] + 10.0, job_id
            assert leases[job_id] - killed_at <= LEASE_S

        jobs = Jobs(survivor)
        ended = {job_id: jobs.wait(job_id, timeout_s=60) for job_id in ids}
        assert {j["status"] for j in ended.values()} == {"succeeded"}, ended
        assert all(j["result"]["frames_analyzed"] > 0 for j in ended.values())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _rows(
            db, "SELECT COUNT(*) FROM deliveries WHERE state <> 'delivered'"
        ) != [(0,)]:
            time.sleep(0.1)
        received = receiver.wait_for(len(ids), timeout_s=5)
        readiness.halt.set()
        readiness.join()

        # The store: one job row per job, ended once, by the lease holder.
        rows = _rows(
            db,
            "SELECT id, status, attempts, lease_owner, result IS NOT NULL, error FROM jobs",
        )
        assert {r[0] for r in rows} == ids
        for job_id, status, attempts, owner, has_result, error in rows:
            assert (status, owner, has_result, error) == ("succeeded", None, True, None)
            assert attempts == (2 if job_id in held else 1), (job_id, attempts)
        keys = dict(_rows(db, "SELECT key, job_id FROM idempotency_keys"))
        assert keys == {"shared-key": shared[0]["id"], "solo-key": solo[0]["id"]}
        # A delivery row is inserted by the transaction that ends the job: one row per job
        # is one terminal transition per job.
        deliveries = _rows(db, "SELECT job_id, event, state, log, message_id FROM deliveries")
        assert sorted(d[0] for d in deliveries) == sorted(ids)
        assert {(d[1], d[2]) for d in deliveries} == {("job.succeeded", "delivered")}
        for job_id, _, _, attempts, _ in deliveries:
            # One recorded success each (an attempt before it may have timed out).
            ok = [a for a in json.loads(attempts) if a["status"] and 200 <= a["status"] < 300]
            assert len(ok) == 1, (job_id, attempts)
        message_ids = {d[0]: d[4] for d in deliveries}
        # Encrypted media lives in the store and went with each job's end.
        assert _rows(db, "SELECT COUNT(*) FROM job_media") == [(0,)]

        # Each replica's log: every job finished once, over both; the held ones by the survivor.
        finished = [
            *_log_entries(victim.var_dir / "gateway.log", "job finished"),
            *_log_entries(survivor.var_dir / "gateway.log", "job finished"),
        ]
        assert Counter(e["job_id"] for e in finished) == dict.fromkeys(ids, 1)
        by_survivor = {
            e["job_id"]: e["attempt"]
            for e in _log_entries(survivor.var_dir / "gateway.log", "job finished")
        }
        assert {job_id: by_survivor.get(job_id) for job_id in held} == dict.fromkeys(held, 2)

        # The receiver: signed job.succeeded messages under the stored webhook-ids. Delivery
        # is at least once: the dead gateway may have sent a message and died before
        # recording it, and another gateway sent it again. Such a repeat has the same
        # webhook-id and body, so deduplicating on webhook-id leaves one per job.
        hooks = Webhook(secret)
        bodies: dict[str, set[bytes]] = {}
        for hook in received:
            body = hooks.verify(hook.body, hook.headers)
            assert body["type"] == "job.succeeded"
            assert hook.headers["webhook-id"] == message_ids[body["data"]["id"]]
            bodies.setdefault(hook.headers["webhook-id"], set()).add(hook.body)
        seen = Counter(json.loads(h.body)["data"]["id"] for h in received)
        assert set(seen) == ids and all(len(b) == 1 for b in bodies.values())
        assert {job_id for job_id, n in seen.items() if n > 1} <= in_flight, seen
        # Delivery is at least once (a deliverer killed between the receiver's answer and
        # recording it leaves the delivery due again; a redelivery is asked for), always
        # under the message's one webhook-id: what a receiver deduplicates on.
        again = sorted(held)[0]
        redelivered = jobs.call("POST", f"/v1/jobs/{again}/deliveries/redeliver")
        assert redelivered.status_code == 202, redelivered.text
        again_received = receiver.wait_for(len(received) + 1, timeout_s=30)
        by_webhook_id = {
            h.headers["webhook-id"]: json.loads(h.body)["data"]["id"] for h in again_received
        }
        assert len(again_received) == len(received) + 1 and len(by_webhook_id) == len(ids)
        assert sorted(by_webhook_id.values()) == sorted(ids)
        assert again_received[-1].headers["webhook-id"] == message_ids[again]

        # No plaintext left on the survivor; the dead process's copy was swept by the
        # replica that came back once the job had ended elsewhere.
        for folder in ("uploads", "jobs/media/work"):
            assert list((survivor.var_dir / folder).iterdir()) == [], folder
        assert list((survivor.var_dir / "jobs" / "media").glob("*.enc")) == []
        back.wait_ready()
        sweep_deadline = time.monotonic() + 10
        while any(p.exists() for p in leftovers) and time.monotonic() < sweep_deadline:
            time.sleep(0.1)
        assert not any(p.exists() for p in leftovers), "a dead replica's plaintext was kept"
        assert list(work.iterdir()) == []

        assert readiness.codes and set(readiness.codes) == {200}, readiness.codes
    finally:
        for gw in gateways:
            gw.process.stop()
        for handle in servings:
            handle.process.stop()
        hook_server.shutdown()
        hook_server.server_close()
