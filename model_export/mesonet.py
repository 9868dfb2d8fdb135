"""MesoNet (Afchar et al., WIFS 2018) rebuilt in Keras 3 from its published ``.h5`` weights.

The published files (Keras 2.1.5, weights only) name layers ``conv2d_5``,
``batch_normalization_5``, ... with numeric suffixes that depend on how many layers the
authors' session had created before. Within each layer type the suffixes still follow
creation order, so layers are matched by type and sorted suffix, never by absolute name.
Keras 2.4 full-model files (``model.save(...h5)``: config, ``model_weights`` and optimizer
state), such as the Meso-4 that MalayAgr/MesoNet-DeepFakeDetection retrained, load the same
way with ``meso4``: only their weighted layers are read, and their linear convolutions
followed by a separate ``ReLU`` layer compute what the builder's relu convolutions do.
The published networks output about 1 for REAL; :func:`fake_probability_model` inverts
that into the contract's fake probability, and :func:`import_mesonet` publishes the result
face-aware (``python -m model_export import-mesonet``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

import h5py
import keras
import numpy as np
from keras import layers

from model_export.calibration import IDENTITY, Calibration
from model_export.datasets import discover
from model_export.evaluate import calibrate_version
from model_export.face_export import FaceConfig, publish_face_version, write_face_saved_model
from model_export.gate import auc_gate

log = logging.getLogger(__name__)

#: Input side of both MesoNet variants (face crops, RGB in [0, 1]).
MESONET_INPUT_SIZE = (256, 256)
ARCHITECTURES = ("meso4", "mesoinception4")
_SUFFIX = re.compile(r"^(?P<kind>.+?)_(?P<index>\d+)$")
# Keras 2 layer-name prefixes of the layers that carry weights, mapped to Keras 3 classes.
_KINDS = {
    "conv2d": layers.Conv2D,
    "batch_normalization": layers.BatchNormalization,
    "dense": layers.Dense,
}


class _Names:
    """Names weighted layers ``<kind>_<n>`` in creation order, as Keras 2 numbered them."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def __call__(self, kind: str) -> str:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        return f"{kind}_{self.counts[kind]}"


def _head(x: keras.KerasTensor, name: _Names) -> keras.KerasTensor:
    x = layers.Flatten()(x)
    x = layers.Dropout(0.5)(x)
    x = layers.Dense(16, name=name("dense"))(x)
    x = layers.LeakyReLU(negative_slope=0.1)(x)
    x = layers.Dropout(0.5)(x)
    return layers.Dense(1, activation="sigmoid", name=name("dense"))(x)


def _conv(name: _Names, filters: int, kernel: int, dilation: int = 1) -> layers.Conv2D:
    return layers.Conv2D(
        filters,
        kernel,
        dilation_rate=dilation,
        padding="same",
        activation="relu",
        name=name("conv2d"),
    )


def _conv_block(
    x: keras.KerasTensor, name: _Names, filters: int, kernel: int, pool: int
) -> keras.KerasTensor:
    x = _conv(name, filters, kernel)(x)
    x = layers.BatchNormalization(name=name("batch_normalization"))(x)
    return layers.MaxPooling2D(pool, padding="same")(x)


def _inception(
    x: keras.KerasTensor, name: _Names, a: int, b: int, c: int, d: int
) -> keras.KerasTensor:
    x1 = _conv(name, a, 1)(x)
    x2 = _conv(name, b, 1)(x)
    x2 = _conv(name, b, 3)(x2)
    x3 = _conv(name, c, 1)(x)
    x3 = _conv(name, c, 3, dilation=2)(x3)
    x4 = _conv(name, d, 1)(x)
    x4 = _conv(name, d, 3, dilation=3)(x4)
    return layers.Concatenate(axis=-1)([x1, x2, x3, x4])


def build_meso4(input_size: tuple[int, int] = MESONET_INPUT_SIZE) -> keras.Model:
    """Meso-4: four conv blocks and a small dense head; output ~1 = REAL."""
    name = _Names()
    inputs = keras.Input((*input_size, 3))
    x = _conv_block(inputs, name, 8, 3, 2)
    x = _conv_block(x, name, 8, 5, 2)
    x = _conv_block(x, name, 16, 5, 2)
    x = _conv_block(x, name, 16, 5, 4)
    return keras.Model(inputs, _head(x, name), name="meso4")


def build_mesoinception4(input_size: tuple[int, int] = MESONET_INPUT_SIZE) -> keras.Model:
    """MesoInception-4: two inception blocks, two conv blocks; output ~1 = REAL."""
    name = _Names()
    inputs = keras.Input((*input_size, 3))
    x = _inception(inputs, name, 1, 4, 4, 2)
    x = layers.BatchNormalization(name=name("batch_normalization"))(x)
    x = layers.MaxPooling2D(2, padding="same")(x)
    x = _inception(x, name, 2, 4, 4, 2)
    x = layers.BatchNormalization(name=name("batch_normalization"))(x)
    x = layers.MaxPooling2D(2, padding="same")(x)
    x = _conv_block(x, name, 16, 5, 2)
    x = _conv_block(x, name, 16, 5, 4)
    return keras.Model(inputs, _head(x, name), name="mesoinception4")


