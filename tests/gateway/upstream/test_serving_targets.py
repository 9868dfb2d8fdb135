"""Several Serving targets: round-robin, retries past a dead one, version selection."""

from __future__ import annotations

import pytest

from stack.processes import free_port
from tests.conftest import MODEL_NAME, launch_serving, start_serving
from tests.tiny_model import export_tiny_model

pytestmark = pytest.mark.slow


@pytest.fixture
def two_servers(tmp_path):  # type: ignore[no-untyped-def]
    """Two Serving processes; the second serves version 2 so answers tell them apart."""
    export_tiny_model(tmp_path / "a", MODEL_NAME, version=1, seed=1)
    export_tiny_model(tmp_path / "b", MODEL_NAME, version=2, seed=2)
    # Launched side by side, then waited for: the two boots overlap.
    first = launch_serving(tmp_path / "a" / MODEL_NAME, tmp_path / "a.log")
    second = launch_serving(tmp_path / "b" / MODEL_NAME, tmp_path / "b.log")
    try:
        first.wait_ready()
        second.wait_ready()
    except BaseException:
        first.process.stop()
        second.process.stop()
        raise
    yield first, second
    first.process.stop()
    second.process.stop()


def test_round_robin_over_targets(gateway_factory, two_servers, make_clip) -> None:
    first, second = two_servers
    gw = gateway_factory(f"{first.target},{second.target}", GATEWAY_BATCH_SIZE="32")
    clip = make_clip(frames=8)
    versions = {gw.detect(clip).json()["model"]["version"] for _ in range(4)}
    assert versions == {1, 2}


def test_a_dead_target_is_retried_on_the_next(gateway_factory, serving, make_clip) -> None:
    dead = f"127.0.0.1:{free_port()}"
    gw = gateway_factory(f"{dead},{serving.target}", SERVING_RETRIES="2")
    clip = make_clip(frames=8)
    for _ in range(4):
        response = gw.detect(clip)
        assert response.status_code == 200, response.text


def test_model_version_is_honoured_and_reported(gateway_factory, tmp_path, make_clip) -> None:
    export_tiny_model(tmp_path / "m", MODEL_NAME, version=3, seed=3)
    export_tiny_model(tmp_path / "m", MODEL_NAME, version=4, seed=4)
    own = start_serving(tmp_path / "m" / MODEL_NAME, tmp_path / "m.log")
    try:
        gw = gateway_factory(own.target)
        clip = make_clip(frames=8)
        assert gw.detect(clip).json()["model"]["version"] == 4
        assert gw.detect(clip, params={"model_version": 4}).json()["model"]["version"] == 4
        response = gw.detect(clip, params={"model_version": 3})
        assert response.status_code == 404  # latest policy serves only the newest
        both = gw.detect(clip, params={"model_version": 4, "model_label": "stable"})
        assert both.status_code == 422
        assert both.json()["error"]["code"] == "validation_error"
    finally:
        own.process.stop()
