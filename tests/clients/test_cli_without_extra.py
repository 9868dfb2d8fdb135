"""Installed without its ``cli`` extra, the SDK still imports, and the ``deepfake`` command
says in one line what to install instead of failing with a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.clients.conftest import install_sdk, run_in

pytestmark = pytest.mark.slow

HINT = "pip install 'deepfake-client[cli]'"


@pytest.fixture(scope="module")
def bare_sdk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``bin`` folder of a fresh venv holding the SDK alone (no typer, no rich)."""
    return install_sdk(tmp_path_factory.mktemp("bare-sdk"))


@pytest.mark.parametrize("args", [("--help",), ("detect", "x.mp4")], ids=["help", "detect"])
def test_the_command_names_the_extra(bare_sdk: Path, args: tuple[str, ...]) -> None:
    run = run_in(bare_sdk.parent.parent, str(bare_sdk / "deepfake"), *args)
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and HINT in lines[0], run.stderr
    assert run.stdout == ""


def test_the_library_imports_without_the_extra(bare_sdk: Path) -> None:
    check = (
        "import importlib.util\n"
        "from deepfake_client import Client, errors\n"
        "missing = [m for m in ('typer', 'rich') if importlib.util.find_spec(m) is None]\n"
        "print(' '.join(missing), Client.__name__, errors.ApiError.__name__)\n"
    )
    run = run_in(bare_sdk.parent.parent, str(bare_sdk / "python"), "-c", check)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["typer", "rich", "Client", "ApiError"]
