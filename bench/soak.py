"""``python -m bench.soak`` (``make soak``): sustained mixed load on the real local service.

Local Serving (a tiny exported model), the HTTPS gateway and a private PostgreSQL as its
job store are started on loopback with the gateway's default admission limits. For
``SOAK_SECONDS``, ``clients`` concurrent clients (several times ``GATEWAY_MAX_IN_FLIGHT`` +
``GATEWAY_MAX_QUEUE``) send a mix of valid uploads (videos raw and multipart, JPEG
images), invalid ones (not a video, truncated, wrong content type, over the upload limit)
and hostile ones (an HLS playlist and an ffconcat script sent as ``video/mp4``, an 8K clip
over the pixel limit, random bytes), while job clients submit jobs (uploads and media URLs
on a local HTTP server, each with a webhook to a local HTTPS receiver) one at a time and
live clients stream JPEG frames over ``/v1/live`` at 5 frames/s, one 20-s session after
another (:mod:`bench.soak_live`).
Meanwhile a new version is published every ten minutes (once, halfway, in a shorter
soak), Serving is restarted at 40% of the run and PostgreSQL at 60%.

Every ten seconds it samples both processes' RSS, threads and open fds, the job store's
size and the files in the upload and job-media folders, and reports each one's slope per
hour after the warm-up (:mod:`bench.soak_timeline`), with a plot of RSS and latency over
time (:mod:`bench.soak_plot`). Also reported: requests by kind and status, latency of the
valid ones, undocumented 5xx (anything but 503 and 504), answers that are not JSON with an
error code or a verdict, valid requests that failed (neither 200 nor 429, nor a 503 while
Serving was being restarted), upload temp files left behind, and how every job and its
webhook ended (:mod:`bench.soak_jobs`). The report is printed and written to
``bench/results/soak-<UTC time>.md`` (and ``.png``) and ``soak-latest.md``.

The mix and its bodies are :mod:`bench.soak_mix`; the report :mod:`bench.soak_report`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np

from bench.soak_jobs import JobTraffic
from bench.soak_live import LiveTraffic
from bench.soak_mix import MAX_UPLOAD_BYTES, MIX, Payload, encode_jpeg, payloads
from bench.soak_plot import plot
from bench.soak_report import render, run_meta, summary, write
from bench.soak_result import NO_ANSWER, Outcome, SoakResult, problems
from bench.soak_stack import ProcessStats, Publisher, SoakStack, running_stack
from bench.soak_timeline import Sample, warmup_s

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SECONDS = 300.0
DEFAULT_CLIENTS = 20
DEFAULT_JOB_CLIENTS = 2
#: Live sessions at once, each at a camera's 5 frames/s (bench.soak_live).
DEFAULT_LIVE_CLIENTS = 2
#: A new version every this many seconds (a soak shorter than two of them swaps once).
SWAP_EVERY_S = 600.0
#: The longest interval between samples.
SAMPLE_EVERY_S = 10.0


def _send(client: httpx.Client, kind: str, payload: Payload) -> Outcome:
    start = time.perf_counter()
    started = time.monotonic()
    try:
        if payload.multipart:
            response = client.post(
                "/v1/detect", files={"video": ("clip.mp4", payload.body, payload.content_type)}
            )
        else:
            response = client.post(
                "/v1/detect", content=payload.body, headers={"Content-Type": payload.content_type}
            )
    except httpx.HTTPError:
        return Outcome(kind, NO_ANSWER, (time.perf_counter() - start) * 1000.0, None, None, started)
    latency = (time.perf_counter() - start) * 1000.0
    answer: str | None = None
    version: int | None = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("code"), str):
            answer = error["code"]
        elif response.status_code == 200 and isinstance(body.get("verdict"), str):
            answer = body["verdict"]
            version = body.get("model", {}).get("version")
    return Outcome(kind, response.status_code, latency, answer, version, started)


def _sample(stack: SoakStack, t: float) -> Sample:
    stats = stack.stats()
    return Sample(
        t,
        stats["gateway"],
        stats["serving"],
        stack.job_store_bytes(),
        stack.files_in("uploads"),
        stack.files_in("jobs/media"),
    )


def _present(stack: SoakStack) -> dict[str, ProcessStats]:
    return {name: s for name, s in stack.stats().items() if s is not None}


def _schedule(seconds: float, hot_swap: bool, restarts: bool) -> list[tuple[float, str]]:
    """When each event of the soak happens (seconds into the load), in order."""
    plan: list[tuple[float, str]] = []
    if hot_swap:
        if seconds >= 2 * SWAP_EVERY_S:
            plan += [(t, "hot swap") for t in np.arange(SWAP_EVERY_S, seconds, SWAP_EVERY_S)]
        else:
            plan.append((seconds / 2, "hot swap"))
    if restarts:
        plan += [(0.4 * seconds, "Serving restart"), (0.6 * seconds, "PostgreSQL restart")]
    return sorted((float(t), what) for t, what in plan)


def run_soak(
    seconds: float,
    clients: int = DEFAULT_CLIENTS,
    *,
    hot_swap: bool = True,
    restarts: bool = True,
    job_clients: int = DEFAULT_JOB_CLIENTS,
    live_clients: int = DEFAULT_LIVE_CLIENTS,
    postgres: bool = True,
    kinds: list[str] | None = None,
    seed: int = 0,
    settle_s: float = 5.0,
    progress: Callable[[str], None] | None = None,
) -> SoakResult:
    """Start the stack, load it for ``seconds`` with ``clients`` upload clients,
    ``job_clients`` job clients and ``live_clients`` live sessions at once, and measure.

    ``kinds`` restricts the uploads to some of the kinds of :data:`MIX` (default: all);
    ``postgres`` puts the jobs in a private PostgreSQL (else SQLite, and no restart of it).
    """
    from gateway.settings import Settings

    defaults = Settings()
    result = SoakResult(seconds, clients, defaults.max_in_flight, defaults.max_queue)
    result.job_store = "postgresql" if postgres else "sqlite"
    result.warmup_s = warmup_s(seconds)
    bodies = payloads(seed)
    mix = {k: w for k, w in MIX.items() if kinds is None or k in kinds}
    if not mix:
        raise ValueError(f"no known kind in {kinds}; known: {', '.join(MIX)}")
    names, weights = list(mix), list(mix.values())
    say = progress or (lambda _msg: None)
    plan = [e for e in _schedule(seconds, hot_swap, restarts) if postgres or "Postgre" not in e[1]]
    every_s = min(SAMPLE_EVERY_S, max(2.0, seconds / 20))
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        work = Path(tmp)
        publisher = Publisher(work / "staged") if hot_swap else None
        traffic = JobTraffic(work, bodies["valid"].body, bodies["image"].body)
        live = LiveTraffic([encode_jpeg(320, 240, seed + i) for i in range(4)])
        gateway_env = {
            # A session just ended may count for a moment longer: room for the next one.
            "GATEWAY_LIVE_STREAMS_PER_KEY": str(max(2, live_clients + 2)),
            "GATEWAY_MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES),
            # The per-key quota off: the soak loads the service, not the quota (which would
            # turn most of its requests into 429 on a fast machine).
            "GATEWAY_RATE_LIMIT_PER_MIN": "0",
            **traffic.gateway_env(),
        }
        try:
            with running_stack(work, gateway_env, postgres=postgres) as stack:
                with stack.client() as client:  # warm-up: the first video pays one-off costs
                    _send(client, "valid", bodies["valid"])
                    secret = client.post("/v1/webhook-secret")
                    secret.raise_for_status()
                result.stats = {name: {"start": s} for name, s in _present(stack).items()}
                say(
                    f"stack up ({result.job_store}); {clients} upload, {job_clients} job and "
                    f"{live_clients} live clients for {seconds:.0f} s; events: {plan}"
                )
                lock = threading.Lock()
                stop = threading.Event()
                result.t0 = t0 = time.monotonic()

                def worker(index: int) -> None:
                    rng = random.Random(seed * 1000 + index)
                    with stack.client() as client:
                        while not stop.is_set():
                            kind = rng.choices(names, weights)[0]
                            outcome = _send(client, kind, bodies[kind])
                            with lock:
                                result.outcomes.append(outcome)

                def job_worker(index: int) -> None:
                    with stack.client() as client:
                        traffic.run_client(client, stop, seed * 1000 + 500 + index, time.monotonic)

                threads = (
                    [
                        threading.Thread(target=worker, args=(i,), name=f"soak-{i}", daemon=True)
                        for i in range(clients)
                    ]
                    + [
                        threading.Thread(
                            target=job_worker, args=(i,), name=f"jobs-{i}", daemon=True
                        )
                        for i in range(job_clients)
                    ]
                    + [
                        threading.Thread(
                            target=live.run_client,
                            args=(stack, stop, i, t0),
                            name=f"live-{i}",
                            daemon=True,
                        )
                        for i in range(live_clients)
                    ]
                )
                for thread in threads:
                    thread.start()
                next_sample = 0.0
                pending = list(plan)
                while (elapsed := time.monotonic() - t0) < seconds:
                    if elapsed >= next_sample:
                        result.samples.append(_sample(stack, elapsed))
                        next_sample += every_s
                    if pending and elapsed >= pending[0][0]:
                        _, what = pending.pop(0)
                        _event(stack, result, what, elapsed, publisher, say)
                    time.sleep(0.2)
                stop.set()
                for thread in threads:
                    thread.join(timeout=JOB_JOIN_S)
                result.wall_s = time.monotonic() - t0
                for name, s in _present(stack).items():
                    result.stats.setdefault(name, {})["end"] = s
                with stack.client() as client:
                    traffic.finish(client)
                result.jobs = traffic.tally()
                result.live = live.tally() if live_clients else None
                time.sleep(settle_s)
                for name, s in _present(stack).items():
                    result.stats[name]["settled"] = s
                uploads = stack.var_dir / "uploads"
                if uploads.exists():
                    result.temp_files_left = sorted(
                        str(p.relative_to(uploads)) for p in uploads.rglob("*") if p.is_file()
                    )
        finally:
            traffic.close()
        if result.swap_at_s is not None:
            new = [
                o.start_s + o.latency_ms / 1000.0 - t0 for o in result.outcomes if o.version == 2
            ]
            if new:
                result.swap_seen_after_s = min(new) - result.swap_at_s
    return result


#: Clients finish their request in flight, at most this long, once the load stops.
JOB_JOIN_S = 180.0


def _event(
    stack: SoakStack,
    result: SoakResult,
    what: str,
    elapsed: float,
    publisher: Publisher | None,
    say: Callable[[str], None],
) -> None:
    """Do one event of the schedule and record it."""
    if what == "hot swap" and publisher is not None:
        version = publisher.publish(stack.model_dir)
        if result.swap_at_s is None:
            result.swap_at_s = elapsed
        result.events.append((elapsed, f"hot swap: version {version} published"))
    elif what == "Serving restart":
        index = len(result.outages)

        def back(away: float) -> None:
            # Called from the waiting thread; the main one only appends meanwhile.
            result.outages[index] = (elapsed, elapsed + away)
            with contextlib.suppress(OSError, KeyError):
                result.stats["serving"]["start"] = ProcessStats.of(stack.serving.pid)
            result.serving_restarted_at_s = elapsed + away
            result.events.append((elapsed + away, f"Serving AVAILABLE again after {away:.1f} s"))
            say(result.events[-1][1])

        stack.restart_serving(back)
        # Until it is back, the whole rest of the soak counts as its outage.
        result.outages.append((elapsed, float("inf")))
        result.events.append((elapsed, "Serving restart: stopped and started again"))
    elif what == "PostgreSQL restart":
        away = stack.restart_postgres()
        result.events.append((elapsed, f"PostgreSQL restart: back after {away:.1f} s"))
    say(result.events[-1][1] if result.events else what)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument(
        "--seconds",
        type=float,
        default=float(os.environ.get("SOAK_SECONDS", DEFAULT_SECONDS)),
        help="how long the load lasts (default: $SOAK_SECONDS or 300)",
    )
    parser.add_argument("--clients", type=int, default=DEFAULT_CLIENTS)
    parser.add_argument("--no-hot-swap", action="store_true")
    parser.add_argument(
        "--no-restarts", action="store_true", help="restart neither Serving nor PostgreSQL"
    )
    parser.add_argument("--job-clients", type=int, default=DEFAULT_JOB_CLIENTS)
    parser.add_argument("--live-clients", type=int, default=DEFAULT_LIVE_CLIENTS)
    parser.add_argument(
        "--sqlite", action="store_true", help="jobs in SQLite instead of a private PostgreSQL"
    )
    parser.add_argument(
        "--kinds", help=f"comma-separated subset of the mix (default all: {', '.join(MIX)})"
    )
    parser.add_argument("--results-dir", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args(argv)
    meta = run_meta()
    result = run_soak(
        args.seconds,
        args.clients,
        hot_swap=not args.no_hot_swap,
        restarts=not args.no_restarts,
        job_clients=args.job_clients,
        live_clients=args.live_clients,
        postgres=not args.sqlite,
        kinds=args.kinds.split(",") if args.kinds else None,
        progress=lambda msg: print(f"soak: {msg}", flush=True),
    )
    stamp = meta["timestamp"].replace(":", "-")
    picture = plot(result, args.results_dir / f"soak-{stamp}.png")
    (args.results_dir / "soak-latest.png").write_bytes(picture.read_bytes())
    text = render(result, meta, picture.name)
    path = write(args.results_dir, text, stamp)
    print(text)
    print(summary(result))
    print(f"report: {path}")
    return 1 if problems(result) else 0


if __name__ == "__main__":
    raise SystemExit(main())
