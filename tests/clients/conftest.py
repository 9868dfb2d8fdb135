"""Fixtures of the SDK's tests: clients and the installed ``deepfake`` command, on the real
HTTPS gateway (``tests/conftest.py``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from deepfake_client import Client

from tests.conftest import REPO, GatewayHandle, ServingHandle, start_gateway

#: The ``deepfake`` command installed beside the interpreter running the tests.
DEEPFAKE = Path(sys.executable).parent / "deepfake"


@pytest.fixture
def client(gateway: GatewayHandle) -> Iterator[Client]:
    """An SDK client of the shared gateway, trusting its CA file."""
    with Client(gateway.url, api_key=gateway.api_key, ca_cert=gateway.cafile) as c:
        yield c


@pytest.fixture(scope="session")
def live_openapi(gateway: GatewayHandle) -> dict:
    """The shared gateway's own ``/openapi.json``."""
    with gateway.client() as http:
        response = http.get("/openapi.json")
    response.raise_for_status()
    return response.json()


@pytest.fixture
def own_gateway(serving: ServingHandle, tmp_path: Path) -> Iterator[Callable[..., GatewayHandle]]:
    """``own_gateway(**env)`` starts a gateway with its own settings, stopped after the test."""
    started: list[GatewayHandle] = []

    def start(**env: str) -> GatewayHandle:
        handle = start_gateway(tmp_path / f"gw{len(started)}", serving.target, env)
        started.append(handle)
        return handle

    yield start
    for handle in started:
        handle.process.stop()


def cli_env(gateway: GatewayHandle, **extra: str) -> dict[str, str]:
    """The environment of a ``deepfake`` run against ``gateway``, settings from variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEEPFAKE_")}
    env.update(
        DEEPFAKE_URL=gateway.url,
        DEEPFAKE_API_KEY=gateway.api_key,
        DEEPFAKE_CA_CERT=str(gateway.cafile),
        COLUMNS="200",
    )
    env.update(extra)
    return env


@pytest.fixture
def deepfake(gateway: GatewayHandle) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``deepfake(*args)`` runs the installed command against the shared gateway."""
    assert DEEPFAKE.exists(), f"{DEEPFAKE} missing: pip install -e 'clients/python[cli]'"

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(DEEPFAKE), *args],
            env=env if env is not None else cli_env(gateway),
            capture_output=True,
            text=True,
            timeout=300,
        )

    return run


def gateway_has_jobs(openapi: dict) -> bool:
    """Whether the gateway under test serves the jobs API."""
    return "/v1/jobs" in openapi.get("paths", {})


def run_in(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``args`` in ``cwd`` without the ``PYTHONPATH``/``PYTHONHOME`` of the tests, so
    that a fresh venv's interpreter sees only what is installed in it."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def install_sdk(root: Path, extras: str = "") -> Path:
    """Make a fresh venv in ``root/venv`` (no system site packages) and install the
    checkout's SDK into it, with ``extras`` such as ``"[cli]"``, pinned by
    ``requirements.lock``. Returns the venv's ``bin`` folder."""
    venv = root / "venv"
    made = run_in(root, sys.executable, "-m", "venv", str(venv))
    assert made.returncode == 0, made.stderr
    # A copy, so that the build leaves nothing in the checkout.
    source = shutil.copytree(
        REPO / "clients" / "python",
        root / "src",
        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".ruff_cache"),
    )
    lock = str(REPO / "requirements.lock")
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "-c", lock]
    installed = run_in(root, *pip, f"{source}{extras}")
    assert installed.returncode == 0, installed.stderr[-3000:]
    return venv / "bin"


def with_claim(receipt: str, name: str, value: object) -> str:
    """``receipt`` with claim ``name`` set to ``value``, the payload re-encoded and the
    signature kept: a forgery that only the signature check can catch."""
    import base64
    import json

    import jwt

    header, _, signature = receipt.split(".")
    claims = {**jwt.decode(receipt, options={"verify_signature": False}), name: value}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{payload}.{signature}"
