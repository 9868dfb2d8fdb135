"""The gRPC transport: PredictionService and ModelService on the official stubs.

A thin adapter over ``DataPlane``: each RPC hands its request to the data plane
and returns its answer; ``_Servicer._call`` is the one place a ``ServingError``
becomes the RPC status and a request is counted in the metrics.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import grpc
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from .data_plane import DataPlane, status_proto
from .errors import ServingError
from .metrics import Metrics

log = logging.getLogger(__name__)

_R = TypeVar("_R")


class _Servicer:
    """What both services share: the data plane, the metrics, and error handling."""

    def __init__(self, plane: DataPlane, metrics: Metrics) -> None:
        self._plane = plane
        self._metrics = metrics

    def _call(
        self,
        context: grpc.ServicerContext,
        api: str,
        model_name: str,
        body: Callable[[], _R],
        *,
        metered: bool = True,
        reply_on_error: Callable[[ServingError], _R] | None = None,
    ) -> _R:
        """Run ``body``; a ServingError becomes the gRPC status TF Serving would send.

        A ``metered`` call is counted in the request metrics under ``api``. With
        ``reply_on_error`` a failure also returns that reply, for RPCs whose
        response carries the status too; otherwise the RPC is aborted.
        """
        start = time.monotonic()
        try:
            result = body()
        except ServingError as exc:
            if metered:
                self._metrics.observe_request(
                    api, model_name, exc.code, time.monotonic() - start, "GRPC"
                )
            log.debug("%s failed: %s %s", api, exc.code.name, exc.message)
            if reply_on_error is None:
                context.abort(exc.code, exc.message)
            context.set_code(exc.code)
            context.set_details(exc.message)
            return reply_on_error(exc)
        if metered:
            self._metrics.observe_request(
                api, model_name, grpc.StatusCode.OK, time.monotonic() - start, "GRPC"
            )
        return result


class PredictionServicer(_Servicer, prediction_service_pb2_grpc.PredictionServiceServicer):
    """tensorflow.serving.PredictionService: Predict and GetModelMetadata."""

    def Predict(
        self, request: predict_pb2.PredictRequest, context: grpc.ServicerContext
    ) -> predict_pb2.PredictResponse:
        return self._call(
            context, "Predict", request.model_spec.name, lambda: self._plane.predict(request)
        )

    def GetModelMetadata(
        self, request: get_model_metadata_pb2.GetModelMetadataRequest, context: grpc.ServicerContext
    ) -> get_model_metadata_pb2.GetModelMetadataResponse:
        return self._call(
            context,
            "GetModelMetadata",
            request.model_spec.name,
            lambda: self._plane.model_metadata(request),
        )


class ModelServicer(_Servicer, model_service_pb2_grpc.ModelServiceServicer):
    """tensorflow.serving.ModelService: GetModelStatus and HandleReloadConfigRequest."""

    def GetModelStatus(
        self, request: get_model_status_pb2.GetModelStatusRequest, context: grpc.ServicerContext
    ) -> get_model_status_pb2.GetModelStatusResponse:
        return self._call(
            context,
            "GetModelStatus",
            request.model_spec.name,
            lambda: self._plane.model_status(request),
        )

    def HandleReloadConfigRequest(
        self, request: model_management_pb2.ReloadConfigRequest, context: grpc.ServicerContext
    ) -> model_management_pb2.ReloadConfigResponse:
        def reload() -> model_management_pb2.ReloadConfigResponse:
            self._plane.reload_config(request)
            return model_management_pb2.ReloadConfigResponse(
                status=status_proto(grpc.StatusCode.OK, "")
            )

        def failed(exc: ServingError) -> model_management_pb2.ReloadConfigResponse:
            # model_service_impl.cc: the status goes both into the response and the RPC status.
            log.error("ReloadConfig failed: %s", exc.message)
            return model_management_pb2.ReloadConfigResponse(
                status=status_proto(exc.code, exc.message)
            )

        # A config reload is not a request to a model: it is not counted.
        return self._call(context, "ReloadConfig", "", reload, metered=False, reply_on_error=failed)


def add_services(server: grpc.Server, plane: DataPlane, metrics: Metrics) -> None:
    """Register both services on a grpc server."""
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionServicer(plane, metrics), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(plane, metrics), server)
