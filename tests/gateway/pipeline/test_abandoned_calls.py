"""A Serving call whose answer is no longer needed is left to end, never cancelled.

Cancelling a ``grpc.aio`` call mid-flight leaks its batch's native operations
(grpc/grpc#43360), about 1.5 KB per upload whose probe fails. Against a real gRPC server
that takes a moment over ``model_info``, an upload that is not a video fails its probe
first: the server must see the call through to its end, not cancelled. The keyframe
scorer, abandoned while a detection runs, leaves it to end too and sends nothing after.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import numpy as np
import pytest
from tensorflow_serving.apis import prediction_service_pb2_grpc

import contract
from gateway.errors import InvalidVideo
from gateway.pipeline.detection import DetectionPipeline
from gateway.pipeline.keyframes import KeyframePlan, KeyframeScorer
from gateway.pipeline.params import DetectParams
from gateway.pipeline.video import SampledFrame
from gateway.settings import Settings
from gateway.upstream.serving_client import ServingClient
from gateway.upstream.serving_types import ModelRef


async def until(condition: Callable[[], object], timeout_s: float = 10.0) -> None:
    """Wait until ``condition()`` holds or ``timeout_s`` passes (the test's asserts decide)."""
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


class _SlowWithoutModelInfo(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Answers every Predict after ``delay_s`` as a version without ``model_info`` does."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.ended = 0
        self.cancelled = 0

    async def Predict(self, request, context):  # type: ignore[no-untyped-def]
        try:
            await asyncio.sleep(self.delay_s)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        self.ended += 1
        await context.abort(
            grpc.StatusCode.FAILED_PRECONDITION, 'Serving signature key "model_info" not found.'
        )


async def _detect_a_text_file(path: Path) -> _SlowWithoutModelInfo:
    server = grpc.aio.server()
    servicer = _SlowWithoutModelInfo(delay_s=0.5)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    settings = Settings(SERVING_TARGET=f"127.0.0.1:{port}")
    client = ServingClient.from_settings(settings)
    try:
        pipeline = DetectionPipeline.from_settings(settings, client)
        with pytest.raises(InvalidVideo):
            await pipeline.detect(path, DetectParams().options(settings), deadline_s=10)
        # The probe failed long before the call could end; give the call its time.
        await until(lambda: servicer.ended or servicer.cancelled)
        return servicer
    finally:
        await client.close()
        await server.stop(0)


def test_a_failed_probe_leaves_the_model_info_call_to_end(tmp_path: Path) -> None:
    text = tmp_path / "upload-notvideo.video"
    text.write_bytes(b"this is a text file, not a video\n" * 64)
    servicer = asyncio.run(_detect_a_text_file(text))
    assert (servicer.ended, servicer.cancelled) == (1, 0)


class _Keyframes(prediction_service_pb2_grpc.PredictionServiceServicer):
    """``detect_faces`` (one face per frame), slow after the first call; ``classify_boxes``."""

    def __init__(self, slow_s: float) -> None:
        self.slow_s = slow_s
        self.detects = 0
        self.ended = 0
        self.cancelled = 0
        self.classified = 0

    async def Predict(self, request, context):  # type: ignore[no-untyped-def]
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        n = int(request.inputs[contract.FRAMES_INPUT].tensor_shape.dim[0].size)
        response = predict_pb2.PredictResponse()
        response.model_spec.CopyFrom(request.model_spec)
        if request.model_spec.signature_name == contract.CLASSIFY_BOXES_SIGNATURE:
            self.classified += 1
            response.outputs[contract.FAKE_PROBABILITY].CopyFrom(
                tf.make_tensor_proto(np.full((n,), 0.5, np.float32))
            )
            return response
        self.detects += 1
        try:
            if self.detects > 1:
                await asyncio.sleep(self.slow_s)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        self.ended += 1
        boxes = np.tile(np.array([[[0.2, 0.2, 0.8, 0.8]]], np.float32), (n, 1, 1))
        for key, value in (
            (contract.FACE_BOXES, boxes),
            (contract.FACE_SCORES, np.full((n, 1), 0.99, np.float32)),
            (contract.FACE_COUNT, np.ones((n,), np.int32)),
        ):
            response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
        return response


async def _abandon_mid_detection() -> _Keyframes:
    server = grpc.aio.server()
    servicer = _Keyframes(slow_s=0.5)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    client = ServingClient.from_settings(Settings(SERVING_TARGET=f"127.0.0.1:{port}"))
    frames = [SampledFrame(i, i / 4, np.zeros((64, 64, 3), np.uint8)) for i in range(8)]
    try:
        scorer = KeyframeScorer(client, ModelRef("m", version=1), KeyframePlan(every=4), 8, 4)
        assert await scorer.add(frames[:4])
        # The first keyframes' frames are scored; the next detection is still running.
        await until(lambda: servicer.classified)
        assert await scorer.add(frames[4:])
        await until(lambda: servicer.detects == 2)  # the second detection has reached Serving
        scorer.abandon()
        await until(lambda: servicer.ended == 2 or servicer.cancelled)
        await asyncio.sleep(0.2)  # time for a classify_boxes call that should not be sent
        return servicer
    finally:
        await client.close()
        await server.stop(0)


def test_an_abandoned_keyframe_scorer_lets_its_detection_end_and_sends_nothing_more() -> None:
    servicer = asyncio.run(_abandon_mid_detection())
    assert (servicer.detects, servicer.ended, servicer.cancelled) == (2, 2, 0)
    assert servicer.classified == 1
