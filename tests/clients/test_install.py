"""The SDK installs into a fresh virtual environment with nothing of the service in it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600)


def test_the_sdk_installs_alone_and_runs(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    made = _run(sys.executable, "-m", "venv", str(venv), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    # A copy, so that the build leaves nothing in the checkout.
    source = shutil.copytree(
        REPO / "clients" / "python",
        tmp_path / "src",
        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".ruff_cache"),
    )
    installed = _run(
        str(python),
        "-m",
        "pip",
        "install",
        "--quiet",
        "-c",
        str(REPO / "requirements.lock"),
        f"{source}[cli]",
        cwd=tmp_path,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    # From a folder outside the checkout, so the repository's packages are not on the path.
    check = (
        "import importlib.util, deepfake_client\n"
        "from deepfake_client import Client, AsyncClient\n"
        "present = [m for m in ('tensorflow', 'gateway', 'av', 'serving', 'contract')\n"
        "           if importlib.util.find_spec(m) is not None]\n"
        "assert not present, present\n"
        "print(deepfake_client.__version__)\n"
    )
    imported = _run(str(python), "-c", check, cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == "0.1.0"
    helped = _run(str(venv / "bin" / "deepfake"), "--help", cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr
    assert "detect" in helped.stdout and "webhook" in helped.stdout
    listed = _run(str(python), "-m", "pip", "list", "--format=freeze", cwd=tmp_path)
    names = {line.split("==")[0].lower() for line in listed.stdout.splitlines()}
    assert not names & {"tensorflow", "av", "fastapi", "grpcio", "numpy"}, names
