"""Warmup: replay a version's recorded requests before it is marked AVAILABLE.

Follows saved_model_warmup_util.cc: ``assets.extra/tf_serving_warmup_requests``
is a TFRecord file of ``PredictionLog``; a missing file is not an error, more
than ``MAX_WARMUP_RECORDS`` records is, and any failing record fails the load.
"""

from __future__ import annotations

import logging
import os
import time

import grpc
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

import contract

from .errors import ServingError
from .servable import Servable

log = logging.getLogger(__name__)

#: TF Serving reads at most this many warmup records (saved_model_warmup_util.cc).
MAX_WARMUP_RECORDS = 1000


def run_warmup(servable: Servable, iterations: int) -> int:
    """Replay the warmup records through ``servable.predict``; return how many were read.

    Each record is sent ``iterations`` times (at least once), as
    ``--num_request_iterations_for_warmup`` asks.
    """
    path = os.path.join(servable.path, contract.WARMUP_RELATIVE_PATH)
    if not tf.io.gfile.exists(path):
        log.info("No warmup data file found at %s", path)
        return 0
    log.info("Starting to read warmup data for model at %s", path)
    start = time.monotonic()
    count = 0
    try:
        for record in tf.compat.v1.io.tf_record_iterator(path):
            count += 1
            if count > MAX_WARMUP_RECORDS:
                raise ServingError(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"Number of warmup records exceeds the maximum ({MAX_WARMUP_RECORDS}) "
                    f"at {path}",
                )
            entry = prediction_log_pb2.PredictionLog.FromString(record)
            kind = entry.WhichOneof("log_type")
            if kind != "predict_log":
                raise ServingError(
                    grpc.StatusCode.UNIMPLEMENTED,
                    f"Unsupported log_type for warmup: {kind}",
                )
            for _ in range(max(1, iterations)):
                servable.predict(entry.predict_log.request)
    except tf.errors.DataLossError as exc:
        raise ServingError(
            grpc.StatusCode.DATA_LOSS,
            f"{exc.message}. Please verify your warmup data is in TFRecord format.",
        ) from None
    log.info(
        "Finished reading warmup data for model at %s. Number of warmup records read: %d. "
        "Elapsed time (microseconds): %d.",
        path,
        count,
        int((time.monotonic() - start) * 1e6),
    )
    return count
