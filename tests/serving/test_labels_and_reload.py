"""Version labels, HandleReloadConfigRequest and --model_config_file polling."""

from __future__ import annotations

import re

import grpc
import pytest
from google.protobuf import text_format
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
)
from tensorflow_serving.config import model_server_config_pb2

from .conftest import model_config, predict_version, publish, status_of, wait_for

pytestmark = pytest.mark.slow


def reload(channel: grpc.Channel, text: str) -> tuple[grpc.StatusCode, str, int]:
    """HandleReloadConfigRequest; returns (rpc code, details, response status code)."""
    request = model_management_pb2.ReloadConfigRequest()
    text_format.Parse(text, request.config)
    stub = model_service_pb2_grpc.ModelServiceStub(channel)
    call = stub.HandleReloadConfigRequest.with_call
    try:
        response, _ = call(request, timeout=120)
    except grpc.RpcError as exc:
        return exc.code(), exc.details(), -1
    return grpc.StatusCode.OK, "", response.status.error_code


def reload_error(channel: grpc.Channel, text: str) -> tuple[grpc.StatusCode, str]:
    request = model_management_pb2.ReloadConfigRequest()
    text_format.Parse(text, request.config)
    stub = model_service_pb2_grpc.ModelServiceStub(channel)
    with pytest.raises(grpc.RpcError) as info:
        stub.HandleReloadConfigRequest(request, timeout=120)
    return info.value.code(), info.value.details()


@pytest.fixture
def three_versions(tmp_path, tiny_model_dir):
    base = tmp_path / "deepfake"
    base.mkdir()
    for version in (1, 2, 3):
        publish(tiny_model_dir[0], base, version)
    return base


def deepfake(base, versions, **labels) -> dict:
    policy = "specific { " + " ".join(f"versions: {v}" for v in versions) + " }"
    return {"name": "deepfake", "base_path": base, "policy": policy, "labels": labels}


def test_labels_need_available_versions_at_startup(tmp_path, three_versions, start_server):
    config = tmp_path / "models.config"
    config.write_text(model_config(deepfake(three_versions, [1, 2], stable=1, canary=2)))
    server = start_server(f"--model_config_file={config}")
    server.expected_exit = 255
    assert server.proc.wait(timeout=120) == 255
    # Proto map order decides which label is checked first, in TF Serving too.
    assert re.search(
        r"FAILED_PRECONDITION: Request to assign label to version [12] of model deepfake, "
        r"which is not currently available for inference",
        server.log(),
    )


def test_labels_and_reload_config(tmp_path, three_versions, tiny_model_dir, start_server):
    base = three_versions
    config = tmp_path / "models.config"
    config.write_text(model_config(deepfake(base, [1, 2], stable=1, canary=2)))
    server = start_server(
        f"--model_config_file={config}", "--allow_version_labels_for_unavailable_models"
    )
    server.wait_available()
    with server.channel() as channel:
        wait_for(lambda: set(status_of(channel)) == {1, 2}, what="versions 1 and 2")
        wait_for(lambda: {s[0] for s in status_of(channel).values()} == {"AVAILABLE"})
        assert predict_version(channel, label="stable") == 1
        assert predict_version(channel, label="canary") == 2
        with pytest.raises(grpc.RpcError) as info:
            predict_version(channel, label="nope")
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert info.value.details() == "Unrecognized servable version label: nope"
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = "deepfake"
        request.model_spec.version_label = "canary"
        (row,) = stub.GetModelStatus(request, timeout=10).model_version_status
        assert row.version == 2

        # Moving an existing label to a version that is not loaded is refused, flag or not.
        code, details = reload_error(
            channel, model_config(deepfake(base, [1, 2, 3], stable=1, canary=3))
        )
        assert code == grpc.StatusCode.FAILED_PRECONDITION
        assert "Request to assign label to version 3 of model deepfake" in details
        assert predict_version(channel, label="canary") == 2  # old config still in force

        # Step 1 of a label move: add version 3, labels stay.
        assert reload(channel, model_config(deepfake(base, [1, 2, 3], stable=1, canary=2))) == (
            grpc.StatusCode.OK,
            "",
            0,
        )
        wait_for(lambda: status_of(channel).get(3, ("",))[0] == "AVAILABLE", what="v3")
        # Step 2: move the labels onto AVAILABLE versions and drop version 1.
        assert reload(channel, model_config(deepfake(base, [2, 3], stable=2, canary=3)))[0] == (
            grpc.StatusCode.OK
        )
        assert predict_version(channel, label="stable") == 2
        assert predict_version(channel, label="canary") == 3
        wait_for(lambda: status_of(channel)[1][0] == "END", what="version 1 unloaded")

        # A new label may name a version that is not loaded, with the flag.
        assert reload(channel, model_config(deepfake(base, [2, 3], stable=2, next=9)))[0] == (
            grpc.StatusCode.OK
        )
        with pytest.raises(grpc.RpcError) as info:
            predict_version(channel, label="next")
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        assert info.value.details() == "Servable not found for request: Specific(deepfake, 9)"

        # A relative base path is refused, with the status in the response as well.
        request = model_management_pb2.ReloadConfigRequest()
        text_format.Parse(
            model_config({"name": "deepfake", "base_path": "relative/path"}), request.config
        )
        with pytest.raises(grpc.RpcError) as info:
            stub.HandleReloadConfigRequest(request, timeout=60)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "to have an absolute path" in info.value.details()

        # A model left out of the new config is unloaded; a new one is loaded before the
        # call returns.
        other = tmp_path / "other"
        other.mkdir()
        publish(tiny_model_dir[0], other, 5)
        assert reload(channel, model_config({"name": "other", "base_path": other}))[0] == (
            grpc.StatusCode.OK
        )
        assert status_of(channel, "other") == {5: ("AVAILABLE", 0, "")}
        assert predict_version(channel, "other") == 5
        wait_for(
            lambda: {s[0] for s in status_of(channel).values()} == {"END"},
            what="deepfake unloaded",
        )
        with pytest.raises(grpc.RpcError) as info:
            predict_version(channel)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_model_config_file_is_polled(tmp_path, three_versions, start_server):
    base = three_versions
    config = tmp_path / "models.config"
    config.write_text(model_config(deepfake(base, [1])))
    server = start_server(
        f"--model_config_file={config}", "--model_config_file_poll_wait_seconds=1"
    )
    assert server.wait_available() == 1
    config.write_text(model_config(deepfake(base, [1, 3], stable=1)))
    with server.channel() as channel:
        wait_for(lambda: status_of(channel).get(3, ("",))[0] == "AVAILABLE", what="version 3")
        config.write_text(model_config(deepfake(base, [1, 3], stable=3)))
        wait_for(lambda: predict_version(channel, label="stable") == 3, what="stable -> 3")
        assert predict_version(channel) == 3
    parsed = model_server_config_pb2.ModelServerConfig()
    text_format.Parse(config.read_text(), parsed)
    assert parsed.model_config_list.config[0].version_labels["stable"] == 3
