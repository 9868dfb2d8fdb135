"""gRPC and REST answer alike because both go through the one DataPlane.

For the same model, status, metadata, Predict and their errors must match
across the two ports of one real server: the REST answers are the gRPC
answers rendered as TF Serving's JSON.
"""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from google.protobuf import json_format
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

import contract
from serving import tensors

from .conftest import frames

pytestmark = pytest.mark.slow

#: ModelSpecs and the REST paths that name the same versions.
SPECS = [
    (model_pb2.ModelSpec(name="deepfake"), "/v1/models/deepfake"),
    (
        model_pb2.ModelSpec(name="deepfake", version={"value": 1}),
        "/v1/models/deepfake/versions/1",
    ),
    (
        model_pb2.ModelSpec(name="deepfake", version_label="canary"),
        "/v1/models/deepfake/labels/canary",
    ),
]
IDS = ["latest", "version", "label"]


def _json(message: object) -> dict:
    return json_format.MessageToDict(
        message, always_print_fields_with_no_presence=True, preserving_proto_field_name=True
    )


@pytest.fixture(scope="module")
def ports(rest_server):
    """(PredictionService stub, ModelService stub, REST client) of one server."""
    server, client, _ = rest_server
    with server.channel() as channel:
        yield (
            prediction_service_pb2_grpc.PredictionServiceStub(channel),
            model_service_pb2_grpc.ModelServiceStub(channel),
            client,
        )


@pytest.mark.parametrize(("spec", "path"), SPECS, ids=IDS)
def test_status_is_the_same_on_both_ports(ports, spec, path):
    _, models, client = ports
    request = get_model_status_pb2.GetModelStatusRequest(model_spec=spec)
    over_grpc = models.GetModelStatus(request, timeout=10)
    over_rest = client.get(path)
    assert over_rest.status_code == 200
    assert over_rest.json() == _json(over_grpc)
    assert over_grpc.model_version_status  # not vacuous


@pytest.mark.parametrize(("spec", "path"), SPECS, ids=IDS)
def test_metadata_is_the_same_on_both_ports(ports, spec, path):
    prediction, _, client = ports
    request = get_model_metadata_pb2.GetModelMetadataRequest(model_spec=spec)
    request.metadata_field.append("signature_def")
    over_grpc = prediction.GetModelMetadata(request, timeout=10)
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    over_grpc.metadata["signature_def"].Unpack(signature_map)
    over_rest = client.get(path + "/metadata")
    assert over_rest.status_code == 200
    assert over_rest.json() == {
        "model_spec": _json(over_grpc.model_spec),
        "metadata": {"signature_def": _json(signature_map)},
    }
    assert contract.SERVING_SIGNATURE in signature_map.signature_def


@pytest.mark.parametrize(("spec", "path"), SPECS, ids=IDS)
def test_predict_is_the_same_on_both_ports(ports, spec, path):
    prediction, _, client = ports
    batch = frames(n=3, h=20, w=24, seed=9)
    request = predict_pb2.PredictRequest(model_spec=spec)
    request.inputs[contract.FRAMES_INPUT].CopyFrom(tensors.from_numpy(batch))
    over_grpc = prediction.Predict(request, timeout=30)
    over_rest = client.post(path + ":predict", json={"inputs": batch.tolist()})
    assert over_rest.status_code == 200, over_rest.text
    outputs = over_rest.json()["outputs"]
    assert (
        set(outputs)
        == set(over_grpc.outputs)
        == {
            contract.FAKE_PROBABILITY,
            contract.THRESHOLD,
        }
    )
    for alias, proto in over_grpc.outputs.items():
        expected = tensors.to_numpy(proto)
        got = np.asarray(outputs[alias], dtype=expected.dtype)
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=0)


@pytest.mark.parametrize(
    ("spec", "path", "grpc_code", "http_status"),
    [
        (
            model_pb2.ModelSpec(name="nope"),
            "/v1/models/nope",
            grpc.StatusCode.NOT_FOUND,
            404,
        ),
        (
            model_pb2.ModelSpec(name="deepfake", version={"value": 7}),
            "/v1/models/deepfake/versions/7",
            grpc.StatusCode.NOT_FOUND,
            404,
        ),
        (
            model_pb2.ModelSpec(name="deepfake", version_label="nope"),
            "/v1/models/deepfake/labels/nope",
            grpc.StatusCode.INVALID_ARGUMENT,
            400,
        ),
    ],
    ids=["model", "version", "label"],
)
def test_errors_are_the_same_on_both_ports(ports, spec, path, grpc_code, http_status):
    prediction, models, client = ports
    status_request = get_model_status_pb2.GetModelStatusRequest(model_spec=spec)
    metadata_request = get_model_metadata_pb2.GetModelMetadataRequest(model_spec=spec)
    metadata_request.metadata_field.append("signature_def")
    predict_request = predict_pb2.PredictRequest(model_spec=spec)
    predict_request.inputs[contract.FRAMES_INPUT].CopyFrom(tensors.from_numpy(frames(n=1)))
    calls = [
        (lambda: models.GetModelStatus(status_request, timeout=10), client.get(path)),
        (
            lambda: prediction.GetModelMetadata(metadata_request, timeout=10),
            client.get(path + "/metadata"),
        ),
        (
            lambda: prediction.Predict(predict_request, timeout=30),
            client.post(path + ":predict", json={"inputs": frames(n=1).tolist()}),
        ),
    ]
    for call, over_rest in calls:
        with pytest.raises(grpc.RpcError) as info:
            call()
        assert info.value.code() == grpc_code
        assert over_rest.status_code == http_status
        assert over_rest.json() == {"error": info.value.details()}
