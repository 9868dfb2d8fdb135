"""Serving's gRPC status codes as the gateway's domain errors, against a real gRPC server.

The server here speaks TF Serving's PredictionService and ends every Predict with one
status, as Serving does when it shuts down (CANCELLED), is unreachable (UNAVAILABLE) or
fails to run a graph (INTERNAL).
"""

from __future__ import annotations

import asyncio

import grpc
import numpy as np
import pytest
from tensorflow_serving.apis import prediction_service_pb2_grpc

import contract
from gateway.errors import InferenceFailed, ServingUnavailable, UpstreamError
from gateway.settings import Settings
from gateway.upstream.serving_client import ServingClient
from gateway.upstream.serving_types import ModelRef


class _Ending(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Ends every Predict with ``code``; counts the calls."""

    def __init__(self, code: grpc.StatusCode) -> None:
        self.code = code
        self.calls = 0

    async def Predict(self, request, context):  # type: ignore[no-untyped-def]
        self.calls += 1
        await context.abort(self.code, "Serving's own words, never shown to a client")


async def _predict_against(code: grpc.StatusCode) -> tuple[UpstreamError, int]:
    server = grpc.aio.server()
    servicer = _Ending(code)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    client = ServingClient.from_settings(
        Settings(SERVING_TARGET=f"127.0.0.1:{port}", SERVING_RETRIES="2")
    )
    try:
        frames = np.zeros((1, 8, 8, 3), np.uint8)
        with pytest.raises(UpstreamError) as caught:
            await client.predict(ModelRef("deepfake"), {contract.FRAMES_INPUT: frames})
        return caught.value, servicer.calls
    finally:
        await client.close()
        await server.stop(0)


@pytest.mark.parametrize(
    ("code", "error", "calls"),
    [
        # Serving stopping cancels the calls it has not finished: it is going away.
        (grpc.StatusCode.CANCELLED, ServingUnavailable, 1),
        # Retried on the next attempt, then given up: the retries are SERVING_RETRIES.
        (grpc.StatusCode.UNAVAILABLE, ServingUnavailable, 3),
        (grpc.StatusCode.INTERNAL, InferenceFailed, 1),
    ],
)
def test_a_status_from_serving_is_the_right_domain_error(
    code: grpc.StatusCode, error: type[UpstreamError], calls: int
) -> None:
    raised, seen = asyncio.run(_predict_against(code))
    assert type(raised) is error
    assert "own words" not in str(raised)
    assert seen == calls
