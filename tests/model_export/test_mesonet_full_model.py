"""MesoNet from a Keras 2.4 full-model ``.hdf5`` (the layout of MalayAgr's retrained Meso-4).

The file here is a tiny stand-in written with h5py in that layout, not the shared weights:
the weights sit under ``model_weights`` beside ``optimizer_weights``, the numeric suffixes
start past 1 and cross 9 -> 10, and each convolution is linear with a separate ``ReLU``
layer (Conv -> ReLU -> BN), which the rebuilt Meso-4 (Conv with relu -> BN) must equal.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
from keras import layers

from model_export.mesonet import load_mesonet

# conv2d_8..11, batch_normalization_8..11, dense_9..10: suffix order is not string order.
_FIRST = {"conv2d": 8, "batch_normalization": 8, "dense": 9}


def _keras24_meso4(seed: int) -> keras.Model:
    """Meso-4 as MalayAgr's ``build_model`` lays it out, with random weights and BN statistics."""
    keras.utils.set_random_seed(seed)
    count = dict(_FIRST)

    def name(kind: str) -> str:
        count[kind] += 1
        return f"{kind}_{count[kind] - 1}"

    inputs = keras.Input((256, 256, 3))
    x = inputs
    for filters, kernel, pool in ((8, 3, 2), (8, 5, 2), (16, 5, 2), (16, 5, 4)):
        x = layers.Conv2D(filters, kernel, padding="same", name=name("conv2d"))(x)
        x = layers.ReLU()(x)
        x = layers.BatchNormalization(name=name("batch_normalization"))(x)
        x = layers.MaxPooling2D(pool, padding="same")(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.5)(x)
    x = layers.Dense(16, name=name("dense"))(x)
    x = layers.LeakyReLU(negative_slope=0.1)(x)
    x = layers.Dropout(0.5)(x)
    model = keras.Model(inputs, layers.Dense(1, activation="sigmoid", name=name("dense"))(x))
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([
                rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.1, beta.shape),
                rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 1.5, var.shape),
            ])  # fmt: skip
    return model


def _write_keras24_hdf5(model: keras.Model, path: Path) -> None:
    """Save ``model`` as Keras 2.4 ``model.save(...h5)`` did: config, weights, optimizer."""
    with h5py.File(path, "w") as handle:
        handle.attrs["keras_version"] = b"2.4.0"
        handle.attrs["backend"] = b"tensorflow"
        handle.attrs["model_config"] = json.dumps({"class_name": "Functional"}).encode()
        root = handle.create_group("model_weights")
        root.attrs["keras_version"] = b"2.4.0"
        root.attrs["backend"] = b"tensorflow"
        root.attrs["layer_names"] = [layer.name.encode() for layer in model.layers]
        for layer in model.layers:
            group = root.create_group(layer.name)
            names = [f"{layer.name}/{w.name}:0".encode() for w in layer.weights]
            group.attrs["weight_names"] = names
            for raw, value in zip(names, layer.get_weights(), strict=True):
                group[raw.decode()] = value
        handle.create_group("optimizer_weights").create_group("Adam")["iter:0"] = np.int64(7)


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, keras.Model, np.ndarray]:
    model = _keras24_meso4(seed=3)
    path = tmp_path_factory.mktemp("weights") / "model_18epochs.hdf5"
    _write_keras24_hdf5(model, path)
    faces = np.random.default_rng(4).integers(0, 256, (6, 256, 256, 3), dtype=np.uint8)
    return path, model, faces


def test_full_model_file_loads_as_meso4(stand_in: tuple[Path, keras.Model, np.ndarray]) -> None:
    path, reference, faces = stand_in
    expected = np.asarray(reference(faces / 255.0)).reshape(-1)
    got = np.asarray(load_mesonet(path, "meso4")(faces / 255.0)).reshape(-1)
    assert expected.std() > 1e-3  # the stand-in's outputs differ between faces
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_full_model_file_is_refused_as_mesoinception4(
    stand_in: tuple[Path, keras.Model, np.ndarray],
) -> None:
    with pytest.raises(ValueError, match=r"layers|shapes"):
        load_mesonet(stand_in[0], "mesoinception4")
