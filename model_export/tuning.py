"""Keras Tuner random search over learning rate, dropout and width.

Every trial trains on the training split and is scored by its best validation loss
(``val_loss``, for the CNN+GRU the sum of its sequence and per-face losses), the quantity
early stopping watches; the test split is never seen. The best values are then trained in
full by the pipeline and recorded in the version's export info. The search space is small
on purpose, training runs on CPUs:

* ``learning_rate``: log-uniform in [1e-4, 1e-2];
* ``dropout``: 0.0 to 0.5 in steps of 0.1 (architectures with a dropout setting);
* ``width``: 8, 16 or 32 base filters (``small_cnn`` and ``cnn_gru``; the GRU has twice
  that many units).

Keras Tuner keeps its working files (one folder per trial with its weights) under the
directory it is given; the pipeline gives it one below the face cache.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import keras
import keras_tuner as kt
import tensorflow as tf

from model_export import sequence

# The very batches, weights and compilation train_classifier uses, so that trials and
# final training agree.
from model_export.train import (
    FrameSet,
    TrainConfig,
    class_weights,
    compile_classifier,
    frame_dataset,
    new_classifier,
)

log = logging.getLogger(__name__)

#: What the search minimises.
OBJECTIVE = "val_loss"
#: Architectures whose width / dropout the builders honour; others keep their own.
WIDTH_ARCHS = frozenset({"small_cnn", sequence.SEQUENCE_ARCH})
DROPOUT_ARCHS = frozenset({"small_cnn", "efficientnet_b0", sequence.SEQUENCE_ARCH})
WIDTHS = (8, 16, 32)


@dataclass(frozen=True)
class TuningResult:
    """The best configuration found and how it was found."""

    config: TrainConfig
    best_hyperparameters: dict[str, float | int]
    best_score: float
    trials: int
    directory: Path

    def as_dict(self) -> dict:
        """What the export info records."""
        return {
            "tuner": "random_search",
            "objective": OBJECTIVE,
            "trials": self.trials,
            "best_score": self.best_score,
            "best_hyperparameters": dict(self.best_hyperparameters),
        }


class _RandomSearch(kt.RandomSearch):
    """Random search that does not need TensorBoard.

    Under the TensorFlow backend Keras Tuner imports ``tensorboard`` before every trial to
    patch TensorBoard callbacks (``Tuner._configure_tensorboard_dir``), although it does not
    depend on that package; the search passes no TensorBoard callback, so there is nothing
    to patch.
    """

    def _configure_tensorboard_dir(self, callbacks, trial, execution=0):
        return None


def declare_space(hp: kt.HyperParameters, arch: str) -> dict[str, float | int]:
    """Declare the search space of ``arch`` on ``hp`` and return this trial's values."""
    values: dict[str, float | int] = {
        "learning_rate": hp.Float("learning_rate", 1e-4, 1e-2, sampling="log")
    }
    if arch in DROPOUT_ARCHS:
        values["dropout"] = hp.Float("dropout", 0.0, 0.5, step=0.1)
    if arch in WIDTH_ARCHS:
        values["width"] = hp.Choice("width", list(WIDTHS))
    return values


def _fit_data(
    train: FrameSet, val: FrameSet, config: TrainConfig, sequence_length: int
) -> tuple[tf.data.Dataset, tf.data.Dataset, int, dict]:
    """Training and validation batches, steps per epoch and extra ``fit`` arguments."""
    if config.arch == sequence.SEQUENCE_ARCH:
        train_seq = sequence.sequences_of(train, sequence_length)
        val_seq = sequence.sequences_of(val, sequence_length)
        steps = max(1, -(-len(train_seq.labels) // config.batch_size))
        return (
            sequence.sequence_dataset(train_seq, config, training=True),
            sequence.sequence_dataset(val_seq, config, training=False),
            steps,
            {},
        )
    steps = max(1, -(-len(train.frames) // config.batch_size))
    return (
        frame_dataset(train.frames, train.labels, config, training=True),
        frame_dataset(val.frames, val.labels, config, training=False),
        steps,
        {"class_weight": class_weights(train.labels)},
    )


def _build(config: TrainConfig, steps: int) -> keras.Model:
    """An untrained, compiled model of ``config`` (the tuner trains it)."""
    if config.arch == sequence.SEQUENCE_ARCH:
        net = sequence.build_cnn_gru(
            config.input_size, width=config.width, dropout=config.dropout, seed=config.seed
        )
        sequence.compile_cnn_gru(net.sequence_model, config.learning_rate, steps)
        return net.sequence_model
    model = new_classifier(config)
    compile_classifier(model, config, steps)
    return model


def tune(
    train: FrameSet,
    val: FrameSet,
    config: TrainConfig,
    *,
    trials: int,
    directory: Path,
    sequence_length: int = sequence.DEFAULT_SEQUENCE_LENGTH,
) -> TuningResult:
    """Run ``trials`` random-search trials and return ``config`` with the best values.

    Each trial trains for ``config.epochs`` epochs with the same early stopping as the final
    training. ``directory`` receives the tuner's working files, one project per search.
    """
    if trials < 1:
        raise ValueError("a search needs at least one trial")
    keras.utils.set_random_seed(config.seed)
    train_ds, val_ds, steps_per_epoch, fit_kwargs = _fit_data(train, val, config, sequence_length)
    total_steps = steps_per_epoch * config.epochs

    def build(hp: kt.HyperParameters) -> keras.Model:
        values = declare_space(hp, config.arch)
        return _build(replace(config, **values), total_steps)

    directory = Path(directory)
    # One project per search: results of another data set are never resumed by mistake.
    project = f"{config.arch}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    tuner = _RandomSearch(
        build,
        objective=kt.Objective(OBJECTIVE, direction="min"),
        max_trials=trials,
        seed=config.seed,
        directory=str(directory),
        project_name=project,
        overwrite=True,
    )
    callbacks = []
    if config.patience > 0:
        callbacks.append(keras.callbacks.EarlyStopping(monitor=OBJECTIVE, patience=config.patience))
    log.info("tuning %s: %d trials, working files in %s", config.arch, trials, directory / project)
    started = time.monotonic()
    tuner.search(
        train_ds,
        validation_data=val_ds,
        epochs=config.epochs,
        callbacks=callbacks,
        shuffle=False,  # the datasets shuffle themselves
        verbose=0,
        **fit_kwargs,
    )
    scored = [t for t in tuner.oracle.trials.values() if t.score is not None]
    if not scored:
        messages = {t.message for t in tuner.oracle.trials.values() if t.message}
        raise RuntimeError(f"no tuning trial finished: {'; '.join(messages) or 'unknown error'}")
    best_trial = tuner.oracle.get_best_trials(1)[0]
    best = dict(best_trial.hyperparameters.values)
    done = len(scored)
    log.info(
        "tuning done in %.0f s: %d trials, best %s %.4f with %s",
        time.monotonic() - started,
        done,
        OBJECTIVE,
        best_trial.score,
        best,
    )
    return TuningResult(
        config=replace(config, **best),
        best_hyperparameters=best,
        best_score=float(best_trial.score),
        trials=done,
        directory=directory / project,
    )
