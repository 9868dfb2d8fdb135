"""EfficientNet-Lite0 as a training architecture: frozen stages and the staged schedule."""

from __future__ import annotations

import numpy as np
import pytest

from model_export.finetune import StageConfig, stage_epochs, train_staged
from model_export.models import BACKBONE_NAME, build_classifier, set_trainable_blocks
from model_export.self_blend import TEMPLATE_LANDMARKS
from model_export.train import FrameSet, TrainConfig


def test_stage_epochs_leave_one_for_each_stage() -> None:
    stages = StageConfig(head_fraction=0.3)
    assert stage_epochs(1, stages) == (1, 0)
    assert stage_epochs(2, stages) == (1, 1)
    assert stage_epochs(10, stages) == (3, 7)
    with pytest.raises(ValueError):
        stage_epochs(0, stages)


def test_lite0_classifier_freezes_all_but_the_head_then_the_last_blocks() -> None:
    model = build_classifier("efficientnet_lite0", (64, 64))
    out = model.predict(np.random.default_rng(0).random((2, 64, 64, 3)), verbose=0)
    assert out.shape == (2, 1) and np.all((out > 0) & (out < 1))
    assert set_trainable_blocks(model, 0) == 2  # the dense head: kernel and bias
    backbone = model.get_layer(BACKBONE_NAME)
    tuned = set_trainable_blocks(model, 2)
    trainable = {layer.name for layer in backbone.layers if layer.trainable and layer.weights}
    assert trainable == {
        "head_conv", "block15_expand_conv", "block15_dwconv", "block15_project_conv",
        "block14_expand_conv", "block14_dwconv", "block14_project_conv",
    }  # fmt: skip
    assert tuned == 2 + len(trainable)
    assert not any(
        layer.trainable for layer in backbone.layers if "bn" in layer.name
    )  # batch norm stays frozen
    assert set_trainable_blocks(model, None) > tuned


@pytest.mark.slow
def test_staged_self_blended_training_runs_both_stages(caplog: pytest.LogCaptureFixture) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, 48, 48, 3), dtype=np.uint8)
    labels = np.array([0, 0, 0, 0, 1, 1], np.float32)
    frames = FrameSet(images, labels, np.arange(6), {i: int(labels[i]) for i in range(6)},
                      np.repeat(TEMPLATE_LANDMARKS[None], 6, axis=0))  # fmt: skip
    config = TrainConfig(input_size=(48, 48), epochs=2, batch_size=4, arch="efficientnet_lite0",
                         patience=0)  # fmt: skip
    caplog.set_level("INFO", logger="model_export.finetune")
    result = train_staged(frames, frames, config, self_blend=True, landmarks=frames.landmarks,
                          stages=StageConfig(unfreeze_blocks=1))  # fmt: skip
    stages = [r.stage for r in caplog.records if hasattr(r, "stage")]
    assert stages == ["head", "last 1 blocks"]
    assert 0.0 <= result.threshold <= 1.0
