"""Exported versions load through a TF1 session, as TF Serving loads them, per the contract."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2

import contract
from model_export.export import publish_version
from model_export.models import small_cnn
from model_export.preprocess import preprocess_frames
from model_export.savedmodel import load_version
from tests.model_export.helpers import predict_frames
from tests.tiny_model import TINY_INPUT_SIZE, export_tiny_model, tiny_cnn


def _dims(info) -> list[int]:
    return [d.size for d in info.tensor_shape.dim]


def test_signature_matches_contract(tiny_version: Path) -> None:
    with load_version(tiny_version) as loaded:
        sig = loaded.signatures[contract.SERVING_SIGNATURE]
        assert sig.method_name == "tensorflow/serving/predict"
        assert set(sig.inputs) == {contract.FRAMES_INPUT}
        frames = sig.inputs[contract.FRAMES_INPUT]
        assert frames.dtype == types_pb2.DT_UINT8
        assert _dims(frames) == [-1, -1, -1, 3]
        assert set(sig.outputs) >= set(contract.REQUIRED_OUTPUTS)
        probability = sig.outputs[contract.FAKE_PROBABILITY]
        assert probability.dtype == types_pb2.DT_FLOAT
        assert _dims(probability) == [-1]
        threshold = sig.outputs[contract.THRESHOLD]
        assert threshold.dtype == types_pb2.DT_FLOAT
        assert _dims(threshold) == [-1]


def test_session_outputs_match_keras_model(tmp_path: Path, frames: np.ndarray) -> None:
    model = small_cnn((48, 48), width=4, seed=3)
    path = publish_version(model, tmp_path, "m", threshold=0.6, input_size=(48, 48))
    expected = np.asarray(model(preprocess_frames(tf.constant(frames), (48, 48)))).reshape(-1)
    with load_version(path) as loaded:
        out = loaded.run({contract.FRAMES_INPUT: frames})
    assert out[contract.FAKE_PROBABILITY].shape == (len(frames),)
    np.testing.assert_allclose(out[contract.FAKE_PROBABILITY], expected, atol=1e-5)
    # One threshold per row, so TF Serving's batching can split it like every output.
    assert out[contract.THRESHOLD].shape == (len(frames),)
    np.testing.assert_allclose(out[contract.THRESHOLD], 0.6, atol=1e-6)


def test_any_frame_size_and_empty_batch(tiny_version: Path, frames: np.ndarray) -> None:
    with load_version(tiny_version) as loaded:
        small = predict_frames(loaded, frames[:, :17, :23])
        large = predict_frames(loaded, np.repeat(np.repeat(frames, 4, axis=1), 4, axis=2))
        empty = loaded.run({contract.FRAMES_INPUT: np.zeros([0, 40, 40, 3], np.uint8)})
        assert loaded.threshold() == np.float32(0.25)
    for scores in (small, large):
        assert scores.shape == (5,)
        assert np.all((scores >= 0) & (scores <= 1))
    assert empty[contract.FAKE_PROBABILITY].shape == (0,)


def test_tiny_model_is_deterministic_in_seed(tmp_path: Path, frames: np.ndarray) -> None:
    a = export_tiny_model(tmp_path, "t", seed=0)
    b = export_tiny_model(tmp_path, "t", seed=0)
    c = export_tiny_model(tmp_path, "t", seed=5)
    scores = []
    for path in (a, b, c):
        with load_version(path) as loaded:
            scores.append(predict_frames(loaded, frames))
    np.testing.assert_allclose(scores[0], scores[1], atol=1e-6)
    assert np.max(np.abs(scores[0] - scores[2])) > 1e-3
    # The tiny model reacts to frame content, so fixtures can tell clips apart.
    assert np.ptp(scores[2]) > 1e-3
    expected = tiny_cnn(TINY_INPUT_SIZE, seed=5)(preprocess_frames(frames, TINY_INPUT_SIZE))
    np.testing.assert_allclose(scores[2], np.asarray(expected).reshape(-1), atol=1e-5)
