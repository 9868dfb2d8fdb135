"""The data plane: Predict, GetModelStatus, GetModelMetadata and ReloadConfig, once.

Both transports call ``DataPlane``: the gRPC servicers pass their requests
through, the REST handler builds the same request protos from the URL and the
JSON body. Every answer, and every ``ServingError`` with TF Serving's code and
message, is produced here, so the two ports cannot drift apart. Rendering the
answer and mapping the error to a status belong to the transports.
"""

from __future__ import annotations

import logging

import grpc
from google.protobuf import any_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_management_pb2,
    model_pb2,
    predict_pb2,
)
from tensorflow_serving.apis import status_pb2 as serving_status_pb2

from . import tensors
from .core import ServerCore
from .errors import invalid_argument, not_found
from .servable import DEFAULT_SIGNATURE

log = logging.getLogger(__name__)

#: The only metadata field TF Serving supports (get_model_metadata_impl.cc).
SIGNATURE_DEF_FIELD = "signature_def"


def status_proto(code: grpc.StatusCode, message: str) -> serving_status_pb2.StatusProto:
    """TF Serving's StatusProto (util/status_util.cc ToStatusProto)."""
    proto = serving_status_pb2.StatusProto(error_code=code.value[0])
    if code != grpc.StatusCode.OK:
        proto.error_message = message
    return proto


class DataPlane:
    """The model server's request logic over a ``ServerCore``, independent of transport.

    Methods take and return ``tensorflow_serving.apis`` messages and raise
    ``ServingError`` with the code and message TF Serving gives.
    """

    def __init__(self, core: ServerCore) -> None:
        self._core = core

    def predict(self, request: predict_pb2.PredictRequest) -> predict_pb2.PredictResponse:
        """Predict (servables/tensorflow/predict_impl.cc) on the version the spec names."""
        with self._core.servable(request.model_spec) as (version, servable):
            outputs = servable.predict(request)
        response = predict_pb2.PredictResponse()
        # MakeModelSpec (servables/tensorflow/util.cc): name, version that answered, signature.
        response.model_spec.name = request.model_spec.name
        response.model_spec.version.value = version
        response.model_spec.signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
        for alias, array in outputs.items():
            response.outputs[alias].CopyFrom(tensors.from_numpy(array))
        return response

    def input_dtypes(self, spec: model_pb2.ModelSpec, signature_name: str) -> dict[str, int]:
        """Input alias -> DataType of a signature, for transports whose values carry no type.

        An unknown model or signature fails as Predict would.
        """
        with self._core.servable(spec) as (_, servable):
            signature = servable.signature(signature_name)
            return {alias: info.dtype for alias, info in signature.inputs.items()}

    def model_metadata(
        self, request: get_model_metadata_pb2.GetModelMetadataRequest
    ) -> get_model_metadata_pb2.GetModelMetadataResponse:
        """GetModelMetadata (servables/tensorflow/get_model_metadata_impl.cc)."""
        if not request.HasField("model_spec"):
            raise invalid_argument("Missing ModelSpec")
        if not request.metadata_field:
            raise invalid_argument(
                "GetModelMetadataRequest must specify at least one metadata_field"
            )
        for field in request.metadata_field:
            if field != SIGNATURE_DEF_FIELD:
                raise invalid_argument(f"Metadata field {field} is not supported")
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        with self._core.servable(request.model_spec) as (version, servable):
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
        self, request: get_model_status_pb2.GetModelStatusRequest
    ) -> get_model_status_pb2.GetModelStatusResponse:
        """GetModelStatus (model_servers/get_model_status_impl.cc)."""
        if not request.HasField("model_spec"):
            raise invalid_argument("Missing ModelSpec")
        spec = request.model_spec
        states = self._core.manager.version_states(spec.name)
        if spec.WhichOneof("version_choice") is not None:
            version = self._core.resolve_version(spec)
            assert version is not None
            if version not in states:
                raise not_found(f"Could not find version {version} of model {spec.name}")
            selected = [states[version]]
        else:
            if not states:
                raise not_found(f"Could not find any versions of model {spec.name}")
            # ServableStateMonitor::VersionMap is ordered by descending version.
            selected = [states[v] for v in sorted(states, reverse=True)]
        response = get_model_status_pb2.GetModelStatusResponse()
        for state in selected:
            row = response.model_version_status.add()
            row.version = state.version
            row.state = state.state
            row.status.CopyFrom(status_proto(state.error_code, state.error_message))
        return response

    def reload_config(self, request: model_management_pb2.ReloadConfigRequest) -> None:
        """HandleReloadConfigRequest (model_servers/model_service_impl.cc) without the reply."""
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
