"""Train a frame classifier on labelled images and calibrate its threshold.

Images (face crops or whole frames, see :mod:`model_export.training_run`) are preprocessed
by the same function the exported graph uses, and clip scores are aggregated as the gateway
aggregates them, so validation sees the service's numbers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from contract.aggregation import DEFAULT_AGGREGATION, Aggregation, aggregate_scores
from model_export import roc
from model_export.augment import augment_image
from model_export.models import build_classifier
from model_export.preprocess import preprocess_frames

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Training hyper-parameters of the frame classifier."""

    input_size: tuple[int, int] = (96, 96)
    epochs: int = 15
    batch_size: int = 32
    learning_rate: float = 2e-3
    width: int = 16
    dropout: float = 0.3
    seed: int = 0
    arch: str = "small_cnn"
    #: Flip, tilt, colour, JPEG, blur and down-scaling on training images.
    augment: bool = False
    #: Stop after this many epochs without a better validation loss (0 = never), and keep
    #: the best epoch's weights.
    patience: int = 4


@dataclass
class FrameSet:
    """Decoded frames with their labels and the clip each came from."""

    frames: np.ndarray
    labels: np.ndarray
    clip_ids: np.ndarray
    clip_labels: dict[int, int] = field(default_factory=dict)
    #: Five facial landmarks per image ``[K, 5, 2]`` in crop coordinates (NaN: none), when
    #: the images are cached face crops.
    landmarks: np.ndarray | None = None


@dataclass
class TrainResult:
    """A trained model, its calibrated threshold and validation metrics."""

    model: keras.Model
    threshold: float
    frame_metrics: roc.BinaryMetrics
    video_metrics: roc.BinaryMetrics
    #: Self-blended training: accuracy and ROC-AUC on held-back pseudo-fakes, per epoch and
    #: at the end (:func:`model_export.finetune.train_staged`).
    pretext: dict | None = None


def frame_dataset(
    frames: np.ndarray, labels: np.ndarray, config: TrainConfig, training: bool
) -> tf.data.Dataset:
    """Preprocessed ``(images, labels)`` batches; shuffled, flipped and augmented to train."""
    data = tf.data.Dataset.from_tensor_slices((frames, labels))
    if training:
        data = data.shuffle(len(frames), seed=config.seed, reshuffle_each_iteration=True)
        if config.augment:
            seeds = tf.data.Dataset.random(seed=config.seed, rerandomize_each_iteration=True)
            data = tf.data.Dataset.zip(data, seeds.batch(2)).map(
                lambda xy, s: (augment_image(xy[0], s), xy[1]),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
    data = data.batch(config.batch_size)

    def prepare(x, y):
        if training:
            x = tf.image.random_flip_left_right(x, seed=config.seed)
        return preprocess_frames(x, config.input_size), y

    return data.map(prepare, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)


def predict_frames(model: keras.Model, frames: np.ndarray, config: TrainConfig) -> np.ndarray:
    """Fake probability per frame, through the same preprocessing as the export."""
    data = tf.data.Dataset.from_tensor_slices(frames).batch(config.batch_size)
    data = data.map(lambda x: preprocess_frames(x, config.input_size))
    return np.asarray(model.predict(data, verbose=0)).reshape(-1)


def new_classifier(config: TrainConfig) -> keras.Model:
    """An untrained frame classifier of ``config``'s architecture and sizes."""
    return build_classifier(
        config.arch,
        config.input_size,
        width=config.width,
        dropout=config.dropout,
        seed=config.seed,
    )


def video_scores(
    frame_scores: np.ndarray, clip_ids: np.ndarray, aggregation: Aggregation = DEFAULT_AGGREGATION
) -> tuple[np.ndarray, np.ndarray]:
    """One score per clip, aggregated as the gateway aggregates a track by default
    (:mod:`contract.aggregation`), so that validation and gating see the service's numbers;
    returns ids, scores."""
    ids = np.unique(clip_ids)
    return ids, np.array([aggregate_scores(frame_scores[clip_ids == i], aggregation) for i in ids])


class LogEpochs(keras.callbacks.Callback):
    """One log line per epoch with the rounded metrics."""

    def __init__(self, epochs: int) -> None:
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):  # type: ignore[no-untyped-def]
        rounded = {k: round(float(v), 4) for k, v in (logs or {}).items()}
        log.info("epoch %d/%d %s", epoch + 1, self.epochs, rounded)


def fit_callbacks(config: TrainConfig) -> list[keras.callbacks.Callback]:
    """Epoch logging, plus early stopping on validation loss when ``config.patience`` is set."""
    callbacks: list[keras.callbacks.Callback] = [LogEpochs(config.epochs)]
    if config.patience > 0:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=config.patience, restore_best_weights=True
            )
        )
    return callbacks


def class_weights(labels: np.ndarray) -> dict[int, float]:
    """Loss weights that give REAL and FAKE samples equal total weight when they are uneven."""
    positives = float(labels.mean()) if len(labels) else 0.5
    return {0: 0.5 / max(1 - positives, 1e-3), 1: 0.5 / max(positives, 1e-3)}


def compile_classifier(
    model: keras.Model, config: TrainConfig, steps: int, *, auc: bool = False
) -> None:
    """Compile a frame classifier as training and the tuner do: Adam on a cosine decay
    (``auc`` adds ROC-AUC to the accuracy metric)."""
    schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, steps, alpha=0.05)
    metrics: list = ["accuracy"] + ([keras.metrics.AUC(name="auc")] if auc else [])
    model.compile(
        optimizer=keras.optimizers.Adam(schedule), loss="binary_crossentropy", metrics=metrics
    )


def calibrate_on(
    model: keras.Model, val: FrameSet, config: TrainConfig
) -> tuple[float, roc.BinaryMetrics, roc.BinaryMetrics]:
    """Frame threshold calibrated on ``val`` and the frame and video metrics there."""
    frame_scores = predict_frames(model, val.frames, config)
    threshold = roc.best_threshold(val.labels, frame_scores)
    ids, scores = video_scores(frame_scores, val.clip_ids)
    video_labels = np.array([val.clip_labels[int(i)] for i in ids])
    return (
        threshold,
        roc.binary_metrics(val.labels, frame_scores, threshold),
        roc.binary_metrics(video_labels, scores, threshold),
    )


def train_classifier(train: FrameSet, val: FrameSet, config: TrainConfig) -> TrainResult:
    """Fit a frame classifier, calibrate its threshold on ``val`` and measure it there."""
    keras.utils.set_random_seed(config.seed)
    model = new_classifier(config)
    steps = max(1, -(-len(train.frames) // config.batch_size)) * config.epochs
    compile_classifier(model, config, steps)
    model.fit(
        frame_dataset(train.frames, train.labels, config, training=True),
        validation_data=frame_dataset(val.frames, val.labels, config, training=False),
        epochs=config.epochs,
        class_weight=class_weights(train.labels),
        shuffle=False,  # the dataset shuffles itself
        verbose=0,
        callbacks=fit_callbacks(config),
    )
    threshold, frame_metrics, video_metrics = calibrate_on(model, val, config)
    return TrainResult(model, threshold, frame_metrics, video_metrics)
