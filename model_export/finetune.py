"""Training of pretrained backbones in stages, and training on self-blended images.

A pretrained backbone (``efficientnet_lite0``) is fine-tuned in two stages: first the new
head alone, so its random initialisation does not push large gradients through the
ImageNet features, then the head with the backbone's last blocks at a lower learning rate.
Batch normalisation stays frozen in both: its ImageNet statistics stay what the exported
graph runs with, instead of drifting to the statistics of 32-image batches of one fold's
few hundred faces (half of them pseudo-fakes).

With self-blended images (:mod:`model_export.self_blend`) the training set is generated on
the fly from the real faces (and, optionally, the labelled fakes); any architecture can train
on it. The real faces of a share of the real clips (:data:`HELD_BACK_FRACTION`) are held back
with one fixed pseudo-fake each: early stopping watches the loss there, and the accuracy and
ROC-AUC there, per epoch and at the end, show whether the pretext task was learnt
(:attr:`TrainResult.pretext`). Self-blended fine-tuning unfreezes the last half of the
backbone's 16 blocks (:data:`SELF_BLEND_STAGES`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import keras
import numpy as np
import tensorflow as tf

from model_export import roc
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
    predict_frames,
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


#: Self-blended fine-tuning: the last 8 of EfficientNet-Lite0's 16 blocks in the second stage.
SELF_BLEND_STAGES = StageConfig(unfreeze_blocks=8)
#: Share of the real clips (at least one, when there are two) held back as the pretext set.
HELD_BACK_FRACTION = 0.15


def hold_back(frames: FrameSet, fraction: float, seed: int) -> tuple[FrameSet, FrameSet]:
    """``frames`` without the faces of a ``fraction`` of its real clips, and those faces.

    Whole clips are held back, so no frame of a held-back clip is trained on. With a single
    real clip nothing is held back (the second set is empty).
    """
    real_clips = np.unique(frames.clip_ids[frames.labels == 0])
    count = min(len(real_clips) - 1, max(1, round(fraction * len(real_clips))))
    held_clips = np.random.default_rng(seed).permutation(real_clips)[: max(count, 0)]
    held = np.isin(frames.clip_ids, held_clips)

    def subset(keep: np.ndarray) -> FrameSet:
        ids = frames.clip_ids[keep]
        labels = {int(i): frames.clip_labels.get(int(i), 0) for i in np.unique(ids)}
        marks = None if frames.landmarks is None else frames.landmarks[keep]
        return FrameSet(frames.frames[keep], frames.labels[keep], ids, labels, marks)

    return subset(~held), subset(held)


def pretext_set(held: FrameSet, seed: int) -> FrameSet:
    """The held-back real faces and one fixed pseudo-fake of each."""
    from model_export.self_blend import self_blended_set

    return self_blended_set(held, held.landmarks, seed)


def pretext_metrics(model: keras.Model, pretext: FrameSet, config: TrainConfig) -> dict:
    """Frame accuracy (at 0.5) and ROC-AUC of ``model`` on the pretext set."""
    scores = predict_frames(model, pretext.frames, config)
    metrics = roc.binary_metrics(pretext.labels, scores, 0.5)
    return {"accuracy": metrics.accuracy, "roc_auc": metrics.roc_auc, "count": len(scores)}


def _epochs_of(history: keras.callbacks.History, stage: str) -> list[dict]:
    names = {"loss": "loss", "accuracy": "accuracy", "val_loss": "pretext_loss",
             "val_accuracy": "pretext_accuracy", "val_auc": "pretext_auc"}  # fmt: skip
    logs = history.history
    return [
        {"epoch": int(epoch) + 1, "stage": stage}
        | {new: float(logs[old][i]) for old, new in names.items() if old in logs}
        for i, epoch in enumerate(history.epoch)
    ]


def _meshed_count(frames: FrameSet) -> int:
    marks = frames.landmarks
    if marks is None or marks.shape[1] <= 5:
        return 0
    real = frames.labels == 0
    return int(np.all(np.isfinite(marks[real][:, 5:]), axis=(1, 2)).sum())


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
    draws: int = 1,
) -> tuple[tf.data.Dataset, int, dict[int, float] | None]:
    """The training batches, steps per epoch and class weights of one run (``draws``
    pseudo-fakes of each real face per epoch when self-blended)."""
    if self_blend:
        from model_export.self_blend import self_blend_dataset

        data, steps = self_blend_dataset(train, landmarks, config, mix_fakes=mix_fakes, draws=draws)
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
    stages: StageConfig | None = None,
    draws: int = 1,
) -> TrainResult:
    """Train ``config.arch`` (in stages when it is pretrained), calibrate on ``val``.

    ``self_blend`` trains on :func:`model_export.self_blend.self_blend_dataset` of
    ``train``'s real faces (with ``landmarks`` per image, or the template; ``draws`` blends
    per face and epoch) but those of held-back clips (:func:`hold_back`), whose fixed
    pseudo-fakes early stopping watches; ``mix_fakes`` adds its labelled fakes. ``stages``
    defaults to :data:`SELF_BLEND_STAGES` when self-blended.
    """
    keras.utils.set_random_seed(config.seed)
    if stages is None:
        stages = SELF_BLEND_STAGES if self_blend else StageConfig()
    model = new_classifier(config)
    pretext, epochs = None, []
    if self_blend:
        marked = replace(train, landmarks=landmarks)
        marked, held = hold_back(marked, HELD_BACK_FRACTION, config.seed)
        landmarks = marked.landmarks
        train = marked
        if len(held.frames):
            pretext = pretext_set(held, config.seed + 7)
    data, steps, weights = training_data(
        train, config, self_blend=self_blend, landmarks=landmarks, mix_fakes=mix_fakes,
        draws=draws,
    )  # fmt: skip
    watched = pretext if pretext is not None else val
    validation = frame_dataset(watched.frames, watched.labels, config, training=False)

    def run(stage_config: TrainConfig, first: int, last: int, name: str) -> None:
        compile_classifier(model, stage_config, steps * max(1, last - first), auc=True)
        log.info(
            "training stage",
            extra={
                "stage": name,
                "epochs": last - first,
                "trainable": len(model.trainable_weights),
            },
        )
        history = model.fit(
            data,
            validation_data=validation,
            initial_epoch=first,
            epochs=last,
            class_weight=weights,
            shuffle=False,  # the dataset shuffles itself
            verbose=0,
            callbacks=fit_callbacks(stage_config),
        )
        epochs.extend(_epochs_of(history, name))

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
    report = None
    if pretext is not None:
        report = {
            "held_back_real_faces": int((pretext.labels == 0).sum()),
            "held_back_clips": len(np.unique(held.clip_ids)),
            "training_real_faces": int((train.labels == 0).sum()),
            # Faces whose masks hull the face mesh (the others: five-point ellipses).
            "meshed_real_faces": _meshed_count(train),
            "draws_per_face": draws,
            "unfrozen_blocks": stages.unfreeze_blocks,
            "epochs": epochs,
            "final": pretext_metrics(model, pretext, config),
        }
        log.info("pretext (held-back pseudo-fakes)", extra=report["final"])
    return TrainResult(model, threshold, frame_metrics, video_metrics, report)
