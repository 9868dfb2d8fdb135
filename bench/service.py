"""The service under test: local Serving and the HTTPS gateway as subprocesses, and its clients.

Requests go end to end over HTTPS with the gateway's generated certificate verified.
The gateway's admission limits are raised so that eight concurrent videos are all
accepted (no 429 distorts the throughput); anything but a 200 is counted.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import ssl
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from serving.client import wait_until_available
from stack.processes import (
    ManagedProcess,
    free_port,
    gateway_command,
    serving_command,
    wait_https,
)

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 180.0
REQUEST_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class RequestResult:
    """One ``POST /v1/detect`` as the client saw it."""

    status: int
    latency_ms: float
    body: dict
    #: CPU time the request cost per process (``gateway``, ``serving``, ``client``), ms;
    #: empty when not measured.
    cpu_ms: dict[str, float] = field(default_factory=dict)

    @property
    def timings(self) -> dict[str, float]:
        return self.body.get("timings_ms", {}) if self.status == 200 else {}

    @property
    def frames(self) -> int:
        return int(self.body.get("frames_analyzed", 0)) if self.status == 200 else 0


@dataclass
class ProcessMemory:
    """Resident memory of one process, in MiB."""

    after_start: float = 0.0
    peak_sampled: float = 0.0
    vm_hwm: float = 0.0


def _status_kib(pid: int, key: str) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return float(line.split()[1])
    except OSError:
        pass
    return 0.0


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (none expected, but a worker would count)."""
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo.extend(int(c) for c in (task / "children").read_text().split())
            except OSError:
                continue
    return pids


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process tree so far, seconds."""
    total = 0
    for p in _tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / _CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU time all programs on the machine have used so far (``/proc/stat``), seconds."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _CLOCK_TICKS


class CpuShare:
    """How the machine's CPU time was shared while a block ran: us versus everyone else.

    *Us* is this process (clients and in-process pipelines) and, when given, the service.
    """

    def __init__(self, service: Service | None = None) -> None:
        self.service = service
        self.ours_s = self.others_s = self.wall_s = 0.0
        #: Of ``ours_s``: the service's processes, and this process.
        self.service_s = self.client_s = 0.0

    def _service(self) -> float:
        return sum(self.service.cpu_seconds().values()) if self.service else 0.0

    def __enter__(self) -> CpuShare:
        self._start = (
            time.perf_counter(),
            machine_busy_seconds(),
            self._service(),
            time.process_time(),
        )
        return self

    def __exit__(self, *exc: object) -> None:
        wall0, busy0, service0, client0 = self._start
        self.wall_s = time.perf_counter() - wall0
        self.service_s = self._service() - service0
        self.client_s = time.process_time() - client0
        self.ours_s = self.service_s + self.client_s
        self.others_s = max(0.0, machine_busy_seconds() - busy0 - self.ours_s)

    @property
    def others_share(self) -> float:
        """Share of the machine's cores used by other programs, 0..1."""
        cores = os.cpu_count() or 1
        return self.others_s / (self.wall_s * cores) if self.wall_s else 0.0


def rss_mib(pid: int) -> float:
    """Current resident set of the process, MiB (cheap enough to poll)."""
    return _status_kib(pid, "VmRSS") / 1024.0


def hwm_mib(pid: int) -> float:
    """Peak resident set (``VmHWM``) of the process tree since it started, MiB."""
    return sum(_status_kib(p, "VmHWM") for p in _tree(pid)) / 1024.0


