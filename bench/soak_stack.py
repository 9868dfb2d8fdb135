"""The soak's running service: local Serving, the HTTPS gateway and the job store's
PostgreSQL, each one restartable for real while the load goes on."""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.service import loopback_gateway_env
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
READY_TIMEOUT_S = 180.0


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
class SoakStack:
    """The processes of one soak and how to reach and restart them."""

    gateway: ManagedProcess
    serving: ManagedProcess
    serving_port: int
    url: str
    cafile: Path
    api_key: str
    var_dir: Path
    model_dir: Path
    work: Path
    #: The job store's PostgreSQL (``tests.pg_cluster.PrivateCluster``), or ``None`` for SQLite.
    postgres: object | None = None
    job_store: str = ""
    _serving_starts: int = field(default=1, repr=False)

    def pids(self) -> dict[str, int]:
        return {"gateway": self.gateway.pid, "serving": self.serving.pid}

    def stats(self) -> dict[str, ProcessStats | None]:
        """Each process's figures; ``None`` for one that is not running at this moment."""
        found: dict[str, ProcessStats | None] = {}
        for name, pid in self.pids().items():
            try:
                found[name] = ProcessStats.of(pid)
            except (FileNotFoundError, ProcessLookupError, KeyError):
                found[name] = None
        return found

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            verify=ssl.create_default_context(cafile=str(self.cafile)),
            timeout=120.0,
            headers={"Authorization": f"Bearer {self.api_key}"},
        )

    def restart_serving(self, back: Callable[[float], None]) -> None:
        """Stop Serving (SIGTERM) and start it again on the same port, from this thread
        (a child dies with the thread that started it); ``back(seconds)`` is called from
        another thread once its model is AVAILABLE again, so the soak keeps sampling."""
        start = time.monotonic()
        self.serving.stop()
        self._serving_starts += 1
        self.serving = _serving(self.serving_port, self.model_dir, self.work, self._serving_starts)

        def wait() -> None:
            wait_until_available(f"127.0.0.1:{self.serving_port}", MODEL_NAME, READY_TIMEOUT_S)
            back(time.monotonic() - start)

        threading.Thread(target=wait, name="serving-restart", daemon=True).start()

    def restart_postgres(self) -> float:
        """Stop the job store's PostgreSQL (fast: clients disconnected) and start it again;
        seconds it was away. Nothing to do for SQLite."""
        if self.postgres is None:
            return 0.0
        start = time.monotonic()
        self.postgres.stop()  # type: ignore[attr-defined]
        self.postgres.start()  # type: ignore[attr-defined]
        return time.monotonic() - start

    def job_store_bytes(self) -> int | None:
        """Size of the job store: the database, or the SQLite file and its journal."""
        if self.postgres is None:
            return sum(p.stat().st_size for p in (self.var_dir / "jobs").glob("*.sqlite3*"))
        import psycopg

        try:
            with psycopg.connect(self.job_store, connect_timeout=2) as conn:
                row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        except psycopg.Error:
            return None  # being restarted
        return int(row[0]) if row else None

    def files_in(self, folder: str) -> int:
        """Files under ``GATEWAY_VAR_DIR/<folder>`` now."""
        root = self.var_dir / folder
        return sum(1 for p in root.rglob("*") if p.is_file()) if root.exists() else 0


def _serving(port: int, model_dir: Path, work: Path, start: int) -> ManagedProcess:
    return ManagedProcess(
        "serving",
        serving_command(port, MODEL_NAME, model_dir, ["--file_system_poll_wait_seconds=1"]),
        log_path=work / f"serving-{start}.log",
        cwd=REPO,
    )


def _job_store(work: Path, postgres: bool) -> tuple[object | None, str]:
    if not postgres:
        return None, ""
    from tests.pg_cluster import PrivateCluster, new_pg_database

    cluster = PrivateCluster.create()
    return cluster, new_pg_database(cluster.url)


@contextmanager
def running_stack(
    work: Path, gateway_env: dict[str, str], *, postgres: bool
) -> Iterator[SoakStack]:
    """Tiny model v1, local Serving polling its directory each second, the gateway, and
    (``postgres``) a private PostgreSQL cluster as the job store; all stopped after."""
    from tests.tiny_model import export_tiny_model

    base = work / "models"
    export_tiny_model(base, MODEL_NAME, version=1, seed=1)
    var_dir = work / "var"
    var_dir.mkdir(parents=True)
    serving_port, gateway_port = free_port(), free_port()
    cluster, store_url = _job_store(work, postgres)
    serving = _serving(serving_port, base / MODEL_NAME, work, 1)
    gateway: ManagedProcess | None = None
    stack: SoakStack | None = None
    try:
        target = f"127.0.0.1:{serving_port}"
        wait_until_available(target, MODEL_NAME, READY_TIMEOUT_S)
        api_key = secrets.token_urlsafe(24)
        env = {
            **loopback_gateway_env(gateway_port, var_dir, api_key, target, MODEL_NAME),
            # A shared store needs a configured key-encryption key (every replica the same).
            **(
                {
                    "GATEWAY_JOB_STORE": store_url,
                    "GATEWAY_JOB_KEK": base64.b64encode(secrets.token_bytes(32)).decode(),
                }
                if store_url
                else {}
            ),
            **gateway_env,
        }
        gateway = ManagedProcess(
            "gateway", gateway_command(), env=env, log_path=work / "gateway.log", cwd=REPO
        )
        cafile = var_dir / "tls" / "cert.pem"
        url = f"https://localhost:{gateway_port}"
        wait_https(f"{url}/readyz", cafile, timeout_s=READY_TIMEOUT_S, proc=gateway)
        stack = SoakStack(
            gateway,
            serving,
            serving_port,
            url,
            cafile,
            api_key,
            var_dir,
            base / MODEL_NAME,
            work,
            cluster,
            store_url,
        )
        yield stack
    finally:
        if gateway is not None:
            gateway.stop()
        (stack.serving if stack is not None else serving).stop()
        if cluster is not None:
            cluster.remove()  # type: ignore[attr-defined]


class Publisher:
    """Publishes versions 2, 3, … of the tiny model into the served directory, each one
    a copy of one exported version and a single rename (as ``model_export`` publishes)."""

    def __init__(self, staged: Path) -> None:
        from tests.tiny_model import export_tiny_model

        self.staged = staged
        export_tiny_model(staged, MODEL_NAME, version=2, seed=2)
        self.next_version = 2
        self._lock = threading.Lock()

    def publish(self, model_dir: Path) -> int:
        """Publish the next version; its number."""
        with self._lock:
            version = self.next_version
            source = self.staged / MODEL_NAME / "2"
            copy = self.staged / MODEL_NAME / f".copy-{version}"
            shutil.copytree(source, copy)
            os.replace(copy, model_dir / str(version))
            self.next_version += 1
            return version
