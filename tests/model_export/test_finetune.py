"""EfficientNet-Lite0 as a training architecture: frozen stages and the staged schedule."""

from __future__ import annotations

import numpy as np
import pytest

from model_export.finetune import (
    SELF_BLEND_STAGES,
    StageConfig,
    hold_back,
    stage_epochs,
    train_staged,
)
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


def _clips(reals: int, fakes: int, frames: int = 2, size: int = 32) -> FrameSet:
    rng = np.random.default_rng(1)
    clips = reals + fakes
    images = rng.integers(0, 256, (clips * frames, size, size, 3), dtype=np.uint8)
    ids = np.repeat(np.arange(clips), frames)
    labels = (ids >= reals).astype(np.float32)
    marks = np.repeat(TEMPLATE_LANDMARKS[None], len(ids), axis=0)
    return FrameSet(images, labels, ids, {i: int(i >= reals) for i in range(clips)}, marks)


def test_hold_back_keeps_whole_real_clips_apart() -> None:
    frames = _clips(reals=6, fakes=2)
    kept, held = hold_back(frames, 0.34, seed=3)
    assert len(np.unique(held.clip_ids)) == 2 and set(held.labels.tolist()) == {0.0}
    assert not set(held.clip_ids.tolist()) & set(kept.clip_ids.tolist())
    assert len(kept.frames) + len(held.frames) == len(frames.frames)
    assert held.landmarks is not None and len(held.landmarks) == len(held.frames)
    assert set(kept.clip_labels) == set(kept.clip_ids.tolist())
    again = hold_back(frames, 0.34, seed=3)[1]
    assert np.array_equal(again.clip_ids, held.clip_ids)
    # One real clip: nothing to hold back, it trains.
    kept, held = hold_back(_clips(reals=1, fakes=1), 0.5, seed=0)
    assert len(held.frames) == 0 and (kept.labels == 0).sum() == 2


def test_self_blended_fine_tuning_unfreezes_the_last_half_of_the_blocks() -> None:
    assert SELF_BLEND_STAGES.unfreeze_blocks == 8
    model = build_classifier("efficientnet_lite0", (32, 32))
    set_trainable_blocks(model, SELF_BLEND_STAGES.unfreeze_blocks)
    backbone = model.get_layer(BACKBONE_NAME)
    blocks = {
        int(layer.name.split("_")[0][5:])
        for layer in backbone.layers
        if layer.trainable and layer.weights and layer.name.startswith("block")
    }
    assert blocks == set(range(8, 16))
    assert not any(layer.trainable for layer in backbone.layers if "bn" in layer.name)


def test_self_blended_training_stops_on_held_back_pseudo_fakes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from model_export import finetune

    watched: list[np.ndarray] = []
    real_frame_dataset = finetune.frame_dataset

    def spy(frames, labels, config, training):  # type: ignore[no-untyped-def]
        watched.append(np.asarray(labels))
        return real_frame_dataset(frames, labels, config, training)

    monkeypatch.setattr(finetune, "frame_dataset", spy)
    train = _clips(reals=7, fakes=3)
    val = _clips(reals=1, fakes=4)  # labelled fakes of other sources: calibration only
    config = TrainConfig(input_size=(32, 32), epochs=2, batch_size=8, arch="small_cnn",
                         width=4, patience=1)  # fmt: skip
    result = train_staged(train, val, config, self_blend=True, landmarks=train.landmarks, draws=2)
    pretext = result.pretext
    assert pretext is not None
    # One of seven real clips (2 faces) held back, each with one pseudo-fake.
    assert pretext["held_back_clips"] == 1 and pretext["held_back_real_faces"] == 2
    assert pretext["training_real_faces"] == 12 and pretext["draws_per_face"] == 2
    assert pretext["meshed_real_faces"] == 0  # five points only here
    assert watched[0].tolist() == [0, 0, 1, 1]  # validation data: the pretext set
    assert [e["epoch"] for e in pretext["epochs"]] == [1, 2]
    for epoch in pretext["epochs"]:
        assert {"loss", "accuracy", "pretext_loss", "pretext_accuracy", "pretext_auc"} <= set(epoch)
    assert 0.0 <= pretext["final"]["accuracy"] <= 1.0 and pretext["final"]["count"] == 4
