"""The soak's job traffic: uploads and media URLs as jobs, each announced by a webhook.

Each job client keeps one job at a time in flight (submit, poll until it ends, submit
the next), so the queue stays bounded however long the soak lasts. Uploads are sent as
raw bodies; media URL jobs name a clip on a local HTTP server. Every job asks for a
webhook to a local HTTPS receiver. After the load, every accepted job is waited for;
the tally says how each ended, which were never seen to end (lost), and how the
webhooks arrived: once per job after deduplication by ``webhook-id``, a retry of the
same message being allowed (Standard Webhooks), two messages for one job not.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.gateway.jobs.media_server import MediaServer, serve_bytes, start_media_server
from tests.gateway.jobs.webhook_receiver import Receiver, start_receiver

#: Kinds of job and their weights.
JOB_MIX: dict[str, int] = {"job_upload": 2, "job_url": 1}
ENDED = frozenset({"succeeded", "failed", "canceled", "expired"})
#: How long a job may take, from its submission, before the soak calls it lost.
JOB_PATIENCE_S = 300.0
POLL_S = 0.5


@dataclass(frozen=True)
class JobOutcome:
    """One job as its client saw it."""

    kind: str
    #: Status of the submission (202 accepted; 503 while the job store is down, ...).
    submit_status: int
    job_id: str | None
    #: The job's last status seen (``None``: never accepted or never seen again).
    final_status: str | None
    error_code: str | None
    #: Submission to the end of the job (or of the submission, when refused).
    latency_ms: float
    start_s: float


@dataclass
class JobTally:
    """How the jobs and their webhooks ended."""

    submitted: Counter[tuple[str, int]] = field(default_factory=Counter)
    final: Counter[str] = field(default_factory=Counter)
    error_codes: Counter[str] = field(default_factory=Counter)
    #: Error codes of the refused submissions (429 over a limit, 503 store down, ...).
    refused: Counter[str] = field(default_factory=Counter)
    #: Accepted jobs never seen ended within :data:`JOB_PATIENCE_S`.
    lost: list[str] = field(default_factory=list)
    webhooks_received: int = 0
    #: Distinct ``webhook-id`` values received.
    webhook_messages: int = 0
    #: Ended jobs (with a callback) that no webhook announced.
    unannounced: list[str] = field(default_factory=list)
    #: Jobs announced by more than one distinct message.
    announced_twice: list[str] = field(default_factory=list)
    #: Messages whose body names another status than the job ended with.
    wrong_status: list[str] = field(default_factory=list)
    failed_without_code: int = 0


class JobTraffic:
    """The receiver, the media server and the job clients of one soak."""

    def __init__(self, folder: Path, clip: bytes, image: bytes) -> None:
        self.receiver: Receiver
        self.receiver, self._receiver_server = start_receiver(folder / "receiver")
        self.media: MediaServer
        self.media, self._media_server = start_media_server()
        self.media.routes["/clip.mp4"] = serve_bytes(clip, "video/mp4")
        self.media.routes["/photo.jpg"] = serve_bytes(image, "image/jpeg")
        self.clip = clip
        self.outcomes: list[JobOutcome] = []
        self._lock = threading.Lock()

    def gateway_env(self) -> dict[str, str]:
        """What the gateway needs to reach the receiver and the media server on loopback."""
        return {
            "GATEWAY_WEBHOOK_ALLOW_LOOPBACK": "true",
            "GATEWAY_WEBHOOK_PORTS": f"{self.receiver.port},{self.media.port}",
            "GATEWAY_WEBHOOK_CA_FILE": str(self.receiver.ca_file),
            "GATEWAY_WEBHOOK_RETRY_BASE_S": "1",
            "GATEWAY_JOB_POLL_S": "0.2",
        }

    def close(self) -> None:
        for server in (self._receiver_server, self._media_server):
            server.shutdown()
            server.server_close()

    def run_client(
        self,
        client: httpx.Client,
        stop: threading.Event,
        seed: int,
        clock: Callable[[], float],
    ) -> None:
        """Submit jobs one after another until ``stop``; each waited for before the next."""
        rng = random.Random(seed)
        names, weights = list(JOB_MIX), list(JOB_MIX.values())
        while not stop.is_set():
            kind = rng.choices(names, weights)[0]
            outcome = self._one(client, kind, rng, clock, stop)
            with self._lock:
                self.outcomes.append(outcome)
            if outcome.submit_status != 202:
                stop.wait(1.0)  # refused (store down, over a cap): do not spin

    def _submit(self, client: httpx.Client, kind: str, rng: random.Random) -> httpx.Response:
        params = {"frames": "4", "callback_url": self.receiver.url}
        if kind == "job_upload":
            return client.post(
                "/v1/jobs",
                params=params,
                content=self.clip,
                headers={"Content-Type": "video/mp4"},
            )
        path = "/photo.jpg" if rng.random() < 0.3 else "/clip.mp4"
        return client.post(
            "/v1/jobs",
            json={"media_url": self.media.url(path), "callback_url": self.receiver.url},
        )

    def _one(
        self,
        client: httpx.Client,
        kind: str,
        rng: random.Random,
        clock: Callable[[], float],
        stop: threading.Event,
    ) -> JobOutcome:
        started, start = clock(), time.perf_counter()
        try:
            response = self._submit(client, kind, rng)
        except httpx.HTTPError:
            return JobOutcome(kind, 0, None, None, None, _ms(start), started)
        if response.status_code != 202:
            code = _error_code(response)
            return JobOutcome(kind, response.status_code, None, None, code, _ms(start), started)
        job_id = response.json()["id"]
        status, code = self.wait(client, job_id, start + JOB_PATIENCE_S, stop)
        return JobOutcome(kind, 202, job_id, status, code, _ms(start), started)

    @staticmethod
    def wait(
        client: httpx.Client,
        job_id: str,
        until: float,
        stop: threading.Event | None = None,
    ) -> tuple[str | None, str | None]:
        """Poll one job until it ends, ``until`` (perf counter) passes or ``stop`` is set.

        Returns its last status seen (``None`` if never seen) and its error code. Errors
        of the poll itself (the store restarting) are waited out.
        """
        status: str | None = None
        code: str | None = None
        while time.perf_counter() < until:
            try:
                response = client.get(f"/v1/jobs/{job_id}")
            except httpx.HTTPError:
                response = None
            if response is not None and response.status_code == 200:
                body = response.json()
                status = body["status"]
                code = (body.get("error") or {}).get("code")
                if status in ENDED:
                    break
            if stop is not None and stop.is_set():
                break
            time.sleep(POLL_S)
        return status, code

    def finish(self, client: httpx.Client) -> None:
        """Wait for every accepted job a client stopped watching before it ended."""
        with self._lock:
            pending = [
                (i, o)
                for i, o in enumerate(self.outcomes)
                if o.job_id and o.final_status not in ENDED
            ]
        for index, outcome in pending:
            assert outcome.job_id is not None
            deadline = time.perf_counter() + JOB_PATIENCE_S
            status, code = self.wait(client, outcome.job_id, deadline)
            with self._lock:
                self.outcomes[index] = JobOutcome(
                    outcome.kind,
                    outcome.submit_status,
                    outcome.job_id,
                    status,
                    code,
                    outcome.latency_ms,
                    outcome.start_s,
                )

    def tally(self, settle_s: float = 30.0) -> JobTally:
        """How the jobs ended and how their webhooks arrived (waiting ``settle_s`` at most
        for the last deliveries)."""
        ended = {o.job_id: o.final_status for o in self.outcomes if o.final_status in ENDED}
        deadline = time.monotonic() + settle_s
        while time.monotonic() < deadline and len(self._announced()) < len(ended):
            time.sleep(0.5)
        tally = JobTally()
        for o in self.outcomes:
            tally.submitted[(o.kind, o.submit_status)] += 1
            if o.job_id is None:
                tally.refused[o.error_code or f"HTTP {o.submit_status}"] += 1
                continue
            if o.final_status in ENDED:
                tally.final[o.final_status or ""] += 1
                if o.error_code:
                    tally.error_codes[o.error_code] += 1
                elif o.final_status == "failed":
                    tally.failed_without_code += 1
            else:
                tally.lost.append(o.job_id)
        with self.receiver.lock:
            received = list(self.receiver.received)
        tally.webhooks_received = len(received)
        messages: dict[str, dict] = {}
        for hook in received:
            headers = {k.lower(): v for k, v in hook.headers.items()}
            messages.setdefault(headers.get("webhook-id", ""), json.loads(hook.body))
        tally.webhook_messages = len(messages)
        per_job: Counter[str] = Counter()
        for message_id, body in messages.items():
            job_id = body["data"]["id"]
            per_job[job_id] += 1
            if job_id in ended and body["type"] != f"job.{ended[job_id]}":
                tally.wrong_status.append(message_id)
        tally.announced_twice = sorted(j for j, n in per_job.items() if n > 1)
        tally.unannounced = sorted(str(j) for j in ended if j not in per_job)
        return tally

    def _announced(self) -> set[str]:
        with self.receiver.lock:
            return {json.loads(r.body)["data"]["id"] for r in self.receiver.received}


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0


def _error_code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("code") if isinstance(error, dict) else None
