"""Project-wide fixtures: exported models, the real local Serving, the real HTTPS gateway."""

from __future__ import annotations

import os
import ssl
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
    from serving.client import wait_until_available

    port = free_port()
    proc = ManagedProcess(
        "serving",
        serving_command(port, MODEL_NAME, model_dir, extra),
        log_path=log_path,
        cwd=REPO,
    )
    target = f"127.0.0.1:{port}"
    try:
        wait_until_available(target, MODEL_NAME, timeout_s, credentials=credentials)
    except TimeoutError:
        proc.stop()
        raise AssertionError(f"serving did not become ready:\n{proc.log_tail()}") from None
    return ServingHandle(proc, port, target, model_dir)


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


def start_gateway(
    var_dir: Path,
    serving_target: str,
    env: dict[str, str] | None = None,
    client_cert: tuple[Path, Path] | None = None,
) -> GatewayHandle:
    """Start ``python -m gateway`` over HTTPS on a free port and wait until it is ready."""
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
        **(env or {}),
    }
    var_dir.mkdir(parents=True, exist_ok=True)
    proc = ManagedProcess(
        "gateway", gateway_command(), env=full_env, log_path=var_dir / "gateway.log", cwd=REPO
    )
    cafile = var_dir / "tls" / "cert.pem"
    url = f"https://localhost:{port}"
    try:
        wait_https(f"{url}/healthz", cafile, timeout_s=60.0, proc=proc, client_cert=client_cert)
    except (TimeoutError, RuntimeError) as exc:
        proc.stop()
        raise AssertionError(f"gateway did not start: {exc}") from None
    key_file = var_dir / "api_key"
    api_key = key_file.read_text().strip() if key_file.exists() else ""
    return GatewayHandle(proc, url, cafile, api_key, var_dir, client_cert)


@pytest.fixture(scope="session")
def gateway(
    serving: ServingHandle, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayHandle]:
    """The real gateway over HTTPS, in front of the real local Serving."""
    handle = start_gateway(tmp_path_factory.mktemp("gateway-var"), serving.target)
    yield handle
    handle.process.stop()
