"""Named operating points through the real gateway and the real local Serving: listed by
GET /v1/models, chosen with ``operating_point=``, named in the answer, refused when unknown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import contract
from tests.conftest import MODEL_NAME, GatewayHandle, start_gateway, start_serving
from tests.videos import write_clip

PARAMS = {"frames": 4}


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(tmp_path_factory.mktemp("op-clip") / "clip.mp4", frames=10)


@pytest.fixture(scope="module")
def score(gateway: GatewayHandle, clip: Path) -> float:
    """The clip's video score by the shared tiny model (seed 1, identity calibration)."""
    response = gateway.detect(clip, params=PARAMS)
    assert response.status_code == 200, response.text
    return float(response.json()["score"])


@pytest.fixture(scope="module")
def points_gateway(
    tmp_path_factory: pytest.TempPathFactory, score: float
) -> Iterator[GatewayHandle]:
    """The same model published with a threshold below the clip's score and operating points
    fitted on scores laid out so that ``low_false_positive`` lies above it."""
    from model_export.export import publish_version
    from model_export.operating_points import Evidence
    from tests.tiny_model import TINY_INPUT_SIZE, tiny_cnn

    step = (1.0 - score) / 3
    # Reals just above the clip's score, fakes above them: the lowest threshold that keeps
    # the reals out sits between the two.
    labels = np.r_[np.zeros(20), np.ones(20)].astype(int)
    scores = np.r_[np.full(20, score + step), np.full(20, score + 2 * step)]
    base = tmp_path_factory.mktemp("op-models")
    publish_version(
        tiny_cnn(TINY_INPUT_SIZE, seed=1), base, MODEL_NAME, threshold=score / 2,
        input_size=TINY_INPUT_SIZE, version=1,
        evidence=Evidence(labels, scores, fitted_on="validation", data="laid-out scores"),
    )  # fmt: skip
    serving = start_serving(base / MODEL_NAME, base / "serving.log")
    try:
        gateway = start_gateway(tmp_path_factory.mktemp("op-gateway"), serving.target)
        yield gateway
        gateway.process.stop()
    finally:
        serving.process.stop()


def _points(gateway: GatewayHandle) -> dict[str, dict]:
    with gateway.client() as client:
        response = client.get("/v1/models", headers=gateway.auth())
    assert response.status_code == 200, response.text
    (version,) = response.json()["versions"]
    return {p["name"]: p for p in version["operating_points"]}


def test_models_lists_the_points(points_gateway: GatewayHandle, score: float) -> None:
    points = _points(points_gateway)
    assert list(points) == ["balanced", "low_false_positive", "high_recall"]
    low = points["low_false_positive"]
    assert low["threshold"] == pytest.approx(score + 1.5 * (1 - score) / 3, abs=1e-5)
    assert points["balanced"]["threshold"] == pytest.approx(score / 2, abs=1e-5)
    assert low["false_positive_rate"]["point"] == 0.0 and low["detection_rate"]["point"] == 1.0
    assert low["videos"] == {"real": 20, "fake": 20}
    assert low["fitted_on"] == "validation" and low["data"] == "laid-out scores"
    assert low["target"] == {"false_positive_rate_at_most": 0.05}


def test_low_false_positive_raises_the_threshold_and_flips_the_verdict(
    points_gateway: GatewayHandle, clip: Path, score: float
) -> None:
    default = points_gateway.detect(clip, params=PARAMS).json()
    assert default["verdict"] == "fake"
    assert default["operating_point"] == {"name": "balanced", "threshold": default["threshold"]}
    strict = points_gateway.detect(
        clip, params={**PARAMS, "operating_point": "low_false_positive"}
    ).json()
    low = _points(points_gateway)["low_false_positive"]["threshold"]
    assert strict["operating_point"] == {"name": "low_false_positive", "threshold": round(low, 4)}
    assert strict["threshold"] == round(low, 4) > strict["score"]
    assert strict["score"] == default["score"] and strict["verdict"] == "real"


def test_unknown_point_is_refused_naming_the_available_ones(
    points_gateway: GatewayHandle, clip: Path
) -> None:
    response = points_gateway.detect(clip, params={**PARAMS, "operating_point": "paranoid"})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "unknown_operating_point"
    assert "'paranoid'" in error["message"]
    assert "balanced, low_false_positive, high_recall" in error["message"]


def test_version_with_shipped_threshold_only(gateway: GatewayHandle, clip: Path) -> None:
    (point,) = _points(gateway).values()
    assert point["name"] == contract.OPERATING_POINT_BALANCED
    assert point["false_positive_rate"] is None and point["data"] == "none"
    named = gateway.detect(clip, params={**PARAMS, "operating_point": "balanced"})
    assert named.json()["operating_point"]["name"] == "balanced"
    refused = gateway.detect(clip, params={**PARAMS, "operating_point": "high_recall"})
    assert refused.status_code == 422
    assert refused.json()["error"]["message"].endswith("choose from: balanced")


def test_malformed_operating_points_make_the_description_malformed() -> None:
    from gateway.errors import InferenceFailed
    from gateway.upstream.description import read_description
    from gateway.upstream.serving_types import Prediction

    outputs = {
        contract.THRESHOLD: np.array([0.4], np.float32),
        contract.FRAME_MIN_SIDE: np.array([0], np.int32),
        contract.OPERATING_POINTS: np.array(['[{"name": "balanced"}]'], dtype=object),
    }
    with pytest.raises(InferenceFailed):
        read_description(Prediction(MODEL_NAME, 1, outputs))
    del outputs[contract.OPERATING_POINTS]
    described = read_description(Prediction(MODEL_NAME, 1, outputs))
    assert [(p.name, round(p.threshold, 4)) for p in described.points()] == [("balanced", 0.4)]
