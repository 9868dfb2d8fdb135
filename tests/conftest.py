"""Project-wide fixtures: exported models, the real local Serving, the real HTTPS gateway,
a throw-away PostgreSQL cluster."""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from stack.processes import (
    ManagedProcess,
    free_port,
    gateway_command,
    serving_command,
    wait_https,
)
from tests.pg_cluster import PrivateCluster
from tests.videos import write_clip

MODEL_NAME = "deepfake"
REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The labelled clips beside the checkout; tests using them skip where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"labelled clips not found at {SHARED_DATA} (only present in the dev setup)")
    return SHARED_DATA


@pytest.fixture
def make_clip(tmp_path: Path) -> Callable[..., Path]:
    """Encode an H.264 clip into the test's temporary folder: ``make_clip("a.mp4", frames=30)``."""

    def make(name: str = "clip.mp4", **kwargs: object) -> Path:
        return write_clip(tmp_path / name, **kwargs)  # type: ignore[arg-type]

    return make


@pytest.fixture(scope="session")
def model_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model base path holding version 1 of a tiny exported model."""
    from tests.tiny_model import export_tiny_model

    base = tmp_path_factory.mktemp("models")
    export_tiny_model(base, MODEL_NAME, version=1, seed=1, threshold=0.5)
    return base


@dataclass
class ServingHandle:
    process: ManagedProcess
    port: int
    target: str
    model_dir: Path

    def wait_ready(
        self, timeout_s: float = 120.0, credentials: object | None = None
    ) -> ServingHandle:
        """Wait until the model is AVAILABLE; the process is stopped if it never is."""
        from serving.client import wait_until_available

        try:
            wait_until_available(self.target, MODEL_NAME, timeout_s, credentials=credentials)
        except TimeoutError:
            self.process.stop()
            raise AssertionError(
                f"serving did not become ready:\n{self.process.log_tail()}"
            ) from None
        return self


def launch_serving(model_dir: Path, log_path: Path, extra: tuple[str, ...] = ()) -> ServingHandle:
    """Start ``python -m serving`` on a free port without waiting for it.

    Processes die with the thread that started them: launch from the test's own thread,
    then wait (several launched first boot side by side).
    """
    port = free_port()
    proc = ManagedProcess(
        "serving",
        serving_command(port, MODEL_NAME, model_dir, extra),
        log_path=log_path,
        cwd=REPO,
    )
    return ServingHandle(proc, port, f"127.0.0.1:{port}", model_dir)


def start_serving(
    model_dir: Path,
    log_path: Path,
    extra: tuple[str, ...] = (),
    timeout_s: float = 120.0,
    credentials: object | None = None,
) -> ServingHandle:
    """Start ``python -m serving`` on a free port and wait until the model is AVAILABLE.

    ``credentials`` (``grpc.ChannelCredentials``) are needed when the server speaks TLS.
    """
    return launch_serving(model_dir, log_path, extra).wait_ready(timeout_s, credentials)


@pytest.fixture(scope="session")
def serving(model_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServingHandle]:
    """The real local Serving process, loading the tiny model over real gRPC."""
    logs = tmp_path_factory.mktemp("serving-logs")
    handle = start_serving(model_base / MODEL_NAME, logs / "serving.log")
    yield handle
    handle.process.stop()


@dataclass
class GatewayHandle:
    process: ManagedProcess
    url: str
    cafile: Path
    api_key: str
    var_dir: Path
    client_cert: tuple[Path, Path] | None = None

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.cafile))
        if self.client_cert is not None:
            ctx.load_cert_chain(*self.client_cert)
        return ctx

    def client(self, **kwargs: object):  # type: ignore[no-untyped-def]
        import httpx

        return httpx.Client(base_url=self.url, verify=self.ssl_context(), timeout=120.0, **kwargs)

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def detect(self, clip: Path, **kwargs: object):  # type: ignore[no-untyped-def]
        """POST ``clip`` as a raw ``video/mp4`` body to ``/v1/detect`` with the API key."""
        with self.client() as client:
            return client.post(
                "/v1/detect",
                headers={**self.auth(), "Content-Type": "video/mp4"},
                content=clip.read_bytes(),
                **kwargs,
            )

    def wait_ready(self) -> GatewayHandle:
        """Wait until ``/healthz`` answers over HTTPS; the process is stopped if it never does."""
        try:
            wait_https(
                f"{self.url}/healthz",
                self.cafile,
                timeout_s=60.0,
                proc=self.process,
                client_cert=self.client_cert,
            )
        except (TimeoutError, RuntimeError) as exc:
            self.process.stop()
            raise AssertionError(f"gateway did not start: {exc}") from None
        key_file = self.var_dir / "api_key"
        self.api_key = key_file.read_text().strip() if key_file.exists() else ""
        return self


#: The per-key quotas of every test gateway whose test does not state its own: off. A
#: per-minute quota makes the outcome of a test that sends many requests depend on how fast
#: the machine sends them; the quotas' own tests (``tests/gateway/api/test_quotas.py``, the
#: jobs cap in ``tests/gateway/jobs/test_jobs_api.py``) set the figures they test.
UNLIMITED_QUOTAS = {"GATEWAY_RATE_LIMIT_PER_MIN": "0"}


def metric_total(gateway: GatewayHandle, name: str) -> float:
    """The sum over labels of the samples of metric ``name`` on ``gateway``'s ``/metrics``
    (0 when it has none yet)."""
    with gateway.client() as client:
        text = client.get("/metrics").text
    total = 0.0
    for line in text.splitlines():
        sample, _, value = line.rpartition(" ")
        if sample.split("{", 1)[0] == name:
            total += float(value)
    return total


def quota_refusals(gateway: GatewayHandle) -> float:
    """Requests ``gateway`` has refused for a per-key quota so far."""
    return metric_total(gateway, "gateway_rate_limited_total")


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    """Poll ``condition`` until it holds; fail with ``what`` if it never does.

    In place of a fixed sleep: a sleep long enough for this machine is too short for a
    slower one and wasted on a faster one.
    """
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        time.sleep(0.05)


def uploads_receiving(gateway: GatewayHandle) -> float:
    """Uploads ``gateway`` is receiving now (each holds its key's quota slot)."""
    return metric_total(gateway, "gateway_uploads_receiving")


def launch_gateway(
    var_dir: Path,
    serving_target: str,
    env: dict[str, str] | None = None,
    client_cert: tuple[Path, Path] | None = None,
) -> GatewayHandle:
    """Start ``python -m gateway`` over HTTPS on a free port without waiting for it
    (see :func:`launch_serving`); :meth:`GatewayHandle.wait_ready` waits."""
    port = free_port()
    full_env = {
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(port),
        "GATEWAY_VAR_DIR": str(var_dir),
        "SERVING_TARGET": serving_target,
        "MODEL_NAME": MODEL_NAME,
        "GATEWAY_API_KEYS": "",
        "GATEWAY_TLS_CERT": "",
        "GATEWAY_TLS_KEY": "",
        **UNLIMITED_QUOTAS,
        **(env or {}),
    }
    var_dir.mkdir(parents=True, exist_ok=True)
    proc = ManagedProcess(
        "gateway", gateway_command(), env=full_env, log_path=var_dir / "gateway.log", cwd=REPO
    )
    cafile = var_dir / "tls" / "cert.pem"
    return GatewayHandle(proc, f"https://localhost:{port}", cafile, "", var_dir, client_cert)


def start_gateway(
    var_dir: Path,
    serving_target: str,
    env: dict[str, str] | None = None,
    client_cert: tuple[Path, Path] | None = None,
) -> GatewayHandle:
    """Start ``python -m gateway`` over HTTPS on a free port and wait until it is ready."""
    return launch_gateway(var_dir, serving_target, env, client_cert).wait_ready()


@pytest.fixture(scope="session")
def gateway(
    serving: ServingHandle, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayHandle]:
    """The real gateway over HTTPS, in front of the real local Serving."""
    handle = start_gateway(tmp_path_factory.mktemp("gateway-var"), serving.target)
    yield handle
    handle.process.stop()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A private PostgreSQL cluster on a unix socket in a temporary folder, stopped after."""
    try:
        cluster = PrivateCluster.create()
    except (FileNotFoundError, RuntimeError) as exc:
        # Never skipped: CI installs PostgreSQL (make postgresql), so its absence is a failure.
        pytest.fail(str(exc), pytrace=False)
    try:
        yield cluster.url
    finally:
        cluster.remove()


@pytest.fixture
def own_postgres() -> Iterator[PrivateCluster]:
    """A PostgreSQL cluster of the test's own, which it may stop and start (an outage
    that the session's shared cluster must not have)."""
    try:
        cluster = PrivateCluster.create()
    except (FileNotFoundError, RuntimeError) as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield cluster
    finally:
        cluster.remove()
