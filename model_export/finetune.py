"""Training of pretrained backbones in stages, and training on self-blended images.

A pretrained backbone (``efficientnet_lite0``) is fine-tuned in two stages: first the new
head alone, so its random initialisation does not push large gradients through the
ImageNet features, then the head with the backbone's last blocks at a lower learning rate.
Batch normalisation stays frozen in both. With self-blended images
(:mod:`model_export.self_blend`) the training set is generated on the fly from the real
faces (and, optionally, the labelled fakes); any architecture can train on it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import keras
import numpy as np
import tensorflow as tf

from model_export.models import PRETRAINED_ARCHITECTURES, set_trainable_blocks
from model_export.train import (
    FrameSet,
    TrainConfig,
    TrainResult,
    calibrate_on,
    class_weights,
    compile_classifier,
    fit_callbacks,
    frame_dataset,
    new_classifier,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StageConfig:
    """How a pretrained backbone is fine-tuned."""

    #: Share of the epochs that train the head alone (at least one epoch, and at least one
    #: epoch is left for the second stage when there are two or more).
    head_fraction: float = 0.3
    #: MBConv blocks (from the end) unfrozen in the second stage.
    unfreeze_blocks: int = 4
    #: Learning rate of the second stage, relative to the first.
    finetune_lr_factor: float = 0.1


def stage_epochs(epochs: int, stages: StageConfig) -> tuple[int, int]:
    """Epochs of the head-only stage and of the fine-tuning stage."""
    if epochs < 1:
        raise ValueError("epochs must be at least 1")
    head = max(1, round(epochs * stages.head_fraction))
    if epochs > 1:
        head = min(head, epochs - 1)
    return head, epochs - head


def training_data(
    train: FrameSet,
    config: TrainConfig,
    *,
    self_blend: bool,
    landmarks: np.ndarray | None = None,
    mix_fakes: bool = False,
) -> tuple[tf.data.Dataset, int, dict[int, float] | None]:
    """The training batches, steps per epoch and class weights of one run."""
    if self_blend:
        from model_export.self_blend import self_blend_dataset

        data, steps = self_blend_dataset(train, landmarks, config, mix_fakes=mix_fakes)
        reals, fakes = int((train.labels == 0).sum()), int((train.labels == 1).sum())
        if not mix_fakes or fakes == 0:
            return data, steps, None  # pairs: balanced by construction
        labels = np.concatenate([np.zeros(reals), np.ones(reals + fakes)])
        return data, steps, class_weights(labels)
    steps = max(1, -(-len(train.frames) // config.batch_size))
    data = frame_dataset(train.frames, train.labels, config, training=True)
    return data, steps, class_weights(train.labels)


def train_staged(
    train: FrameSet,
    val: FrameSet,
    config: TrainConfig,
    *,
    self_blend: bool = False,
    landmarks: np.ndarray | None = None,
    mix_fakes: bool = False,
    stages: StageConfig = StageConfig(),
) -> TrainResult:
    """Train ``config.arch`` (in stages when it is pretrained), calibrate on ``val``.

    ``self_blend`` trains on :func:`model_export.self_blend.self_blend_dataset` of
    ``train``'s real faces (with ``landmarks`` per image, or the template); ``mix_fakes``
    adds its labelled fakes.
    """
    keras.utils.set_random_seed(config.seed)
    model = new_classifier(config)
    data, steps, weights = training_data(
        train, config, self_blend=self_blend, landmarks=landmarks, mix_fakes=mix_fakes
    )
    validation = frame_dataset(val.frames, val.labels, config, training=False)

    def run(stage_config: TrainConfig, first: int, last: int, name: str) -> None:
        compile_classifier(model, stage_config, steps * max(1, last - first))
        log.info(
            "training stage",
            extra={
                "stage": name,
                "epochs": last - first,
                "trainable": len(model.trainable_weights),
            },
        )
        model.fit(
            data,
            validation_data=validation,
            initial_epoch=first,
            epochs=last,
            class_weight=weights,
            shuffle=False,  # the dataset shuffles itself
            verbose=0,
            callbacks=fit_callbacks(stage_config),
        )

    if config.arch in PRETRAINED_ARCHITECTURES:
        head, tune = stage_epochs(config.epochs, stages)
        set_trainable_blocks(model, 0)
        run(config, 0, head, "head")
        if tune > 0:
            set_trainable_blocks(model, stages.unfreeze_blocks)
            lower = replace(config, learning_rate=config.learning_rate * stages.finetune_lr_factor)
            run(lower, head, config.epochs, f"last {stages.unfreeze_blocks} blocks")
    else:
        run(config, 0, config.epochs, "all")
    threshold, frame_metrics, video_metrics = calibrate_on(model, val, config)
    return TrainResult(model, threshold, frame_metrics, video_metrics)
