"""A Serving call whose answer is no longer needed is left to end, never cancelled.

Cancelling a ``grpc.aio`` call mid-flight leaks its batch's native operations
(grpc/grpc#43360), about 1.5 KB per upload whose probe fails. Against a real gRPC server
that takes a moment over ``model_info``, an upload that is not a video fails its probe
first: the server must see the call through to its end, not cancelled.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest
from tensorflow_serving.apis import prediction_service_pb2_grpc

from gateway.errors import InvalidVideo
from gateway.pipeline.detection import DetectionPipeline
from gateway.pipeline.params import DetectParams
from gateway.settings import Settings
from gateway.upstream.serving_client import ServingClient


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
        for _ in range(40):
            if servicer.ended or servicer.cancelled:
                break
            await asyncio.sleep(0.05)
        return servicer
    finally:
        await client.close()
        await server.stop(0)


def test_a_failed_probe_leaves_the_model_info_call_to_end(tmp_path: Path) -> None:
    text = tmp_path / "upload-notvideo.video"
    text.write_bytes(b"this is a text file, not a video\n" * 64)
    servicer = asyncio.run(_detect_a_text_file(text))
    assert (servicer.ended, servicer.cancelled) == (1, 0)
