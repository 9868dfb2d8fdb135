"""Fixtures of the model_export tests: tiny exported versions and small clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.tiny_model import export_tiny_model

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def tiny_version(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One published tiny version (seed 0, threshold 0.25)."""
    base = tmp_path_factory.mktemp("models")
    return export_tiny_model(base, "tiny", seed=0, threshold=0.25)


@pytest.fixture
def frames() -> np.ndarray:
    """Five RGB frames of an odd size with distinct content."""
    rng = np.random.default_rng(7)
    out = rng.integers(0, 256, size=(5, 90, 150, 3), dtype=np.uint8)
    out[1] = 0
    out[2] = 255
    out[3, :, :, 0] = 255
    return out
