"""A self-blended EfficientNet-Lite0 and an ensemble built with it, served over real gRPC.

Training: a tiny EfficientNet-Lite0 (64 px, two epochs: head, then the last blocks) on
self-blended pseudo-fakes of generated real face clips. Ensemble: it and a tiny second
face-aware member, weights fitted on other clips. Both versions are published under one
model and served side by side; the served answers must equal the versions' own scores in a
TF1 session, carry the calibrated thresholds, and the ensemble's per-member outputs must be
the members' own scores. Through the real gateway over HTTPS, the ensemble's answer names
its members as ``model_info`` does, each face's combined score is the fitted weights applied
to the members' scores, each member's track and video scores follow the combined score's
aggregation, and a job's result carries the same; version 1's calibration is checked on the
probe its export records.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

import contract
from contract.aggregation import aggregate_scores
from model_export.cli import main as model_export
from model_export.face_export import publish_face_version
from model_export.publish import INFO_RELATIVE_PATH
from model_export.savedmodel import load_version
from model_export.video_io import sample_frames
from model_export.warmup import read_warmup
from serving import tensors
from tests.conftest import MODEL_NAME, GatewayHandle, start_gateway, start_serving
from tests.e2e.conftest import copy_version
from tests.serving.conftest import model_config
from tests.tiny_model import tiny_cnn
from tests.videos import write_clip

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory, tiny_self_blend: Path) -> Path:
    """Version 1: the self-blended EfficientNet-Lite0; version 2: the ensemble with it."""
    root = tmp_path_factory.mktemp("self-blend")
    model_dir = root / "models" / MODEL_NAME
    copy_version(tiny_self_blend, model_dir)
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


@pytest.fixture(scope="module")
def ensemble_gateway(served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayHandle]:  # type: ignore[no-untyped-def]
    """The real gateway over HTTPS in front of the Serving of both versions."""
    handle = start_gateway(tmp_path_factory.mktemp("gateway-var"), served.target)
    yield handle
    handle.process.stop()


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _logit(p: np.ndarray, eps: float) -> np.ndarray:
    q = np.clip(np.asarray(p, np.float64), eps, 1 - eps)
    return np.log(q) - np.log1p(-q)


def _combined_range(members: list[float], weights: np.ndarray, bias: float) -> tuple[float, float]:
    """The combined score's range over every member score that rounds to ``members``.

    The gateway rounds scores to 4 digits; the combination is monotone in each member (in
    the direction of its weight), so the range's ends are at the rounding interval's ends.
    """
    p = np.asarray(members, np.float64)
    low, high = np.clip(p - 5e-5, 0, 1), np.clip(p + 5e-5, 0, 1)
    down = np.where(weights >= 0, low, high)
    up = np.where(weights >= 0, high, low)
    combine = lambda q: float(_sigmoid(bias + _logit(q, 1e-6) @ weights))  # noqa: E731
    return combine(down), combine(up)


def _wait_available(gateway: GatewayHandle, count: int) -> list[dict]:
    with gateway.client() as client:
        for _ in range(120):  # the ensemble may still be loading
            versions = client.get("/v1/models", headers=gateway.auth()).json()["versions"]
            if sum(1 for v in versions if v["state"] == "AVAILABLE" and v["kind"]) == count:
                return versions
            time.sleep(0.5)
    raise AssertionError(f"not {count} AVAILABLE versions: {versions}")


def _faces_by_track(body: dict) -> dict[int, list[dict]]:
    faces: dict[int, list[dict]] = {}
    for point in body["timeline"]:
        for face in point["faces"]:
            faces.setdefault(face["track"], []).append(face)
    return faces


def test_members_through_the_gateway(
    published: Path, ensemble_gateway: GatewayHandle, tmp_path: Path
) -> None:
    single = json.loads((published / "1" / INFO_RELATIVE_PATH).read_text())
    ensemble = json.loads((published / "2" / INFO_RELATIVE_PATH).read_text())
    names = ensemble["member_names"]
    weights = np.array(ensemble["combination"]["weights"], np.float64)
    bias = float(ensemble["combination"]["bias"])
    gateway = ensemble_gateway

    versions = {v["version"]: v for v in _wait_available(gateway, 2)}
    assert versions[1]["members"] is None
    assert versions[2]["members"] == names and len(names) == 2
    assert versions[2]["threshold"] == pytest.approx(ensemble["threshold"], abs=1e-6)
    # The threshold version 1 serves is its chosen one put through its recorded calibration.
    calibration = single["calibration"]
    a, b = float(calibration["a"]), float(calibration["b"])
    calibrated_threshold = _sigmoid(a * _logit(calibration["threshold_uncalibrated"], 1e-7) + b)
    assert versions[1]["threshold"] == pytest.approx(float(calibrated_threshold), abs=1e-6)

    clip = write_clip(tmp_path / "members.mp4", frames=6, faces=1, seed=99)
    params = {"frames": 6}
    alone = gateway.detect(clip, params={**params, "model_version": 1})
    both = gateway.detect(clip, params={**params, "model_version": 2})
    assert alone.status_code == 200 and both.status_code == 200, (alone.text, both.text)
    alone_body, body = alone.json(), both.json()
    assert body["model"]["version"] == 2 and alone_body["model"]["version"] == 1

    # Not an ensemble: no member scores anywhere.
    assert alone_body["members"] is None
    assert all(t["members"] is None for t in alone_body["tracks"])
    assert all(f["members"] is None for p in alone_body["timeline"] for f in p["faces"])

    # The ensemble: every member, named as model_info names them, on every face and track.
    assert list(body["members"]) == names
    assert all(0.0 <= s <= 1.0 for s in body["members"].values())
    faces = _faces_by_track(body)
    assert faces and body["tracks"] and set(faces) == {t["id"] for t in body["tracks"]}
    for face in (f for track in faces.values() for f in track):
        assert list(face["members"]) == names
        assert all(0.0 <= s <= 1.0 for s in face["members"].values())
        # The combined face score is the fitted weights applied to the members' logits.
        low, high = _combined_range([face["members"][n] for n in names], weights, bias)
        assert low - 5e-5 <= face["score"] <= high + 5e-5, (face, low, high)

    # Tracks: each member's faces aggregated as the combined faces are.
    aggregation = body["aggregation"]
    with_faces = sum(1 for p in body["timeline"] if p["faces"])
    solid = [t for t in body["tracks"] if len(t["frames"]) >= max(1, math.ceil(0.2 * with_faces))]
    for track in body["tracks"]:
        track_faces = faces[track["id"]]
        assert track["score"] == pytest.approx(
            aggregate_scores([f["score"] for f in track_faces], aggregation), abs=1e-4
        )
        for name in names:
            own = aggregate_scores([f["members"][name] for f in track_faces], aggregation)
            assert track["members"][name] == pytest.approx(own, abs=1e-4)
    # The video: each member's best solid track, as the combined score is the best one's.
    # Faces were found on enough frames (a near-threshold score may still be inconclusive).
    assert "no_face" not in body["reasons"]
    assert body["score"] == pytest.approx(max(t["score"] for t in solid), abs=1e-4)
    for name in names:
        best = max(t["members"][name] for t in solid)
        assert body["members"][name] == pytest.approx(best, abs=1e-4)

    # The first member is version 1 itself: its scores are version 1's own answers.
    first = names[0]
    assert body["members"][first] == pytest.approx(alone_body["score"], abs=2e-4)
    alone_faces = [f for p in alone_body["timeline"] for f in p["faces"]]
    ensemble_faces = [f for p in body["timeline"] for f in p["faces"]]
    assert len(ensemble_faces) == len(alone_faces) > 0
    np.testing.assert_allclose(
        [f["box"] for f in ensemble_faces], [f["box"] for f in alone_faces], atol=2e-4
    )
    assert [f["members"][first] for f in ensemble_faces] == pytest.approx(
        [f["score"] for f in alone_faces], abs=2e-4
    )

    # A job returns the same body, members included.
    with gateway.client() as client:
        job = client.post(
            "/v1/detect",
            params={**params, "model_version": 2},
            headers={
                **gateway.auth(),
                "Content-Type": "video/mp4",
                "Prefer": "respond-async, wait=60",
            },
            content=clip.read_bytes(),
        )
    assert job.status_code == 200, job.text
    result = job.json()
    assert result["members"] == body["members"]
    assert [t["members"] for t in result["tracks"]] == [t["members"] for t in body["tracks"]]


def test_calibration_is_in_the_served_graph(published: Path, served) -> None:  # type: ignore[no-untyped-def]
    """Version 1's served scores of its recorded probe are its calibration of the network's."""
    single = json.loads((published / "1" / INFO_RELATIVE_PATH).read_text())
    probe, calibration = single["calibration_probe"], single["calibration"]
    records = list(read_warmup(published / "1" / contract.WARMUP_RELATIVE_PATH))
    request = records[probe["warmup_record"]].predict_log.request
    assert request.model_spec.signature_name == probe["signature"] == contract.FACES_SIGNATURE
    request.model_spec.version.value = 1
    with grpc.insecure_channel(served.target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(request, timeout=60)
    got = tensors.to_numpy(response.outputs[contract.FAKE_PROBABILITY])
    raw = np.array(probe["uncalibrated"])
    expected = _sigmoid(calibration["a"] * _logit(raw, 1e-7) + calibration["b"])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(got, probe["calibrated"], atol=1e-5)
    if not calibration["identity"]:
        assert np.max(np.abs(got - raw)) > 1e-4
