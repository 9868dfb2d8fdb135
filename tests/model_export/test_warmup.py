"""Warmup records: a TFRecord of PredictionLog that replays through the version's session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import contract
from model_export import warmup
from model_export.savedmodel import load_version
from tests.tiny_model import TINY_INPUT_SIZE


def test_warmup_file_is_tfrecord_of_prediction_logs(tiny_version: Path) -> None:
    path = tiny_version / contract.WARMUP_RELATIVE_PATH
    records = list(warmup.read_warmup(path))
    assert [r.WhichOneof("log_type") for r in records] == ["predict_log"] * 4
    shapes = []
    for record in records[:-1]:
        request = record.predict_log.request
        assert request.model_spec.name == "tiny"
        assert request.model_spec.signature_name == contract.SERVING_SIGNATURE
        tensor = tf.make_ndarray(request.inputs[contract.FRAMES_INPUT])
        assert tensor.dtype == np.uint8
        shapes.append(tensor.shape)
    assert shapes == [(b, 256, 256, 3) for b in warmup.DEFAULT_BATCH_SIZES]
    # The call the gateway makes before it decodes anything is warmed up too.
    info = records[-1].predict_log.request
    assert info.model_spec.signature_name == contract.MODEL_INFO_SIGNATURE
    assert tf.make_ndarray(info.inputs[contract.FRAMES_INPUT]).shape == (1, 1, 1, 3)


def test_warmup_replays_through_session(tiny_version: Path) -> None:
    with load_version(tiny_version) as loaded:
        assert loaded.replay_warmup() == len(warmup.DEFAULT_BATCH_SIZES) + 1


def test_model_info_describes_the_version(tiny_version: Path) -> None:
    """Threshold and needed frame side, as TF Serving's session would compute them."""
    with load_version(tiny_version) as loaded:
        out = loaded.run(
            {contract.FRAMES_INPUT: np.zeros((2, 1, 1, 3), np.uint8)},
            contract.MODEL_INFO_SIGNATURE,
        )
        served = loaded.run(
            {contract.FRAMES_INPUT: np.zeros((1, 40, 40, 3), np.uint8)}, contract.SERVING_SIGNATURE
        )
    assert out[contract.FRAME_MIN_SIDE].dtype == np.int32
    assert out[contract.FRAME_MIN_SIDE].tolist() == [max(TINY_INPUT_SIZE)] * 2
    assert out[contract.THRESHOLD].tolist() == pytest.approx([0.25, 0.25])
    assert out[contract.THRESHOLD][0] == served[contract.THRESHOLD][0]


def test_warmup_refuses_too_many_records(tmp_path: Path) -> None:
    requests = warmup.warmup_requests("m", batch_sizes=[1], frame_size=(2, 2))
    try:
        warmup.write_warmup(tmp_path / "w", requests * (warmup.MAX_RECORDS + 1))
    except ValueError:
        pass
    else:
        raise AssertionError("more than 1000 records were accepted")
    assert not (tmp_path / "w").exists()
