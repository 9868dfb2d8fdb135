"""The production files are valid: compose file against the Compose schema, Dockerfiles linted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dockerfile
import pytest
import yaml

from tests.conftest import REPO

COMPOSE = REPO / "docker-compose.yml"


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[name.split("[", 1)[0].strip().lower().replace("_", "-")] = version.strip()
    return pins


def test_compose_file_matches_the_compose_schema() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_stack_shape() -> None:
    spec = yaml.safe_load(COMPOSE.read_text())
    services = spec["services"]
    serving, gateway = services["serving"], services["gateway"]
    image, _, tag = serving["image"].partition(":")
    assert image == "tensorflow/serving" and tag.endswith("-gpu") and tag[0].isdigit()
    devices = serving["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    assert "healthcheck" in serving and "healthcheck" in gateway
    assert gateway["depends_on"]["serving"]["condition"] == "service_healthy"
    assert gateway["build"]["dockerfile"] == "Dockerfile.gateway"
    assert set(gateway["secrets"]) == {"gateway_tls_cert", "gateway_tls_key"}
    assert services["export"]["profiles"] == ["tools"]
    # Every config file mounted into Serving exists in the repository.
    for volume in serving["volumes"]:
        source = volume.split(":", 1)[0]
        if source.startswith("./") and source != "./models":
            assert (REPO / source).is_file(), source
    flags = " ".join(serving["command"])
    for flag in (
        "--model_config_file=",
        "--batching_parameters_file=",
        "--monitoring_config_file=",
    ):
        assert flag in flags


@pytest.mark.parametrize("name", ["Dockerfile.gateway", "Dockerfile.export"])
def test_dockerfiles_lint(name: str) -> None:
    commands = dockerfile.parse_file(str(REPO / name))
    froms = [c for c in commands if c.cmd == "FROM"]
    assert froms, "no FROM"
    for c in froms:
        image = c.value[0]
        assert ":" in image and not image.endswith(":latest"), f"unpinned base image {image}"
    users = [c.value[0] for c in commands if c.cmd == "USER"]
    assert users and users[-1] not in ("root", "0"), "the final stage must not run as root"
    assert not any(c.cmd == "ADD" for c in commands), "use COPY, not ADD"
    for c in commands:
        if c.cmd == "RUN" and "pip install" in c.original:
            assert "--no-cache-dir" in c.original
        if c.cmd == "COPY":
            for source in c.value[:-1]:
                if not any(f.startswith("--from") for f in c.flags):
                    assert (REPO / source).exists(), f"COPY of missing {source}"
    if name == "Dockerfile.gateway":
        assert any(c.cmd == "HEALTHCHECK" for c in commands)
        text = (REPO / name).read_text()
        run_install = [
            c.original for c in commands if c.cmd == "RUN" and "pip install" in c.original
        ]
        assert not any("tensorflow" in line for line in run_install), "runtime TF in the image"
        assert "requirements.txt" in text


def test_gateway_image_pins_agree_with_the_lock() -> None:
    lock = _pins(REPO / "requirements.lock")
    for name, version in _pins(REPO / "gateway" / "requirements.txt").items():
        assert lock.get(name) == version, f"{name}=={version} but lock has {lock.get(name)}"


def test_gateway_runs_without_the_tensorflow_runtime() -> None:
    """What the slim image relies on: the gateway process never imports TensorFlow's runtime."""
    code = (
        "import sys\n"
        "from gateway.upstream._protos import use_protos_without_tensorflow_runtime as f\n"
        "assert f()\n"
        "import gateway.api.app, gateway.upstream.serving_client\n"
        "import tensorflow\n"
        "assert not hasattr(tensorflow, 'constant'), 'runtime imported'\n"
        "assert 'tensorflow.python' not in sys.modules\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_local_secrets_never_enter_a_build_context() -> None:
    ignored = {
        line.strip().rstrip("/")
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    # var/ holds the TLS key, the API key and the key-encryption key.
    assert {"var", "models", ".venv"} <= ignored
