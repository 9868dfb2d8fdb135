"""Warmup requests that TF Serving replays before a version becomes AVAILABLE.

TF Serving reads ``<version>/assets.extra/tf_serving_warmup_requests``: a TFRecord file of
``PredictionLog`` protos, at most 1000 records (tensorflow_serving/servables/tensorflow/
saved_model_warmup_util.cc, g3doc/saved_model_warmup.md). Writing raw protos instead of
TFRecord fails with "Data loss: corrupted record at 0" (tensorflow/serving#1562).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

import contract

log = logging.getLogger(__name__)

#: Batch sizes the gateway sends (one frame, a partial and a full batch).
DEFAULT_BATCH_SIZES = (1, 8, 32)
#: Frame size of the warmup frames (height, width).
DEFAULT_FRAME_SIZE = (256, 256)
#: TF Serving reads at most this many warmup records (kMaxNumRecords).
MAX_RECORDS = 1000


def warmup_requests(
    model_name: str,
    *,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    frame_size: tuple[int, int] = DEFAULT_FRAME_SIZE,
    seed: int = 0,
    with_model_info: bool = True,
) -> list[predict_pb2.PredictRequest]:
    """One ``PredictRequest`` of random frames per batch size, then one ``model_info`` call."""
    rng = np.random.default_rng(seed)
    requests = []
    for batch in batch_sizes:
        frames = rng.integers(0, 256, size=(int(batch), *frame_size, 3), dtype=np.uint8)
        request = predict_pb2.PredictRequest(
            model_spec=model_pb2.ModelSpec(
                name=model_name, signature_name=contract.SERVING_SIGNATURE
            )
        )
        request.inputs[contract.FRAMES_INPUT].CopyFrom(tf.make_tensor_proto(frames))
        requests.append(request)
    if with_model_info:
        requests.append(model_info_request(model_name))
    return requests


def model_info_request(model_name: str) -> predict_pb2.PredictRequest:
    """The ``model_info`` call a client makes before sending frames: one 1x1 frame."""
    spec = model_pb2.ModelSpec(name=model_name, signature_name=contract.MODEL_INFO_SIGNATURE)
    request = predict_pb2.PredictRequest(model_spec=spec)
    request.inputs[contract.FRAMES_INPUT].CopyFrom(
        tf.make_tensor_proto(np.zeros((1, 1, 1, 3), np.uint8))
    )
    return request


def write_warmup(path: Path, requests: Sequence[predict_pb2.PredictRequest]) -> Path:
    """Write ``requests`` as a TFRecord of ``PredictionLog`` records at ``path``."""
    if len(requests) > MAX_RECORDS:
        raise ValueError(f"TF Serving reads at most {MAX_RECORDS} warmup records")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for request in requests:
            record = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)
            )
            writer.write(record.SerializeToString())
    log.info("wrote warmup records", extra={"path": str(path), "records": len(requests)})
    return path


def read_warmup(path: Path) -> Iterator[prediction_log_pb2.PredictionLog]:
    """Yield the ``PredictionLog`` records of a warmup file."""
    for raw in tf.data.TFRecordDataset(str(path)):
        log_record = prediction_log_pb2.PredictionLog()
        log_record.ParseFromString(raw.numpy())
        yield log_record
