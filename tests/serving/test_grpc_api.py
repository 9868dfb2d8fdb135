"""Predict, GetModelMetadata and GetModelStatus over real gRPC with the official stubs."""

from __future__ import annotations

import signal

import grpc
import numpy as np
import pytest
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

import contract
from serving import tensors
from serving.client import wait_until_available

from .conftest import frames, publish

AVAILABLE = get_model_status_pb2.ModelVersionStatus.State.Value("AVAILABLE")


def predict_request(
    inputs: dict[str, np.ndarray], name: str = "deepfake", **spec: object
) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    for key, value in spec.items():
        if key == "version":
            request.model_spec.version.value = value  # type: ignore[assignment]
        else:
            setattr(request.model_spec, key, value)
    for key, array in inputs.items():
        request.inputs[key].CopyFrom(tensors.from_numpy(array))
    return request


@pytest.fixture(scope="module")
def stubs(served_model):
    server, _ = served_model
    channel = server.channel()
    yield (
        prediction_service_pb2_grpc.PredictionServiceStub(channel),
        model_service_pb2_grpc.ModelServiceStub(channel),
    )
    channel.close()


def test_predict_equals_in_process_model(served_model, stubs):
    _, serve = served_model
    prediction, _ = stubs
    batch = frames(n=4, h=45, w=80, seed=1)
    response = prediction.Predict(predict_request({contract.FRAMES_INPUT: batch}), timeout=30)
    expected = {k: v.numpy() for k, v in serve(batch).items()}
    got = {k: tensors.to_numpy(v) for k, v in response.outputs.items()}
    assert set(got) == {contract.FAKE_PROBABILITY, contract.THRESHOLD}
    assert got[contract.FAKE_PROBABILITY].dtype == np.float32
    assert got[contract.FAKE_PROBABILITY].shape == (4,)
    np.testing.assert_allclose(
        got[contract.FAKE_PROBABILITY], expected["fake_probability"], rtol=1e-5, atol=1e-6
    )
    assert got[contract.THRESHOLD].shape == ()
    assert float(got[contract.THRESHOLD]) == pytest.approx(0.5)
    # Outputs are packed bytes, not repeated float_val.
    assert response.outputs[contract.FAKE_PROBABILITY].tensor_content
    assert not response.outputs[contract.FAKE_PROBABILITY].float_val
    assert response.model_spec.name == "deepfake"
    assert response.model_spec.version.value == 1
    assert response.model_spec.signature_name == contract.SERVING_SIGNATURE


def test_predict_accepts_typed_value_fields(served_model, stubs):
    """A request built with int_val (as tf.make_tensor_proto may do) decodes the same."""
    _, serve = served_model
    prediction, _ = stubs
    batch = frames(n=1, h=8, w=8, seed=2)
    request = predict_request({})
    proto = request.inputs[contract.FRAMES_INPUT]
    proto.dtype = types_pb2.DT_UINT8
    proto.tensor_shape.CopyFrom(tensors.shape_proto(batch.shape))
    proto.int_val.extend(int(v) for v in batch.reshape(-1))
    response = prediction.Predict(request, timeout=30)
    np.testing.assert_allclose(
        tensors.to_numpy(response.outputs[contract.FAKE_PROBABILITY]),
        serve(batch)["fake_probability"].numpy(),
        rtol=1e-5,
        atol=1e-6,
    )


def test_output_filter_returns_only_named_outputs(stubs):
    prediction, _ = stubs
    request = predict_request({contract.FRAMES_INPUT: frames(n=2)})
    request.output_filter.append(contract.THRESHOLD)
    response = prediction.Predict(request, timeout=30)
    assert list(response.outputs) == [contract.THRESHOLD]


