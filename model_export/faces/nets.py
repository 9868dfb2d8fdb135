"""MTCNN's three networks as Keras models, loaded with the weights the ``mtcnn`` wheel ships.

The ``mtcnn`` package (1.0.0) stores the weights of its P-, R- and O-Net as joblib/lz4 lists of
arrays under ``mtcnn/assets/weights``; nothing is downloaded. The layers here follow the
package's architecture (Caffe's MTCNN): images in ``[N, H, W, 3]`` RGB, normalised as
``(x - 127.5) / 128``, with R- and O-Net flattening their last feature map after swapping
height and width, the order Caffe flattened in and the weights were trained for.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from pathlib import Path
from typing import NamedTuple

import joblib
import keras
import numpy as np

logger = logging.getLogger(__name__)

#: Weight arrays per layer, in the order the package stores them.
_LAYER_WEIGHTS = {
    "pnet": [
        ("conv1", 2), ("prelu1", 1), ("conv2", 2), ("prelu2", 1), ("conv3", 2), ("prelu3", 1),
        ("conv4_1", 2), ("conv4_2", 2),
    ],
    "rnet": [
        ("conv1", 2), ("prelu1", 1), ("conv2", 2), ("prelu2", 1), ("conv3", 2), ("prelu3", 1),
        ("fc4", 2), ("prelu4", 1), ("fc5_1", 2), ("fc5_2", 2),
    ],
    "onet": [
        ("conv1", 2), ("prelu1", 1), ("conv2", 2), ("prelu2", 1), ("conv3", 2), ("prelu3", 1),
        ("conv4", 2), ("prelu4", 1), ("fc5", 2), ("prelu5", 1),
        ("fc6_1", 2), ("fc6_2", 2), ("fc6_3", 2),
    ],
}  # fmt: skip


class MtcnnNets(NamedTuple):
    """The three MTCNN stages; ``track`` each one in an ``ExportArchive`` that uses them."""

    pnet: keras.Model
    rnet: keras.Model
    onet: keras.Model


def weights_dir() -> Path:
    """Directory of the weight files inside the installed ``mtcnn`` package."""
    spec = importlib.util.find_spec("mtcnn")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("the mtcnn package is not installed; it ships the weights")
    return Path(spec.origin).parent / "assets" / "weights"


def _conv_block(x: keras.KerasTensor, filters: int, kernel: int, index: int) -> keras.KerasTensor:
    x = keras.layers.Conv2D(filters, kernel, padding="valid", name=f"conv{index}")(x)
    return keras.layers.PReLU(shared_axes=[1, 2], name=f"prelu{index}")(x)


def build_pnet() -> keras.Model:
    """Proposal net: fully convolutional, any input size; 12x12 windows at stride 2."""
    inputs = keras.Input([None, None, 3], name="image")
    x = _conv_block(inputs, 10, 3, 1)
    x = keras.layers.MaxPooling2D(2, 2, padding="same", name="pool1")(x)
    x = _conv_block(x, 16, 3, 2)
    x = _conv_block(x, 32, 3, 3)
    regression = keras.layers.Conv2D(4, 1, name="conv4_1")(x)
    probability = keras.layers.Conv2D(2, 1, activation="softmax", name="conv4_2")(x)
    return keras.Model(inputs, [regression, probability], name="mtcnn_pnet")


def _caffe_flatten(x: keras.KerasTensor) -> keras.KerasTensor:
    # Caffe flattened feature maps width-major; swap H and W so the dense weights line up.
    x = keras.layers.Permute((2, 1, 3), name="permute")(x)
    return keras.layers.Flatten(name="flatten")(x)


def build_rnet() -> keras.Model:
    """Refine net on 24x24 patches: box regression and face probability."""
    inputs = keras.Input([24, 24, 3], name="patch")
    x = _conv_block(inputs, 28, 3, 1)
    x = keras.layers.MaxPooling2D(3, 2, padding="same", name="pool1")(x)
    x = _conv_block(x, 48, 3, 2)
    x = keras.layers.MaxPooling2D(3, 2, padding="valid", name="pool2")(x)
    x = _conv_block(x, 64, 2, 3)
    x = keras.layers.Dense(128, name="fc4")(_caffe_flatten(x))
    x = keras.layers.PReLU(name="prelu4")(x)
    regression = keras.layers.Dense(4, name="fc5_1")(x)
    probability = keras.layers.Dense(2, activation="softmax", name="fc5_2")(x)
    return keras.Model(inputs, [regression, probability], name="mtcnn_rnet")


def build_onet() -> keras.Model:
    """Output net on 48x48 patches: box regression, five landmarks, face probability."""
    inputs = keras.Input([48, 48, 3], name="patch")
    x = _conv_block(inputs, 32, 3, 1)
    x = keras.layers.MaxPooling2D(3, 2, padding="same", name="pool1")(x)
    x = _conv_block(x, 64, 3, 2)
    x = keras.layers.MaxPooling2D(3, 2, padding="valid", name="pool2")(x)
    x = _conv_block(x, 64, 3, 3)
    x = keras.layers.MaxPooling2D(2, 2, padding="same", name="pool3")(x)
    x = _conv_block(x, 128, 2, 4)
    x = keras.layers.Dense(256, name="fc5")(_caffe_flatten(x))
    x = keras.layers.PReLU(name="prelu5")(x)
    regression = keras.layers.Dense(4, name="fc6_1")(x)
    landmarks = keras.layers.Dense(10, name="fc6_2")(x)
    probability = keras.layers.Dense(2, activation="softmax", name="fc6_3")(x)
    return keras.Model(inputs, [regression, landmarks, probability], name="mtcnn_onet")


def load_weights(model: keras.Model, name: str, directory: Path | None = None) -> None:
    """Set ``model``'s weights from ``<directory>/<name>.lz4`` (the package's file by default)."""
    path = (directory or weights_dir()) / f"{name}.lz4"
    arrays: list[np.ndarray] = list(joblib.load(path))
    layout = _LAYER_WEIGHTS[name]
    expected = sum(count for _, count in layout)
    if len(arrays) != expected:
        raise ValueError(f"{path}: {len(arrays)} arrays, expected {expected}")
    for layer_name, count in layout:
        layer = model.get_layer(layer_name)
        layer.set_weights(arrays[:count])
        arrays = arrays[count:]
    logger.debug("loaded %s weights from %s", name, path)


@functools.cache
def load_nets() -> MtcnnNets:
    """Build the three nets once per process and load the package's weights into them."""
    nets = MtcnnNets(build_pnet(), build_rnet(), build_onet())
    for name, model in zip(("pnet", "rnet", "onet"), nets, strict=True):
        load_weights(model, name)
    logger.info("MTCNN nets loaded from %s", weights_dir())
    return nets
