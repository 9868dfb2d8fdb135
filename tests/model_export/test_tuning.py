"""Keras Tuner search: search space, a search on the CNN+GRU, and ``train --tune`` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import keras_tuner as kt
import numpy as np
import pytest

import contract
from model_export.cli import main
from model_export.publish import INFO_RELATIVE_PATH
from model_export.savedmodel import load_version
from model_export.train import FrameSet, TrainConfig
from model_export.tuning import WIDTHS, declare_space, tune

from .helpers import face_clip, solid_clip


def test_search_space_follows_the_architecture() -> None:
    assert set(declare_space(kt.HyperParameters(), "small_cnn")) == {
        "learning_rate", "dropout", "width",
    }  # fmt: skip
    assert set(declare_space(kt.HyperParameters(), "cnn_gru")) == {
        "learning_rate", "dropout", "width",
    }  # fmt: skip
    # MesoNet has neither a width nor a dropout setting: only the learning rate is searched.
    assert set(declare_space(kt.HyperParameters(), "meso4")) == {"learning_rate"}


def _random_clips(n_clips: int, frames: int, size: int, seed: int) -> FrameSet:
    """Clips of noise; FAKE clips (odd ids) are brighter."""
    rng = np.random.default_rng(seed)
    ids = np.repeat(np.arange(n_clips), frames)
    labels = (ids % 2).astype(np.float32)
    noise = rng.integers(0, 128, size=(len(ids), size, size, 3))
    images = noise + 100 * labels[:, None, None, None]
    clip_labels = {i: i % 2 for i in range(n_clips)}
    return FrameSet(images.astype(np.uint8), labels, ids, clip_labels)


@pytest.mark.slow
def test_tune_searches_cnn_gru(tmp_path: Path) -> None:
    train, val = _random_clips(4, 4, 24, seed=0), _random_clips(2, 4, 24, seed=1)
    config = TrainConfig(input_size=(24, 24), epochs=1, batch_size=4, arch="cnn_gru")
    tuned = tune(train, val, config, trials=2, directory=tmp_path / "tuner", sequence_length=3)
    assert tuned.trials == 2
    assert tuned.config.width == tuned.best_hyperparameters["width"] in WIDTHS
    assert tuned.config.learning_rate == tuned.best_hyperparameters["learning_rate"]
    assert tuned.config.arch == "cnn_gru" and tuned.config.epochs == 1
    assert tuned.directory.parent == tmp_path / "tuner"
    assert len(list(tuned.directory.glob("trial_*/trial.json"))) == 2


@pytest.mark.slow
def test_train_tune_publishes_best_hyperparameters(tmp_path: Path) -> None:
    for i in range(4):
        face_clip(tmp_path / f"data/real/v{i}.mp4", frames=3, shift=i)
        solid_clip(tmp_path / f"data/fake/w{i}.mp4", 60 * i + 20, frames=3, size=64)
    output = tmp_path / "models" / "deepfake"
    cache = tmp_path / "cache"
    code = main([
        "train", "--data", str(tmp_path / "data"), "--output", str(output), "--epochs", "1",
        "--input-size", "32", "--frames", "3", "--tune", "2", "--cache-dir", str(cache),
        "--val-fraction", "0.25", "--test-fraction", "0.25",
    ])  # fmt: skip
    assert code == 0
    info = json.loads((output / "1" / INFO_RELATIVE_PATH).read_text())
    tuning = info["tuning"]
    best = tuning["best_hyperparameters"]
    assert tuning["trials"] == 2 and tuning["objective"] == "val_loss"
    assert set(best) == {"learning_rate", "dropout", "width"}
    assert 1e-4 <= best["learning_rate"] <= 1e-2 and 0.0 <= best["dropout"] <= 0.5
    # The published model was trained with the best trial's values.
    assert info["hyperparameters"] == best
    # The tuner's working files live under the cache directory, and the best is the best.
    trials = [json.loads(p.read_text()) for p in cache.glob("tuner/*/trial_*/trial.json")]
    assert len(trials) == 2
    scores = [t["score"] for t in trials]
    assert tuning["best_score"] == pytest.approx(min(scores))
    winner = trials[int(np.argmin(scores))]["hyperparameters"]["values"]
    assert winner == best
    with load_version(output / "1") as loaded:
        assert loaded.replay_warmup() == 7  # frames 1, 8, 32; crops; model_info; keyframe pair
        out = loaded.run({contract.FRAMES_INPUT: np.zeros([2, 64, 64, 3], np.uint8)})
    assert out[contract.FAKE_PROBABILITY].shape == (2,)
