"""Every package says what it holds, and its public surface resolves."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ["contract", "gateway", "serving", "model_export", "stack", "bench"]


@pytest.mark.parametrize("name", PACKAGES)
def test_every_module_has_a_docstring(name: str) -> None:
    missing = [
        str(path.relative_to(REPO))
        for path in sorted((REPO / name).rglob("*.py"))
        if not path.read_text().lstrip().startswith(('"""', 'r"""'))
    ]
    assert not missing, f"modules without a docstring: {missing}"


@pytest.mark.parametrize("name", ["contract", "gateway", "serving"])
def test_public_names_resolve(name: str) -> None:
    # A fresh interpreter: gateway's names load TF Serving's protos on first use.
    # (Their order is ruff's RUF022 to keep.)
    code = f"import {name} as p; [getattr(p, n) for n in p.__all__]; print(len(p.__all__))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout.strip()) > 0


def test_contract_exports_every_public_constant() -> None:
    contract = importlib.import_module("contract")
    public = {
        n
        for n, v in vars(contract).items()
        if not n.startswith("_")
        and (n.isupper() or callable(v))
        and getattr(v, "__module__", "contract") == "contract"
    }
    public -= {"Literal", "annotations"}
    assert public <= set(contract.__all__), sorted(public - set(contract.__all__))