def test_output_filter_unknown_alias_is_invalid_argument(stubs):
    prediction, _ = stubs
    request = predict_request({contract.FRAMES_INPUT: frames(n=1)})
    request.output_filter.append("nope")
    with pytest.raises(grpc.RpcError) as info:
        prediction.Predict(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "output tensor alias not found in signature: nope" in info.value.details()


def test_explicit_version_and_signature(stubs):
    prediction, _ = stubs
    request = predict_request(
        {contract.FRAMES_INPUT: frames(n=1)},
        version=1,
        signature_name=contract.SERVING_SIGNATURE,
    )
    assert prediction.Predict(request, timeout=30).model_spec.version.value == 1


def test_metadata_lists_signature(stubs):
    prediction, _ = stubs
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "deepfake"
    request.metadata_field.append("signature_def")
    response = prediction.GetModelMetadata(request, timeout=30)
    assert response.model_spec.name == "deepfake"
    assert response.model_spec.version.value == 1
    packed = response.metadata["signature_def"]
    assert packed.type_url == "type.googleapis.com/tensorflow.serving.SignatureDefMap"
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    assert packed.Unpack(signature_map)
    signature = signature_map.signature_def[contract.SERVING_SIGNATURE]
    assert signature.method_name == "tensorflow/serving/predict"
    frames_info = signature.inputs[contract.FRAMES_INPUT]
    assert frames_info.dtype == types_pb2.DT_UINT8
    assert [d.size for d in frames_info.tensor_shape.dim] == [-1, -1, -1, 3]
    assert set(signature.outputs) == {contract.FAKE_PROBABILITY, contract.THRESHOLD}
    assert signature.outputs[contract.FAKE_PROBABILITY].dtype == types_pb2.DT_FLOAT


def test_metadata_without_field_is_invalid_argument(stubs):
    prediction, _ = stubs
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "deepfake"
    with pytest.raises(grpc.RpcError) as info:
        prediction.GetModelMetadata(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "must specify at least one metadata_field" in info.value.details()


def test_status_is_available(stubs):
    _, model = stubs
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "deepfake"
    response = model.GetModelStatus(request, timeout=30)
    assert [(s.version, s.state) for s in response.model_version_status] == [(1, AVAILABLE)]
    assert response.model_version_status[0].status.error_code == 0
    assert response.model_version_status[0].status.error_message == ""


def test_wait_until_available_returns_the_version(served_model):
    server, _ = served_model
    assert wait_until_available(server.target, "deepfake", timeout_s=10) == 1


def test_wait_until_available_times_out_for_unknown_model(served_model):
    server, _ = served_model
    with pytest.raises(TimeoutError, match="NOT_FOUND"):
        wait_until_available(server.target, "nobody", timeout_s=0.5)


def test_unknown_model_is_not_found(stubs):
    prediction, model = stubs
    with pytest.raises(grpc.RpcError) as info:
        prediction.Predict(predict_request({contract.FRAMES_INPUT: frames(n=1)}, name="x"))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert info.value.details() == "Servable not found for request: Latest(x)"

    meta = get_model_metadata_pb2.GetModelMetadataRequest()
    meta.model_spec.name = "x"
    meta.metadata_field.append("signature_def")
    with pytest.raises(grpc.RpcError) as info:
        prediction.GetModelMetadata(meta)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND

    status = get_model_status_pb2.GetModelStatusRequest()
    status.model_spec.name = "x"
    with pytest.raises(grpc.RpcError) as info:
        model.GetModelStatus(status)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert info.value.details() == "Could not find any versions of model x"


def test_unknown_version_is_not_found(stubs):
    prediction, model = stubs
    with pytest.raises(grpc.RpcError) as info:
        prediction.Predict(predict_request({contract.FRAMES_INPUT: frames(n=1)}, version=7))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert info.value.details() == "Servable not found for request: Specific(deepfake, 7)"
    status = get_model_status_pb2.GetModelStatusRequest()
    status.model_spec.name = "deepfake"
    status.model_spec.version.value = 7
    with pytest.raises(grpc.RpcError) as info:
        model.GetModelStatus(status)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert info.value.details() == "Could not find version 7 of model deepfake"


def test_unknown_label_is_invalid_argument(stubs):
    prediction, _ = stubs
    request = predict_request({contract.FRAMES_INPUT: frames(n=1)}, version_label="nope")
    with pytest.raises(grpc.RpcError) as info:
        prediction.Predict(request)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details() == "Unrecognized servable version label: nope"


def test_unknown_signature_is_failed_precondition(stubs):
    prediction, _ = stubs
    request = predict_request({contract.FRAMES_INPUT: frames(n=1)}, signature_name="nope")
    with pytest.raises(grpc.RpcError) as info:
        prediction.Predict(request)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert info.value.details() == 'Serving signature key "nope" not found.'


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"images": frames(n=1)}, "Signature input alias: frames"),
        ({contract.FRAMES_INPUT: frames(n=1), "extra": frames(n=1)}, "input size does not match"),
        ({contract.FRAMES_INPUT: frames(n=1).astype(np.float32)}, "to be uint8 but float"),
        ({contract.FRAMES_INPUT: frames(n=1)[..., :2]}, "not compatible with the signature"),
        ({contract.FRAMES_INPUT: frames(n=1)[0]}, "not compatible with the signature"),
    ],
    ids=["wrong-name", "extra-input", "wrong-dtype", "wrong-channels", "wrong-rank"],
)
def test_bad_inputs_are_invalid_argument(stubs, inputs, message):
    prediction, _ = stubs
    with pytest.raises(grpc.RpcError) as info:
        prediction.Predict(predict_request(inputs), timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in info.value.details()


def test_truncated_tensor_content_is_invalid_argument(stubs):
    prediction, _ = stubs
    request = predict_request({contract.FRAMES_INPUT: frames(n=1, h=4, w=4)})
    proto = request.inputs[contract.FRAMES_INPUT]
    proto.tensor_content = proto.tensor_content[:-1]
    with pytest.raises(grpc.RpcError) as info:
        prediction.Predict(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details() == "tensor parsing error: frames"


def test_large_request_is_accepted(stubs):
    """The server takes messages far over gRPC's 4 MB default (TF Serving: INT32_MAX)."""
    prediction, _ = stubs
    big = frames(n=8, h=480, w=640, seed=3)  # 7.4 MB
    assert big.nbytes > 4 * 1024 * 1024
    response = prediction.Predict(predict_request({contract.FRAMES_INPUT: big}), timeout=60)
    assert tensors.to_numpy(response.outputs[contract.FAKE_PROBABILITY]).shape == (8,)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_cleanly(tmp_path, tiny_model_dir, start_server, sig):
    base = tmp_path / "deepfake"
    base.mkdir()
    publish(tiny_model_dir[0], base, 3)
    server = start_server("--model_name=deepfake", f"--model_base_path={base}")
    assert server.wait_available() == 3
    assert server.stop(sig) == 0
    log = server.log()
    assert "Running gRPC ModelServer at 0.0.0.0:" in log
    assert "Done unloading servable version {name: deepfake version: 3}" in log
