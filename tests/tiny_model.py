"""A tiny untrained model published in seconds, for test fixtures across the project."""

from __future__ import annotations

from pathlib import Path

import keras
from keras import layers

from model_export.export import publish_version

#: Input size of the tiny model; frames of any size are resized to it in the graph.
TINY_INPUT_SIZE = (32, 32)


def tiny_cnn(input_size: tuple[int, int] = (32, 32), seed: int = 0) -> keras.Model:
    """A very small untrained CNN whose weights depend only on ``seed``.

    Used for fixtures: two seeds give clearly different outputs.
    """
    # Wide initial weights so that outputs spread over (0, 1) with frame content.
    init = keras.initializers.RandomNormal(stddev=1.0, seed=seed)
    bias = keras.initializers.RandomNormal(stddev=0.5, seed=seed + 1)
    inputs = keras.Input((*input_size, 3), name="frames")
    x = layers.Conv2D(
        4,
        3,
        strides=2,
        activation="relu",
        kernel_initializer=init,
        bias_initializer=bias,
        name="conv1",
    )(inputs)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(
        1, activation="sigmoid", kernel_initializer=init, bias_initializer=bias, name="fc"
    )(x)
    return keras.Model(inputs, outputs, name=f"tiny_cnn_{seed}")


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
