"""Warmup requests replayed from assets.extra/tf_serving_warmup_requests before AVAILABLE."""

from __future__ import annotations

import re
import shutil

import httpx
import pytest
from tensorflow_serving.apis import predict_pb2

import contract
from serving import tensors
from serving.config import DEFAULT_PROMETHEUS_PATH

from .conftest import frames, free_port, predict_version, publish, status_of, wait_for, write_warmup

pytestmark = pytest.mark.slow

DATA_LOSS = 15


def warmup_requests(sizes=(1, 2, 4)) -> list[predict_pb2.PredictRequest]:
    out = []
    for n in sizes:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "deepfake"
        request.model_spec.signature_name = contract.SERVING_SIGNATURE
        request.inputs[contract.FRAMES_INPUT].CopyFrom(tensors.from_numpy(frames(n=n, h=32, w=32)))
        out.append(request)
    return out


def with_warmup(source, tmp_path, name, requests=None, raw=None):
    staged = tmp_path / name
    shutil.copytree(source, staged)
    write_warmup(staged, requests or [], raw=raw)
    return staged


def test_warmup_runs_before_available_and_bad_warmup_fails_the_load(
    tmp_path, tiny_model_dir, session_loader_refused_model, start_server
):
    base = tmp_path / "deepfake"
    base.mkdir()
    good = with_warmup(tiny_model_dir[0], tmp_path, "good", warmup_requests())
    publish(good, base, 1)
    monitoring = tmp_path / "monitoring.config"
    monitoring.write_text(f'prometheus_config {{ enable: true path: "{DEFAULT_PROMETHEUS_PATH}" }}')
    rest_port = free_port()
    server = start_server(
        "--model_name=deepfake",
        f"--model_base_path={base}",
        "--file_system_poll_wait_seconds=1",
        "--max_num_load_retries=0",
        f"--rest_api_port={rest_port}",
        f"--monitoring_config_file={monitoring}",
    )
    assert server.wait_available() == 1
    log = server.log()
    path = re.escape(str(base / "1" / contract.WARMUP_RELATIVE_PATH))
    started = re.search(f"Starting to read warmup data for model at {path}", log)
    finished = re.search(
        f"Finished reading warmup data for model at {path}. Number of warmup records read: 3.",
        log,
    )
    available = log.index("Successfully loaded servable version {name: deepfake version: 1}")
    assert started and finished
    assert started.start() < finished.start() < available
    metrics = httpx.get(f"http://localhost:{rest_port}{DEFAULT_PROMETHEUS_PATH}").text
    assert re.search(
        r':tensorflow:serving:model_warmup_records_read\{model_path="[^"]*/1",status="OK"\} 3\.0',
        metrics,
    )

    # A model the session loader accepts but cannot run: its warmup fails, so does the load.
    refused = with_warmup(session_loader_refused_model, tmp_path, "refused", warmup_requests())
    publish(refused, base, 2)
    with server.channel() as channel:
        states = wait_for(
            lambda: (s := status_of(channel)).get(2, ("",))[0] == "END" and s, what="v2 END"
        )
        assert states[2][1] != 0 and "Could not find variable" in states[2][2]
        assert states[1] == ("AVAILABLE", 0, "")
        assert predict_version(channel) == 1

        # Raw protobuf instead of TFRecord: DATA_LOSS, as TF Serving reports it.
        corrupt = with_warmup(
            tiny_model_dir[0], tmp_path, "corrupt", raw=warmup_requests()[0].SerializeToString()
        )
        publish(corrupt, base, 3)
        states = wait_for(
            lambda: (s := status_of(channel)).get(3, ("",))[0] == "END" and s, what="v3 END"
        )
        assert states[3][1] == DATA_LOSS
        assert "Please verify your warmup data is in TFRecord format" in states[3][2]
        assert states[1] == ("AVAILABLE", 0, "")
        assert predict_version(channel) == 1


def test_warmup_can_be_disabled(tmp_path, tiny_model_dir, start_server):
    base = tmp_path / "deepfake"
    base.mkdir()
    corrupt = with_warmup(tiny_model_dir[0], tmp_path, "corrupt", raw=b"\x00not a tfrecord")
    publish(corrupt, base, 1)
    server = start_server(
        "--model_name=deepfake", f"--model_base_path={base}", "--enable_model_warmup=false"
    )
    assert server.wait_available() == 1
    assert "warmup data" not in server.log()
    with server.channel() as channel:
        assert predict_version(channel, n=2) == 1
