"""A tiny untrained model published in seconds, for test fixtures across the project."""

from __future__ import annotations

from pathlib import Path

from model_export.models import tiny_cnn
from model_export.publish import publish_version

#: Input size of the tiny model; frames of any size are resized to it in the graph.
TINY_INPUT_SIZE = (32, 32)


def export_tiny_model(
    base_path: Path,
    name: str,
    version: int | None = None,
    seed: int = 0,
    threshold: float = 0.5,
) -> Path:
    """Publish a tiny untrained CNN as a version of ``name`` under ``base_path``.

    Weights are deterministic in ``seed`` (two seeds give different outputs), the graph
    honours the wire contract, warmup records are included, and publishing is atomic.
    Returns the version directory.
    """
    model = tiny_cnn(TINY_INPUT_SIZE, seed=seed)
    return publish_version(
        model,
        Path(base_path),
        name,
        threshold=threshold,
        input_size=TINY_INPUT_SIZE,
        version=version,
        info={"kind": "tiny", "seed": seed},
    )
