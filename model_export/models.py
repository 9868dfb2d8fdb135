"""Keras frame classifiers.

Every model takes float32 frames in ``[0, 1]`` of shape ``[N, H, W, 3]`` and returns the
fake probability ``[N, 1]`` (sigmoid), so that any of them exports through
:func:`model_export.export.publish_version`.
"""

from __future__ import annotations

import keras
from keras import layers


def small_cnn(
    input_size: tuple[int, int] = (128, 128),
    *,
    width: int = 16,
    dropout: float = 0.3,
    seed: int = 0,
) -> keras.Model:
    """A small CNN with batch norm and dropout, fast to train on two CPU cores."""
    init = keras.initializers.HeNormal(seed=seed)
    inputs = keras.Input((*input_size, 3), name="frames")
    x = inputs
    for i, filters in enumerate((width, width * 2, width * 4, width * 4)):
        x = layers.Conv2D(
            filters, 3, padding="same", use_bias=False, kernel_initializer=init, name=f"conv{i + 1}"
        )(x)
        x = layers.BatchNormalization(name=f"bn{i + 1}")(x)
        x = layers.ReLU(name=f"relu{i + 1}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(dropout, seed=seed, name="dropout")(x)
    x = layers.Dense(width * 2, activation="relu", kernel_initializer=init, name="fc1")(x)
    outputs = layers.Dense(1, activation="sigmoid", name="fake_probability")(x)
    return keras.Model(inputs, outputs, name="small_cnn")


def efficientnet_b0(
    input_size: tuple[int, int] = (224, 224), *, dropout: float = 0.3, seed: int = 0
) -> keras.Model:
    """EfficientNet-B0 from scratch (no downloaded weights) with a sigmoid head.

    Keras' EfficientNet rescales 0..255 inputs itself, so the [0, 1] frames are scaled back.
    """
    del seed  # the application seeds its own initialisers
    inputs = keras.Input((*input_size, 3), name="frames")
    x = layers.Rescaling(255.0, name="to_0_255")(inputs)
    backbone = keras.applications.EfficientNetB0(
        include_top=False, weights=None, input_shape=(*input_size, 3), pooling="avg"
    )
    x = backbone(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(1, activation="sigmoid", name="fake_probability")(x)
    return keras.Model(inputs, outputs, name="efficientnet_b0")


#: Name of the ImageNet backbone inside :func:`efficientnet_lite0_classifier`.
BACKBONE_NAME = "backbone"


def efficientnet_lite0_classifier(
    input_size: tuple[int, int] = (224, 224),
    *,
    dropout: float = 0.3,
    seed: int = 0,
    weights: str | None = "imagenet",
) -> keras.Model:
    """EfficientNet-Lite0 with ImageNet weights and a sigmoid head, for fine-tuning.

    The backbone's own normalisation ``(x - 127) / 128`` is part of the model (after scaling
    the [0, 1] frames back to [0, 255]), so an export carries it in the graph. The backbone
    is the nested model :data:`BACKBONE_NAME`; :func:`set_trainable_blocks` freezes it.
    """
    from model_export.backbones.efficientnet_lite import efficientnet_lite0

    inputs = keras.Input((*input_size, 3), name="frames")
    x = layers.Rescaling(255.0, name="to_0_255")(inputs)
    backbone = efficientnet_lite0(
        (*input_size, 3), include_top=False, weights=weights, name=BACKBONE_NAME
    )
    x = backbone(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(dropout, seed=seed, name="dropout")(x)
    init = keras.initializers.GlorotUniform(seed=seed)
    outputs = layers.Dense(
        1, activation="sigmoid", kernel_initializer=init, name="fake_probability"
    )(x)
    return keras.Model(inputs, outputs, name="efficientnet_lite0")


def set_trainable_blocks(model: keras.Model, blocks: int | None) -> int:
    """Freeze the backbone of :func:`efficientnet_lite0_classifier` but its last ``blocks``.

    ``blocks=0`` trains the head only, ``None`` the whole network. The unfrozen part is the
    head convolution and the last ``blocks`` MBConv blocks; batch normalisation stays frozen
    (in inference mode) throughout, as usual when fine-tuning on small batches. Returns the
    number of trainable weights. Recompile the model afterwards.
    """
    backbone = model.get_layer(BACKBONE_NAME)
    indices = sorted(
        {
            int(layer.name.split("_")[0][5:])
            for layer in backbone.layers
            if layer.name.startswith("block")
        }
    )
    keep = (
        set(indices) if blocks is None else set(indices[len(indices) - blocks :] if blocks else [])
    )
    backbone.trainable = True
    for layer in backbone.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.trainable = False
        elif layer.name.startswith("block"):
            layer.trainable = int(layer.name.split("_")[0][5:]) in keep
        elif layer.name.startswith("head_"):
            layer.trainable = blocks is None or blocks > 0
        else:  # stem and normalisation
            layer.trainable = blocks is None
    return len(model.trainable_weights)


#: Architectures ``train`` can build; all take [0, 1] frames and return P(fake).
ARCHITECTURES = ("small_cnn", "meso4", "mesoinception4", "efficientnet_b0", "efficientnet_lite0")
#: Architectures with a pretrained backbone, fine-tuned in stages (head, then last blocks).
PRETRAINED_ARCHITECTURES = ("efficientnet_lite0",)


def build_classifier(
    arch: str,
    input_size: tuple[int, int],
    *,
    width: int = 16,
    dropout: float = 0.3,
    seed: int = 0,
) -> keras.Model:
    """Build an untrained classifier of the named architecture."""
    if arch == "small_cnn":
        return small_cnn(input_size, width=width, dropout=dropout, seed=seed)
    if arch in ("meso4", "mesoinception4"):
        from model_export import mesonet

        keras.utils.set_random_seed(seed)
        return mesonet.build(arch, input_size)
    if arch == "efficientnet_b0":
        return efficientnet_b0(input_size, dropout=dropout, seed=seed)
    if arch == "efficientnet_lite0":
        return efficientnet_lite0_classifier(input_size, dropout=dropout, seed=seed)
    raise ValueError(f"unknown architecture {arch!r}; choose from {ARCHITECTURES}")