class MemorySampler:
    """Polls RSS of some processes in a thread, keeping the highest value seen."""

    def __init__(self, pids: dict[str, int], interval_s: float = 0.2) -> None:
        self.pids = pids
        self.interval_s = interval_s
        self.peak = dict.fromkeys(pids, 0.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="rss-sampler")

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, pid in self.pids.items():
                self.peak[name] = max(self.peak[name], rss_mib(pid))
            self._stop.wait(self.interval_s)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Service:
    """A running local Serving + gateway pair and how to reach it."""

    serving: ManagedProcess
    gateway: ManagedProcess
    url: str
    cafile: Path
    api_key: str
    version: int
    memory: dict[str, ProcessMemory] = field(default_factory=dict)

    def pids(self) -> dict[str, int]:
        return {"gateway": self.gateway.pid, "serving": self.serving.pid}

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time used by gateway and Serving so far, seconds, per process."""
        return {name: cpu_seconds(pid) for name, pid in self.pids().items()}

    def client(self) -> httpx.Client:
        context = ssl.create_default_context(cafile=str(self.cafile))
        return httpx.Client(
            base_url=self.url,
            verify=context,
            timeout=REQUEST_TIMEOUT_S,
            headers={"Authorization": f"Bearer {self.api_key}"},
        )


def loopback_gateway_env(
    port: int, var_dir: Path, api_key: str, serving_target: str, model_name: str
) -> dict[str, str]:
    """The environment of a gateway on loopback with its own key and generated certificate."""
    return {
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(port),
        "GATEWAY_VAR_DIR": str(var_dir),
        "GATEWAY_API_KEYS": api_key,
        "GATEWAY_TLS_CERT": "",
        "GATEWAY_TLS_KEY": "",
        "SERVING_TARGET": serving_target,
        "MODEL_NAME": model_name,
    }


@contextmanager
def running_service(
    model_dir: Path, model_name: str, var_dir: Path, gateway_env: dict[str, str]
) -> Iterator[Service]:
    """Start local Serving on ``model_dir`` and the gateway in front of it; stop both after."""
    var_dir.mkdir(parents=True, exist_ok=True)
    serving_port, gateway_port = free_port(), free_port()
    serving = ManagedProcess(
        "serving",
        serving_command(serving_port, model_name, model_dir.resolve()),
        log_path=var_dir / "serving.log",
    )
    gateway: ManagedProcess | None = None
    try:
        target = f"127.0.0.1:{serving_port}"
        version = wait_until_available(target, model_name, READY_TIMEOUT_S)
        api_key = secrets.token_urlsafe(24)
        env = {
            **loopback_gateway_env(gateway_port, var_dir, api_key, target, model_name),
            **gateway_env,
        }
        gateway = ManagedProcess(
            "gateway", gateway_command(), env=env, log_path=var_dir / "gateway.log"
        )
        cafile = var_dir / "tls" / "cert.pem"
        url = f"https://localhost:{gateway_port}"
        wait_https(f"{url}/readyz", cafile, timeout_s=READY_TIMEOUT_S, proc=gateway)
        service = Service(serving, gateway, url, cafile, api_key, version)
        for name, pid in service.pids().items():
            service.memory[name] = ProcessMemory(after_start=rss_mib(pid))
        yield service
        for name, pid in service.pids().items():
            service.memory[name].vm_hwm = hwm_mib(pid)
    finally:
        if gateway is not None:
            gateway.stop()
        serving.stop()


def detect(
    client: httpx.Client,
    data: bytes,
    filename: str,
    *,
    content_type: str = "video/mp4",
    part: str = "video",
) -> RequestResult:
    """One multipart upload to ``/v1/detect``, timed from first byte sent to JSON parsed.

    A still image goes in the part ``image`` with its own type.
    """
    start = time.perf_counter()
    try:
        response = client.post("/v1/detect", files={part: (filename, data, content_type)})
        body = response.json()
        status = response.status_code
    except (httpx.HTTPError, ValueError) as exc:
        log.warning("request failed: %s", exc)
        body, status = {"error": str(exc)}, 0
    return RequestResult(status, (time.perf_counter() - start) * 1000.0, body)


def measured_detect(
    service: Service, client: httpx.Client, data: bytes, filename: str
) -> RequestResult:
    """:func:`detect` with the CPU time it cost (alone on the service: concurrency 1)."""
    server0, client0 = service.cpu_seconds(), time.process_time()
    result = detect(client, data, filename)
    client1, server1 = time.process_time(), service.cpu_seconds()
    cpu = {name: (server1[name] - server0[name]) * 1000.0 for name in server0}
    cpu["client"] = (client1 - client0) * 1000.0
    return dataclasses.replace(result, cpu_ms=cpu)


@dataclass(frozen=True)
class LoadRun:
    """``requests`` videos sent by ``concurrency`` clients without pause."""

    concurrency: int
    wall_s: float
    results: list[RequestResult]
    cpu_ms_per_video: float  # gateway + Serving + client, over the whole run
    others_share: float  # share of the machine's cores other programs used meanwhile
    service_cpu_s: float = float("nan")  # gateway + Serving over the whole run
    client_cpu_s: float = float("nan")  # the clients (this process) over the whole run

    @property
    def ok(self) -> list[RequestResult]:
        return [r for r in self.results if r.status == 200]

    @property
    def non_200(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for r in self.results:
            if r.status != 200:
                counts[r.status] = counts.get(r.status, 0) + 1
        return counts

    @property
    def videos_per_min(self) -> float:
        return len(self.ok) / self.wall_s * 60.0 if self.wall_s else 0.0

    @property
    def frames_per_s(self) -> float:
        return sum(r.frames for r in self.ok) / self.wall_s if self.wall_s else 0.0


def load_run(
    service: Service, data: bytes, filename: str, concurrency: int, requests: int
) -> LoadRun:
    """Send ``requests`` uploads from ``concurrency`` clients (one connection each)."""
    remaining = list(range(requests))
    lock = threading.Lock()
    results: list[RequestResult] = []

    def worker() -> None:
        with service.client() as client:
            while True:
                with lock:
                    if not remaining:
                        return
                    remaining.pop()
                result = detect(client, data, filename)
                with lock:
                    results.append(result)

    with CpuShare(service) as share, ThreadPoolExecutor(concurrency) as pool:
        for future in [pool.submit(worker) for _ in range(concurrency)]:
            future.result()
    return LoadRun(
        concurrency,
        share.wall_s,
        results,
        share.ours_s * 1000.0 / max(1, len(results)),
        share.others_share,
        service_cpu_s=share.service_s,
        client_cpu_s=share.client_s,
    )
