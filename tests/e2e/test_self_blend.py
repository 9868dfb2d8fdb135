"""A self-blended EfficientNet-Lite0 and an ensemble built with it, served over real gRPC.

Training: a tiny EfficientNet-Lite0 (64 px, two epochs: head, then the last blocks) on
self-blended pseudo-fakes of generated real face clips. Ensemble: it and a tiny second
face-aware member, weights fitted on other clips. Both versions are published under one
model and served side by side; the served answers must equal the versions' own scores in a
TF1 session, carry the calibrated thresholds, and the ensemble's per-member outputs must be
the members' own scores.
"""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import numpy as np
import pytest
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

import contract
from model_export.cli import main as model_export
from model_export.face_export import publish_face_version
from model_export.publish import INFO_RELATIVE_PATH
from model_export.savedmodel import load_version
from model_export.video_io import sample_frames
from serving import tensors
from tests.conftest import MODEL_NAME, start_serving
from tests.e2e.conftest import train_tiny_face_model
from tests.serving.conftest import model_config
from tests.tiny_model import tiny_cnn
from tests.videos import write_clip

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Version 1: the self-blended EfficientNet-Lite0; version 2: the ensemble with it."""
    root = tmp_path_factory.mktemp("self-blend")
    model_dir = train_tiny_face_model(
        root,
        *("--arch", "efficientnet_lite0", "--input-size", "64", "--self-blend"),
        *("--epochs", "2", "--frames", "3", "--batch-size", "8", "--patience", "0"),
    )
    second = publish_face_version(
        tiny_cnn((32, 32), seed=4), root / "members", "tiny", threshold=0.5, input_size=(32, 32)
    )
    for i in range(2):
        write_clip(root / f"cal/real/r{i}.mp4", frames=3, faces=1, seed=30 + i)
        write_clip(root / f"cal/fake/f{i}.mp4", frames=3, faces=2, seed=40 + i)
    code = model_export([
        "ensemble", "--member", str(model_dir / "1"), "--member", str(second),
        "--output", str(model_dir), "--calibrate-data", str(root / "cal"), "--frames", "3",
    ])  # fmt: skip
    assert code == 0
    return model_dir


@pytest.fixture(scope="module")
def served(published: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    logs = tmp_path_factory.mktemp("logs")
    config = logs / "models.config"
    config.write_text(
        model_config({"name": MODEL_NAME, "base_path": published, "policy": "all {}"})
    )
    handle = start_serving(published, logs / "serving.log", (f"--model_config_file={config}",))
    yield handle
    handle.process.stop()


def _predict(target: str, version: int, frames: np.ndarray, signature: str) -> dict:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL_NAME
    request.model_spec.version.value = version
    request.model_spec.signature_name = signature
    request.inputs[contract.FRAMES_INPUT].CopyFrom(tensors.from_numpy(frames))
    with grpc.insecure_channel(target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        for _ in range(60):  # the second version may still be loading
            try:
                response = stub.Predict(request, timeout=60)
                break
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.NOT_FOUND:
                    raise
                import time

                time.sleep(1)
        else:
            raise AssertionError(f"version {version} never became available")
    return {key: tensors.to_numpy(value) for key, value in response.outputs.items()}


def test_served_self_blend_model_and_ensemble(published: Path, served, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    single = json.loads((published / "1" / INFO_RELATIVE_PATH).read_text())
    ensemble = json.loads((published / "2" / INFO_RELATIVE_PATH).read_text())
    assert single["arch"] == "efficientnet_lite0" and single["self_blend"]
    assert single["input_size"] == [64, 64] and single["face_aware"]
    assert ensemble["kind"] == "ensemble" and len(ensemble["member_names"]) == 2

    clip = write_clip(tmp_path / "probe.mp4", frames=3, faces=1, seed=99)
    frames = sample_frames(clip, 3)
    got = {v: _predict(served.target, v, frames, contract.SERVING_SIGNATURE) for v in (1, 2)}
    for version, info in ((1, single), (2, ensemble)):
        with load_version(published / str(version)) as loaded:
            own = loaded.run({contract.FRAMES_INPUT: frames})
        out = got[version]
        # Calibration lives in the graph: the served answer carries the version's threshold.
        np.testing.assert_allclose(out[contract.THRESHOLD], info["threshold"], atol=1e-6)
        np.testing.assert_allclose(
            out[contract.FAKE_PROBABILITY], own[contract.FAKE_PROBABILITY], atol=1e-4
        )
        assert out[contract.FACE_COUNT].tolist() == [1, 1, 1]

    served_ensemble = got[2]
    # The ensemble's first member is version 1 itself: its scores come back unchanged.
    np.testing.assert_allclose(
        served_ensemble[contract.MEMBER_FRAME_FAKE_PROBABILITY][:, 0],
        got[1][contract.FAKE_PROBABILITY], atol=1e-4,
    )  # fmt: skip
    np.testing.assert_allclose(
        served_ensemble[contract.MEMBER_FAKE_PROBABILITY][..., 0],
        got[1][contract.FACE_FAKE_PROBABILITY], atol=1e-4,
    )  # fmt: skip
    weights = np.array(ensemble["combination"]["weights"])
    p = np.clip(served_ensemble[contract.MEMBER_FAKE_PROBABILITY][:, 0], 1e-6, 1 - 1e-6)
    combined = 1 / (1 + np.exp(-(ensemble["combination"]["bias"] + np.log(p / (1 - p)) @ weights)))
    np.testing.assert_allclose(served_ensemble[contract.FAKE_PROBABILITY], combined, atol=1e-4)

    info = _predict(served.target, 2, frames[:1], contract.MODEL_INFO_SIGNATURE)
    assert [n.decode() for n in info[contract.MEMBER_NAMES][0]] == ensemble["member_names"]
    assert info[contract.THRESHOLD][0] == pytest.approx(ensemble["threshold"], abs=1e-6)