def build(arch: str, input_size: tuple[int, int] = MESONET_INPUT_SIZE) -> keras.Model:
    """Build the named architecture (``meso4`` or ``mesoinception4``), untrained.

    Trained from scratch its sigmoid is simply the fake probability (label 1 = fake).
    """
    if arch == "meso4":
        return build_meso4(input_size)
    if arch == "mesoinception4":
        return build_mesoinception4(input_size)
    raise ValueError(f"unknown MesoNet architecture {arch!r}; choose from {ARCHITECTURES}")


def _h5_layers(path: Path) -> dict[str, list[tuple[int, list[np.ndarray]]]]:
    """Weight arrays of the weighted layers in a Keras 2 ``.h5`` file, by kind and suffix.

    Weights-only files keep the layers at the root, full-model files under ``model_weights``.
    """
    found: dict[str, list[tuple[int, list[np.ndarray]]]] = {kind: [] for kind in _KINDS}
    with h5py.File(path, "r") as handle:
        root = handle.get("model_weights", handle)
        for raw in root.attrs["layer_names"]:
            name = raw.decode() if isinstance(raw, bytes) else str(raw)
            match = _SUFFIX.match(name)
            if not match or match["kind"] not in _KINDS:
                continue
            group = root[name]
            names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]]
            found[match["kind"]].append(
                (int(match["index"]), [np.asarray(group[n]) for n in names])
            )
    for entries in found.values():
        entries.sort(key=lambda item: item[0])
    return found


def load_published_weights(model: keras.Model, path: Path) -> None:
    """Assign the weights of a published MesoNet ``.h5`` to ``model``, by suffix order.

    Raises ``ValueError`` when the file's layers do not fit the architecture (a count or a
    shape differs), so a wrong ``--arch`` fails loudly instead of exporting garbage.
    """
    stored = _h5_layers(Path(path))
    for kind, cls in _KINDS.items():
        targets = [layer for layer in model.layers if type(layer) is cls]
        if len(targets) != len(stored[kind]):
            raise ValueError(
                f"{path} has {len(stored[kind])} {kind} layers, {model.name} has {len(targets)}"
            )
        # The n-th stored layer of a kind (by suffix) is the n-th one the builder created.
        for n, (index, arrays) in enumerate(stored[kind], start=1):
            layer = model.get_layer(f"{kind}_{n}")
            expected = [tuple(w.shape) for w in layer.get_weights()]
            if expected != [a.shape for a in arrays]:
                raise ValueError(f"{kind}_{index} shapes {[a.shape for a in arrays]} != {expected}")
            layer.set_weights(arrays)
    log.info("loaded MesoNet weights", extra={"path": str(path), "model": model.name})


def load_mesonet(path: Path, arch: str) -> keras.Model:
    """The published MesoNet at ``path`` as a Keras model (output ~1 = REAL)."""
    model = build(arch)
    load_published_weights(model, path)
    return model


def fake_probability_model(real_model: keras.Model) -> keras.Model:
    """Wrap a network whose output is P(REAL) so that it returns P(FAKE) = 1 - P(REAL)."""
    inputs = keras.Input(real_model.input_shape[1:])
    outputs = keras.ops.subtract(1.0, real_model(inputs))
    return keras.Model(inputs, outputs, name=f"{real_model.name}_fake")


def import_mesonet(
    weights: Path,
    arch: str,
    output: Path,
    *,
    threshold: float = 0.5,
    margin: float,
    calibrate_data: Sequence[Path] | None = None,
    gate_data: Sequence[Path] | None = None,
    frames_per_video: int,
    version: int | None = None,
    calibration: Calibration = IDENTITY,
) -> tuple[Path, float]:
    """Publish published MesoNet weights face-aware as the next version under ``output``.

    With ``calibrate_data`` the probabilities are Platt-scaled and the threshold chosen there
    (video level, see :func:`model_export.evaluate.calibrate_version`) instead of
    ``calibration`` (fitted beforehand; default the identity) and ``threshold`` (on the
    uncalibrated scale); with ``gate_data`` the version must not score below the serving
    one. Returns the version directory and the threshold it ships (calibrated scale).
    """
    model = fake_probability_model(load_mesonet(weights, arch))
    faces = FaceConfig(margin=margin)
    name = output.name
    evidence = None
    if calibrate_data:
        calibration, threshold, evidence = calibrate_version(
            lambda path: write_face_saved_model(
                model, path, name=name, threshold=0.5, input_size=MESONET_INPUT_SIZE, faces=faces
            ),
            calibrate_data,
            frames_per_video,
        )
    gate = auc_gate(output, discover(gate_data), frames_per_video) if gate_data else None
    path = publish_face_version(
        model,
        output.parent,
        name,
        threshold=threshold,
        input_size=MESONET_INPUT_SIZE,
        faces=faces,
        version=version,
        calibration=calibration,
        evidence=evidence,
        info={
            "kind": "mesonet",
            "arch": arch,
            "weights": weights.name,
            "calibrated_on": [str(p) for p in calibrate_data or []],
        },
        gate=gate,
    )
    return path, calibration.apply_threshold(threshold)
