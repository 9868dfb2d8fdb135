"""``python -m bench.soak`` (``make soak``): sustained mixed load on the real local service.

Local Serving (a tiny exported model) and the HTTPS gateway are started on loopback with
the gateway's default admission limits; ``clients`` concurrent clients (several times
``GATEWAY_MAX_IN_FLIGHT`` + ``GATEWAY_MAX_QUEUE``) then send, for ``SOAK_SECONDS``, a
mix of valid uploads (raw and multipart), invalid ones (not a video, truncated, wrong
content type, over the upload limit) and hostile ones (an HLS playlist and an ffconcat
script sent as ``video/mp4``, an 8K clip over the pixel limit, random bytes). Halfway
through, version 2 of the model is published into the model directory (a hot swap).

Reported: requests by kind and status, latency of the valid ones, RSS, threads and open
file descriptors of both processes before and after, undocumented 5xx (anything but 503
and 504), answers that are not JSON with an error code or a verdict, valid requests that
failed (neither 200 nor 429), and upload temp files left in ``GATEWAY_VAR_DIR/uploads``.
The report is printed and written to ``bench/results/soak-<UTC time>.md`` and
``soak-latest.md``.

The mix and its bodies are :mod:`bench.soak_mix`; the report :mod:`bench.soak_report`.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import ssl
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

from bench.service import loopback_gateway_env
from bench.soak_mix import MAX_UPLOAD_BYTES, MIX, VALID_KINDS, Payload, payloads
from bench.soak_report import render, run_meta, summary, write
from serving.client import wait_until_available
from stack.processes import (
    ManagedProcess,
    free_port,
    gateway_command,
    serving_command,
    wait_https,
)

REPO = Path(__file__).resolve().parent.parent
MODEL_NAME = "deepfake"
DEFAULT_SECONDS = 300.0
DEFAULT_CLIENTS = 20
#: Statuses a 5xx may have and still be documented (Serving unreachable, deadline).
DOCUMENTED_5XX = frozenset({503, 504})
#: Status 0: no HTTP answer (connection closed or reset before the response).
NO_ANSWER = 0


@dataclass(frozen=True)
class Outcome:
    """One request as the client saw it."""

    kind: str
    status: int
    latency_ms: float
    #: ``error.code`` of an error answer, ``verdict`` of a 200, else ``None`` (not JSON, or
    #: JSON of neither shape).
    answer: str | None
    version: int | None
    start_s: float


@dataclass(frozen=True)
class ProcessStats:
    """What ``/proc`` says about one process at one moment."""

    rss_mib: float
    threads: int
    fds: int

    @classmethod
    def of(cls, pid: int) -> ProcessStats:
        fields: dict[str, str] = {}
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            fields[key] = value.strip()
        return cls(
            rss_mib=float(fields["VmRSS"].split()[0]) / 1024.0,
            threads=int(fields["Threads"]),
            fds=len(os.listdir(f"/proc/{pid}/fd")),
        )


@dataclass
class SoakResult:
    """Everything one soak measured."""

    seconds: float
    clients: int
    max_in_flight: int
    max_queue: int
    outcomes: list[Outcome] = field(default_factory=list)
    #: Per process (``gateway``, ``serving``): ``start`` (after warm-up), ``end`` (as the
    #: load stops), ``settled`` (clients gone, a few seconds later).
    stats: dict[str, dict[str, ProcessStats]] = field(default_factory=dict)
    temp_files_left: list[str] = field(default_factory=list)
    #: (seconds into the load, stats per process), sampled about twenty times.
    timeline: list[tuple[float, dict[str, ProcessStats]]] = field(default_factory=list)
    swap_at_s: float | None = None
    swap_seen_after_s: float | None = None
    wall_s: float = 0.0

    def by_kind_status(self) -> Counter[tuple[str, int]]:
        return Counter((o.kind, o.status) for o in self.outcomes)

    @property
    def undocumented_5xx(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status >= 500 and o.status not in DOCUMENTED_5XX]

    @property
    def unparsed(self) -> list[Outcome]:
        """Answers that are neither an error with a code nor a verdict."""
        return [o for o in self.outcomes if o.status != NO_ANSWER and o.answer is None]

    @property
    def no_answer(self) -> Counter[str]:
        return Counter(o.kind for o in self.outcomes if o.status == NO_ANSWER)

    @property
    def failed_valid(self) -> list[Outcome]:
        """Valid uploads answered neither 200 nor 429 (admission), or not answered."""
        return [o for o in self.outcomes if o.kind in VALID_KINDS and o.status not in (200, 429)]

    def valid_latency_ms(self, q: float) -> float:
        values = [o.latency_ms for o in self.outcomes if o.kind in VALID_KINDS and o.status == 200]
        return float(np.percentile(values, q)) if values else float("nan")

    @property
    def versions(self) -> Counter[int]:
        return Counter(o.version for o in self.outcomes if o.version is not None)


@dataclass
class _Stack:
    gateway: ManagedProcess
    serving: ManagedProcess
    url: str
    cafile: Path
    api_key: str
    var_dir: Path
    model_dir: Path

    def pids(self) -> dict[str, int]:
        return {"gateway": self.gateway.pid, "serving": self.serving.pid}

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            verify=ssl.create_default_context(cafile=str(self.cafile)),
            timeout=120.0,
            headers={"Authorization": f"Bearer {self.api_key}"},
        )


@contextmanager
def _running_stack(work: Path, gateway_env: dict[str, str]) -> Iterator[_Stack]:
    """Tiny model v1, local Serving polling its directory each second, and the gateway."""
    from tests.tiny_model import export_tiny_model

    base = work / "models"
    export_tiny_model(base, MODEL_NAME, version=1, seed=1)
    var_dir = work / "var"
    var_dir.mkdir(parents=True)
    serving_port, gateway_port = free_port(), free_port()
    serving = ManagedProcess(
        "serving",
        serving_command(
            serving_port,
            MODEL_NAME,
            base / MODEL_NAME,
            ["--file_system_poll_wait_seconds=1"],
        ),
        log_path=work / "serving.log",
        cwd=REPO,
    )
    gateway: ManagedProcess | None = None
    try:
        target = f"127.0.0.1:{serving_port}"
        wait_until_available(target, MODEL_NAME, 180.0)
        api_key = secrets.token_urlsafe(24)
        env = {
            **loopback_gateway_env(gateway_port, var_dir, api_key, target, MODEL_NAME),
            "GATEWAY_MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES),
            **gateway_env,
        }
        gateway = ManagedProcess(
            "gateway", gateway_command(), env=env, log_path=work / "gateway.log", cwd=REPO
        )
        cafile = var_dir / "tls" / "cert.pem"
        url = f"https://localhost:{gateway_port}"
        wait_https(f"{url}/readyz", cafile, timeout_s=180.0, proc=gateway)
        yield _Stack(gateway, serving, url, cafile, api_key, var_dir, base / MODEL_NAME)
    finally:
        if gateway is not None:
            gateway.stop()
        serving.stop()


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


def _stats(stack: _Stack) -> dict[str, ProcessStats]:
    return {name: ProcessStats.of(pid) for name, pid in stack.pids().items()}


def run_soak(
    seconds: float,
    clients: int = DEFAULT_CLIENTS,
    *,
    hot_swap: bool = True,
    kinds: list[str] | None = None,
    seed: int = 0,
    settle_s: float = 5.0,
    progress: Callable[[str], None] | None = None,
) -> SoakResult:
    """Start the stack, load it for ``seconds`` with ``clients`` clients, and measure.

    ``kinds`` restricts the mix to some of the kinds of :data:`MIX` (default: all).
    """
    from gateway.settings import Settings
    from tests.tiny_model import export_tiny_model

    defaults = Settings()
    result = SoakResult(seconds, clients, defaults.max_in_flight, defaults.max_queue)
    bodies = payloads(seed)
    mix = {k: w for k, w in MIX.items() if kinds is None or k in kinds}
    if not mix:
        raise ValueError(f"no known kind in {kinds}; known: {', '.join(MIX)}")
    names, weights = list(mix), list(mix.values())
    say = progress or (lambda _msg: None)
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        work = Path(tmp)
        staged = work / "staged"
        if hot_swap:  # exported before the load: publishing is then one rename
            export_tiny_model(staged, MODEL_NAME, version=2, seed=2)
        with _running_stack(work, {}) as stack:
            with stack.client() as client:  # warm-up: the first video pays one-off costs
                _send(client, "valid", bodies["valid"])
            result.stats = {name: {"start": s} for name, s in _stats(stack).items()}
            say(f"stack up; {clients} clients for {seconds:.0f} s")
            lock = threading.Lock()
            stop = threading.Event()
            t0 = time.monotonic()

            def worker(index: int) -> None:
                rng = random.Random(seed * 1000 + index)
                with stack.client() as client:
                    while not stop.is_set():
                        kind = rng.choices(names, weights)[0]
                        outcome = _send(client, kind, bodies[kind])
                        with lock:
                            result.outcomes.append(outcome)

            threads = [
                threading.Thread(target=worker, args=(i,), name=f"soak-{i}", daemon=True)
                for i in range(clients)
            ]
            for thread in threads:
                thread.start()
            swapped = False
            every_s = max(2.0, seconds / 20)
            next_sample = 0.0
            while (elapsed := time.monotonic() - t0) < seconds:
                if elapsed >= next_sample:
                    result.timeline.append((elapsed, _stats(stack)))
                    next_sample += every_s
                if hot_swap and not swapped and elapsed >= seconds / 2:
                    os.replace(staged / MODEL_NAME / "2", stack.model_dir / "2")
                    result.swap_at_s = elapsed
                    swapped = True
                    say(f"published version 2 at {elapsed:.0f} s")
                time.sleep(0.2)
            stop.set()
            for thread in threads:
                thread.join(timeout=180.0)
            result.wall_s = time.monotonic() - t0
            for name, s in _stats(stack).items():
                result.stats[name]["end"] = s
            time.sleep(settle_s)
            for name, s in _stats(stack).items():
                result.stats[name]["settled"] = s
            uploads = stack.var_dir / "uploads"
            if uploads.exists():
                result.temp_files_left = sorted(
                    str(p.relative_to(uploads)) for p in uploads.rglob("*") if p.is_file()
                )
            if result.swap_at_s is not None:
                new = [
                    o.start_s + o.latency_ms / 1000.0 - t0
                    for o in result.outcomes
                    if o.version == 2
                ]
                if new:
                    result.swap_seen_after_s = min(new) - result.swap_at_s
    return result


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
        "--kinds", help=f"comma-separated subset of the mix (default all: {', '.join(MIX)})"
    )
    parser.add_argument("--results-dir", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args(argv)
    meta = run_meta()
    result = run_soak(
        args.seconds,
        args.clients,
        hot_swap=not args.no_hot_swap,
        kinds=args.kinds.split(",") if args.kinds else None,
        progress=lambda msg: print(f"soak: {msg}", flush=True),
    )
    text = render(result, meta)
    path = write(args.results_dir, text, meta["timestamp"].replace(":", "-"))
    print(text)
    print(summary(result))
    print(f"report: {path}")
    failed = (
        result.undocumented_5xx or result.failed_valid or result.temp_files_left or result.unparsed
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
