"""End-to-end fixtures: the gateway factory is shared with the gateway tests.

``tiny_self_blend`` trains one tiny self-blended EfficientNet-Lite0 per test run: the xdist
workers share it through their common temporary directory, under a file lock, so the modules
that serve it (``test_self_blend``, ``test_track_ensemble``) pay for one training between them.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

import pytest

from model_export.cli import main as model_export
from tests.conftest import MODEL_NAME
from tests.gateway.conftest import gateway_factory
from tests.videos import write_clip

__all__ = ["copy_version", "gateway_factory", "tiny_self_blend", "train_tiny_face_model"]

#: ``train`` options of the tiny self-blended EfficientNet-Lite0: 64 px, two epochs (head,
#: then the last blocks), one blend per face and epoch (the plumbing is what is checked).
TINY_SELF_BLEND = (
    *("--arch", "efficientnet_lite0", "--input-size", "64", "--self-blend"),
    *("--epochs", "2", "--frames", "3", "--batch-size", "8", "--patience", "0"),
    *("--blend-draws", "1"),
)


def train_tiny_face_model(root: Path, *options: str) -> Path:
    """Train a tiny face-aware model on generated clips with ``train`` and publish version 1.

    Real clips show one face photograph over a moving pattern, fake ones two faces (a
    different look). ``options`` go to ``train`` (architecture, frames per clip...).
    Returns the model directory.
    """
    for i in range(3):
        write_clip(root / f"data/real/r{i}.mp4", frames=4, faces=1, width=320, height=240, seed=i)
        write_clip(root / f"data/fake/f{i}.mp4", frames=4, faces=2, width=320, height=240, seed=i)
    output = root / "models" / MODEL_NAME
    code = model_export(
        [
            "train", "--data", str(root / "data"), "--output", str(output),
            "--epochs", "1", "--input-size", "32", "--cache-dir", str(root / "cache"),
            "--val-fraction", "0.34", "--test-fraction", "0", *options,
        ]
    )  # fmt: skip
    assert code == 0
    return output


@pytest.fixture(scope="session")
def tiny_self_blend(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Version 1 of a tiny self-blended EfficientNet-Lite0 (``train --self-blend`` on
    generated clips), trained once per run. Read-only: copy it with :func:`copy_version`
    before publishing beside it."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # under xdist: where every worker's own is
        shared = shared.parent
    root = shared / "tiny-self-blend"
    version = root / "models" / MODEL_NAME / "1"
    with (shared / "tiny-self-blend.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the other worker waits here, then reuses it
        if not (root / "trained").exists():
            shutil.rmtree(root, ignore_errors=True)  # a training cut short leaves no half
            train_tiny_face_model(root, *TINY_SELF_BLEND)
            (root / "trained").touch()
    return version


def copy_version(version: Path, model_dir: Path) -> Path:
    """Copy a published version directory into ``model_dir`` under the same number."""
    target = model_dir / version.name
    shutil.copytree(version, target)
    return target
