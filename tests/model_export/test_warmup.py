"""Warmup records: a TFRecord of PredictionLog that replays through the version's session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

import contract
from model_export import warmup
from model_export.savedmodel import load_version


def test_warmup_file_is_tfrecord_of_prediction_logs(tiny_version: Path) -> None:
    path = tiny_version / contract.WARMUP_RELATIVE_PATH
    records = list(warmup.read_warmup(path))
    assert [r.WhichOneof("log_type") for r in records] == ["predict_log"] * 3
    shapes = []
    for record in records:
        request = record.predict_log.request
        assert request.model_spec.name == "tiny"
        assert request.model_spec.signature_name == contract.SERVING_SIGNATURE
        tensor = tf.make_ndarray(request.inputs[contract.FRAMES_INPUT])
        assert tensor.dtype == np.uint8
        shapes.append(tensor.shape)
    assert shapes == [(b, 256, 256, 3) for b in warmup.DEFAULT_BATCH_SIZES]


def test_warmup_replays_through_session(tiny_version: Path) -> None:
    with load_version(tiny_version) as loaded:
        assert loaded.replay_warmup() == len(warmup.DEFAULT_BATCH_SIZES)


def test_warmup_refuses_too_many_records(tmp_path: Path) -> None:
    requests = warmup.warmup_requests("m", batch_sizes=[1], frame_size=(2, 2))
    try:
        warmup.write_warmup(tmp_path / "w", requests * (warmup.MAX_RECORDS + 1))
    except ValueError:
        pass
    else:
        raise AssertionError("more than 1000 records were accepted")
    assert not (tmp_path / "w").exists()
