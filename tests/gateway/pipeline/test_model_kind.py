"""A version's ``model_kind`` reaches the API: the demo is named as such and warned about.

The detector side uses the shared gateway (a tiny model published as a detector); the demo
side a Serving of a tiny model published with the demo's export info, so that its
``model_info`` says ``demo`` exactly as the real demo build's does.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import contract
from tests.conftest import MODEL_NAME, GatewayHandle, start_gateway, start_serving


@pytest.fixture(scope="module")
def demo_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayHandle]:
    """A gateway in front of a Serving whose only version is marked as the demo."""
    from model_export.export import publish_version
    from tests.tiny_model import TINY_INPUT_SIZE, tiny_cnn

    base = tmp_path_factory.mktemp("demo-models")
    publish_version(
        tiny_cnn(TINY_INPUT_SIZE, seed=2),
        base,
        MODEL_NAME,
        threshold=0.5,
        input_size=TINY_INPUT_SIZE,
        version=1,
        info={"kind": "demo"},
    )
    serving = start_serving(base / MODEL_NAME, base / "serving.log")
    try:
        gateway = start_gateway(tmp_path_factory.mktemp("demo-gateway"), serving.target)
        yield gateway
        gateway.process.stop()
    finally:
        serving.process.stop()


def _models(gateway: GatewayHandle) -> list[dict]:
    with gateway.client() as client:
        response = client.get("/v1/models", headers=gateway.auth())
    assert response.status_code == 200, response.text
    return response.json()["versions"]


def test_demo_version_is_listed_as_demo(demo_gateway: GatewayHandle) -> None:
    (version,) = _models(demo_gateway)
    assert version["version"] == 1 and version["kind"] == contract.MODEL_KIND_DEMO


def test_demo_detection_says_demo_and_warns(demo_gateway: GatewayHandle, make_clip) -> None:
    response = demo_gateway.detect(make_clip(frames=10), params={"frames": 4})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"]["kind"] == "demo" and body["model"]["version"] == 1
    (warning,) = body["warnings"]
    assert warning.startswith("the demo model is not a deepfake detector")


def test_detector_detection_has_no_warning(gateway: GatewayHandle, make_clip) -> None:
    assert [v["kind"] for v in _models(gateway)] == [contract.MODEL_KIND_DETECTOR]
    body = gateway.detect(make_clip(frames=10), params={"frames": 4}).json()
    assert body["model"]["kind"] == "detector" and body["warnings"] == []


def test_version_without_model_kind_is_unknown_and_not_warned_about() -> None:
    import numpy as np

    from gateway.pipeline.answers import model_warnings
    from gateway.upstream.description import read_description
    from gateway.upstream.serving_types import Prediction

    outputs = {
        contract.THRESHOLD: np.array([0.4], np.float32),
        contract.FRAME_MIN_SIDE: np.array([0], np.int32),
    }
    described = read_description(Prediction(MODEL_NAME, 3, outputs))
    assert described.kind == contract.MODEL_KIND_UNKNOWN
    assert model_warnings(described.kind) == []
    for code, kind in [(1, "detector"), (2, "demo"), (0, "unknown"), (7, "unknown")]:
        outputs[contract.MODEL_KIND] = np.array([code], np.int32)
        assert read_description(Prediction(MODEL_NAME, 3, outputs)).kind == kind


def test_member_names_come_from_model_info_and_must_match_the_member_outputs() -> None:
    import numpy as np

    from contract.aggregation import FrameResult
    from gateway.errors import InferenceFailed
    from gateway.pipeline.answers import member_names
    from gateway.upstream.description import read_description
    from gateway.upstream.serving_types import Prediction

    outputs = {
        contract.THRESHOLD: np.array([0.4], np.float32),
        contract.FRAME_MIN_SIDE: np.array([0], np.int32),
    }
    plain = read_description(Prediction(MODEL_NAME, 3, dict(outputs)))
    assert plain.members is None
    outputs[contract.MEMBER_NAMES] = np.array([["sbi@deepfake/1", "tiny@members/1"]], object)
    described = read_description(Prediction(MODEL_NAME, 3, outputs))
    assert described.members == ("sbi@deepfake/1", "tiny@members/1")
    two = [FrameResult(t_s=0.0, score=0.5, members=[0.2, 0.7])]
    assert member_names(described, two) == described.members
    assert member_names(plain, [FrameResult(t_s=0.0, score=0.5)]) is None
    for description, frames in [
        (plain, two),  # member outputs without names
        (described, [FrameResult(t_s=0.0, score=0.5, members=[0.2])]),  # one score, two names
    ]:
        with pytest.raises(InferenceFailed):
            member_names(description, frames)
