"""End-to-end fixtures: the gateway factory is shared with the gateway tests."""

from __future__ import annotations

from pathlib import Path

from model_export.cli import main as model_export
from tests.conftest import MODEL_NAME
from tests.gateway.conftest import gateway_factory
from tests.videos import write_clip

__all__ = ["gateway_factory", "train_tiny_face_model"]


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
