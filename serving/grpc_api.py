"""The gRPC services: PredictionService and ModelService on the official stubs."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import grpc
from google.protobuf import any_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)
from tensorflow_serving.apis import status_pb2 as serving_status_pb2

from . import tensors
from .core import ServerCore
from .errors import ServingError, invalid_argument, not_found
from .metrics import Metrics

log = logging.getLogger(__name__)

SIGNATURE_DEF_FIELD = "signature_def"

_R = TypeVar("_R")


def _call(
    context: grpc.ServicerContext,
    api: str,
    model_name: str,
    metrics: Metrics | None,
    body: Callable[[], _R],
) -> _R:
    """Run a handler; a ServingError becomes the gRPC status TF Serving would send."""
    start = time.monotonic()
    try:
        result = body()
    except ServingError as exc:
        if metrics is not None:
            metrics.observe_request(api, model_name, exc.code, time.monotonic() - start)
        log.debug("%s failed: %s %s", api, exc.code.name, exc.message)
        context.abort(exc.code, exc.message)
    if metrics is not None:
        metrics.observe_request(api, model_name, grpc.StatusCode.OK, time.monotonic() - start)
    return result


def status_proto(code: grpc.StatusCode, message: str) -> serving_status_pb2.StatusProto:
    """TF Serving's StatusProto (util/status_util.cc ToStatusProto)."""
    proto = serving_status_pb2.StatusProto(error_code=code.value[0])
    if code != grpc.StatusCode.OK:
        proto.error_message = message
    return proto


def predict(core: ServerCore, request: predict_pb2.PredictRequest) -> predict_pb2.PredictResponse:
    """Predict through the core; shared by gRPC and REST."""
    with core.servable(request.model_spec) as (version, servable):
        outputs = servable.predict(request)
    response = predict_pb2.PredictResponse()
    # MakeModelSpec (servables/tensorflow/util.cc): name, version that answered, signature.
    response.model_spec.name = request.model_spec.name
    response.model_spec.version.value = version
    response.model_spec.signature_name = request.model_spec.signature_name or "serving_default"
    for alias, array in outputs.items():
        response.outputs[alias].CopyFrom(tensors.from_numpy(array))
    return response


def model_metadata(
    core: ServerCore, request: get_model_metadata_pb2.GetModelMetadataRequest
) -> get_model_metadata_pb2.GetModelMetadataResponse:
    """GetModelMetadata (servables/tensorflow/get_model_metadata_impl.cc)."""
    if not request.HasField("model_spec"):
        raise invalid_argument("Missing ModelSpec")
    if not request.metadata_field:
        raise invalid_argument("GetModelMetadataRequest must specify at least one metadata_field")
    for field in request.metadata_field:
        if field != SIGNATURE_DEF_FIELD:
            raise invalid_argument(f"Metadata field {field} is not supported")
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    with core.servable(request.model_spec) as (version, servable):
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        for key, signature in servable.signatures.items():
            signature_map.signature_def[key].CopyFrom(signature)
    response.model_spec.name = request.model_spec.name
    response.model_spec.version.value = version
    packed = any_pb2.Any()
    packed.Pack(signature_map)
    response.metadata[SIGNATURE_DEF_FIELD].CopyFrom(packed)
    return response


def model_status(
    core: ServerCore, request: get_model_status_pb2.GetModelStatusRequest
) -> get_model_status_pb2.GetModelStatusResponse:
    """GetModelStatus (model_servers/get_model_status_impl.cc)."""
    if not request.HasField("model_spec"):
        raise invalid_argument("Missing ModelSpec")
    spec = request.model_spec
    states = core.manager.version_states(spec.name)
    response = get_model_status_pb2.GetModelStatusResponse()
    choice = spec.WhichOneof("version_choice")
    if choice is not None:
        version = core.resolve_version(spec)
        assert version is not None
        if version not in states:
            raise not_found(f"Could not find version {version} of model {spec.name}")
        selected = [states[version]]
    else:
        if not states:
            raise not_found(f"Could not find any versions of model {spec.name}")
        # ServableStateMonitor::VersionMap is ordered by descending version.
        selected = [states[v] for v in sorted(states, reverse=True)]
    for status in selected:
        row = response.model_version_status.add()
        row.version = status.version
        row.state = status.state
        row.status.CopyFrom(status_proto(status.error_code, status.error_message))
    return response


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    """tensorflow.serving.PredictionService: Predict and GetModelMetadata."""

    def __init__(self, core: ServerCore, metrics: Metrics | None = None) -> None:
        self._core = core
        self._metrics = metrics

    def Predict(self, request: Any, context: grpc.ServicerContext) -> Any:
        return _call(
            context,
            "Predict",
            request.model_spec.name,
            self._metrics,
            lambda: predict(self._core, request),
        )

    def GetModelMetadata(self, request: Any, context: grpc.ServicerContext) -> Any:
        return _call(
            context,
            "GetModelMetadata",
            request.model_spec.name,
            self._metrics,
            lambda: model_metadata(self._core, request),
        )


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    """tensorflow.serving.ModelService: GetModelStatus and HandleReloadConfigRequest."""

    def __init__(self, core: ServerCore, metrics: Metrics | None = None) -> None:
        self._core = core
        self._metrics = metrics

    def GetModelStatus(self, request: Any, context: grpc.ServicerContext) -> Any:
        return _call(
            context,
            "GetModelStatus",
            request.model_spec.name,
            self._metrics,
            lambda: model_status(self._core, request),
        )

    def HandleReloadConfigRequest(
        self, request: model_management_pb2.ReloadConfigRequest, context: grpc.ServicerContext
    ) -> model_management_pb2.ReloadConfigResponse:
        # model_service_impl.cc: the status goes both into the response and the RPC status.
        response = model_management_pb2.ReloadConfigResponse()
        try:
            if request.config.WhichOneof("config") != "model_config_list":
                raise invalid_argument(
                    "ServerModelConfig type not supported by HandleReloadConfigRequest. "
                    "Only ModelConfigList is currently supported"
                )
            for index, model in enumerate(request.config.model_config_list.config):
                log.info(
                    "Config entry index : %d path : %s name : %s platform : %s",
                    index,
                    model.base_path,
                    model.name,
                    model.model_platform,
                )
            self._core.reload_config(request.config)
        except ServingError as exc:
            log.error("ReloadConfig failed: %s", exc.message)
            response.status.CopyFrom(status_proto(exc.code, exc.message))
            context.set_code(exc.code)
            context.set_details(exc.message)
            return response
        response.status.CopyFrom(status_proto(grpc.StatusCode.OK, ""))
        return response


def add_services(server: grpc.Server, core: ServerCore, metrics: Metrics | None = None) -> None:
    """Register both services on a grpc server."""
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionServicer(core, metrics), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(core, metrics), server)
