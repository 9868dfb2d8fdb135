"""The in-graph audio features: their shape, what they see, and a session-loaded export."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import contract
from contract.audio import AUDIO_SAMPLE_RATE, fit_waveform
from model_export.audio_features import MEL_BINS, LogMel, frame_count, log_mel
from model_export.savedmodel import load_version

SAMPLES = AUDIO_SAMPLE_RATE  # one second keeps the test quick


def _tone(hz: float) -> np.ndarray:
    t = np.arange(SAMPLES) / AUDIO_SAMPLE_RATE
    return fit_waveform(0.5 * np.sin(2 * np.pi * hz * t), max_samples=SAMPLES)


def test_shape_and_silence_stay_finite() -> None:
    features = log_mel(tf.zeros((2, SAMPLES))).numpy()
    assert features.shape == (2, frame_count(SAMPLES), MEL_BINS)
    assert np.isfinite(features).all()


def test_a_higher_tone_lights_a_higher_band() -> None:
    features = log_mel(tf.constant(np.stack([_tone(300.0), _tone(3000.0)]))).numpy()
    low, high = (int(np.argmax(f.mean(axis=0))) for f in features)
    assert low < high


def test_an_export_with_the_features_runs_in_a_tf1_session(tmp_path: Path) -> None:
    wave = keras.Input((SAMPLES,), name=contract.AUDIO_INPUT)
    pooled = keras.layers.GlobalAveragePooling1D()(LogMel()(wave))
    model = keras.Model(wave, keras.layers.Dense(1, activation="sigmoid")(pooled))
    archive = keras.export.ExportArchive()
    archive.track(model)

    def classify(audio: tf.Tensor) -> dict[str, tf.Tensor]:
        return {contract.FAKE_PROBABILITY: tf.reshape(model(audio), [-1])}

    archive.add_endpoint(
        contract.AUDIO_SIGNATURE,
        classify,
        input_signature=[tf.TensorSpec([None, SAMPLES], tf.float32, name=contract.AUDIO_INPUT)],
    )
    path = tmp_path / "1"
    archive.write_out(str(path))
    batch = np.stack([_tone(300.0), _tone(3000.0)])
    expected = model(batch).numpy().reshape(-1)
    with load_version(path) as loaded:
        got = loaded.run({contract.AUDIO_INPUT: batch}, contract.AUDIO_SIGNATURE)
    np.testing.assert_allclose(got[contract.FAKE_PROBABILITY], expected, rtol=1e-5)
