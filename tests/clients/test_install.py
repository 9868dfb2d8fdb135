"""The SDK installs into a fresh virtual environment with nothing of the service in it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.clients.conftest import install_sdk, run_in

pytestmark = pytest.mark.slow


def test_the_sdk_installs_alone_and_runs(tmp_path: Path) -> None:
    bin_dir = install_sdk(tmp_path, "[cli]")
    python = str(bin_dir / "python")
    # From a folder outside the checkout, so the repository's packages are not on the path.
    check = (
        "import importlib.util, deepfake_client\n"
        "from deepfake_client import Client, AsyncClient\n"
        "present = [m for m in ('tensorflow', 'gateway', 'av', 'serving', 'contract')\n"
        "           if importlib.util.find_spec(m) is not None]\n"
        "assert not present, present\n"
        "print(deepfake_client.__version__)\n"
    )
    imported = run_in(tmp_path, python, "-c", check)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == "0.1.0"
    helped = run_in(tmp_path, str(bin_dir / "deepfake"), "--help")
    assert helped.returncode == 0, helped.stderr
    assert "detect" in helped.stdout and "webhook" in helped.stdout
    listed = run_in(tmp_path, python, "-m", "pip", "list", "--format=freeze")
    names = {line.split("==")[0].lower() for line in listed.stdout.splitlines()}
    assert not names & {"tensorflow", "av", "fastapi", "grpcio", "numpy"}, names
