"""Server-side batching: concurrent Predict calls merged into one run, TF Serving's rules."""

from __future__ import annotations

import re
import subprocess
import sys
import threading

import grpc
import httpx
import numpy as np
import pytest
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

import contract
from serving import tensors
from serving.config import DEFAULT_PROMETHEUS_PATH

from .conftest import REPO, ServerProcess, frames, free_port, publish

BATCHING = """
max_batch_size { value: 8 }
batch_timeout_micros { value: 500000 }
max_enqueued_batches { value: 4 }
num_batch_threads { value: 1 }
allowed_batch_sizes: 4
allowed_batch_sizes: 8
"""


@pytest.fixture(scope="module")
def batching_server(tmp_path_factory, tiny_model_dir):
    root = tmp_path_factory.mktemp("batching")
    base = root / "deepfake"
    base.mkdir()
    publish(tiny_model_dir[0], base, 1)
    params = root / "batching.config"
    params.write_text(BATCHING)
    monitoring = root / "monitoring.config"
    monitoring.write_text(f'prometheus_config {{ enable: true path: "{DEFAULT_PROMETHEUS_PATH}" }}')
    rest_port = free_port()
    server = ServerProcess(
        [
            "--model_name=deepfake",
            f"--model_base_path={base}",
            "--enable_batching",
            f"--batching_parameters_file={params}",
            f"--rest_api_port={rest_port}",
            f"--monitoring_config_file={monitoring}",
        ],
        root,
    )
    server.wait_available()
    channel = server.channel()
    yield server, prediction_service_pb2_grpc.PredictionServiceStub(channel), rest_port
    channel.close()
    assert server.stop() == 0


def request_for(batch: np.ndarray, outputs=(contract.FAKE_PROBABILITY,)):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "deepfake"
    request.inputs[contract.FRAMES_INPUT].CopyFrom(tensors.from_numpy(batch))
    request.output_filter.extend(outputs)
    return request


def batch_histogram(rest_port: int) -> tuple[float, float]:
    """(number of batches, sum of padded batch sizes) from the Prometheus page."""
    text = httpx.get(f"http://localhost:{rest_port}{DEFAULT_PROMETHEUS_PATH}").text
    prefix = ":tensorflow:serving:batching_session:processed_batch_size"
    count = re.search(rf'{prefix}_count{{model_name="deepfake"}} (\S+)', text)
    total = re.search(rf'{prefix}_sum{{model_name="deepfake"}} (\S+)', text)
    return (float(count[1]), float(total[1])) if count and total else (0.0, 0.0)


def concurrently(calls):
    """Run callables at the same moment; return their results or exceptions, in order."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(i, call):
        barrier.wait()
        try:
            results[i] = call()
        except grpc.RpcError as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.slow
def test_concurrent_requests_are_merged(batching_server, tiny_model_dir):
    _, stub, rest_port = batching_server
    serve = tiny_model_dir[1]
    before = batch_histogram(rest_port)
    inputs = [frames(n=1, h=24, w=24, seed=10 + i) for i in range(4)]
    results = concurrently([lambda b=b: stub.Predict(request_for(b), timeout=30) for b in inputs])
    for batch, response in zip(inputs, results, strict=True):
        assert not isinstance(response, Exception), response
        got = tensors.to_numpy(response.outputs[contract.FAKE_PROBABILITY])
        np.testing.assert_allclose(got, serve(batch)["fake_probability"].numpy(), rtol=1e-5)
        assert response.model_spec.version.value == 1
    after = batch_histogram(rest_port)
    assert after[0] - before[0] < 4  # fewer graph runs than requests: they were merged
    assert after[1] - before[1] >= 4


@pytest.mark.slow
def test_batch_is_padded_to_allowed_size(batching_server, tiny_model_dir):
    _, stub, rest_port = batching_server
    before = batch_histogram(rest_port)
    batch = frames(n=3, h=24, w=24, seed=20)
    response = stub.Predict(request_for(batch), timeout=30)
    got = tensors.to_numpy(response.outputs[contract.FAKE_PROBABILITY])
    assert got.shape == (3,)  # the padding row is cut off again
    np.testing.assert_allclose(got, tiny_model_dir[1](batch)["fake_probability"].numpy(), rtol=1e-5)
    after = batch_histogram(rest_port)
    assert (after[0] - before[0], after[1] - before[1]) == (1.0, 4.0)


@pytest.mark.slow
def test_task_larger_than_max_batch_size_is_invalid_argument(batching_server):
    _, stub, _ = batching_server
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(request_for(frames(n=9, h=8, w=8)), timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details() == "Task size 9 is larger than maximum input batch size 8"


@pytest.mark.slow
def test_scalar_output_cannot_be_batched(batching_server):
    """TF Serving's BatchingSession splits every output on dimension 0; a scalar has none."""
    _, stub, _ = batching_server
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(request_for(frames(n=2, h=8, w=8), outputs=()), timeout=30)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert info.value.details() == "Batched output tensor has 0 dimensions"


@pytest.mark.slow
def test_different_frame_sizes_in_one_batch_fail_it(batching_server):
    _, stub, _ = batching_server
    results = concurrently(
        [
            lambda: stub.Predict(request_for(frames(n=1, h=16, w=16)), timeout=30),
            lambda: stub.Predict(request_for(frames(n=1, h=20, w=20)), timeout=30),
        ]
    )
    for result in results:
        assert isinstance(result, grpc.RpcError)
        assert result.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "have different shapes and padding is turned off" in result.details()


def test_batching_file_needs_enable_batching(tmp_path):
    params = tmp_path / "batching.config"
    params.write_text(BATCHING)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "serving",
            "--model_base_path=/nowhere",
            f"--batching_parameters_file={params}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "batching_parameters_file is set without setting" in done.stderr
