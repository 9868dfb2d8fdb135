"""The REST port: status, metadata and :predict as TF Serving answers them, and metrics."""

from __future__ import annotations

import numpy as np
import pytest

import contract
from serving.config import DEFAULT_PROMETHEUS_PATH

from .conftest import frames, predict_version

pytestmark = pytest.mark.slow


def test_status(rest_server):
    _, client, _ = rest_server
    response = client.get("/v1/models/deepfake")
    assert response.status_code == 200
    ok = {"error_code": "OK", "error_message": ""}
    assert response.json() == {
        "model_version_status": [
            {"version": "2", "state": "AVAILABLE", "status": ok},
            {"version": "1", "state": "AVAILABLE", "status": ok},
        ]
    }
    one = client.get("/v1/models/deepfake/versions/1").json()["model_version_status"]
    assert [row["version"] for row in one] == ["1"]
    canary = client.get("/v1/models/deepfake/labels/canary").json()["model_version_status"]
    assert [row["version"] for row in canary] == ["2"]


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/v1/models/nope", 404, "Could not find any versions of model nope"),
        ("/v1/models/deepfake/versions/7", 404, "Could not find version 7 of model deepfake"),
        ("/v1/models/deepfake/labels/nope", 400, "Unrecognized servable version label: nope"),
        ("/v1/models/nope/metadata", 404, "Servable not found for request: Latest(nope)"),
        ("/v2/whatever", 404, "Malformed request"),
    ],
)
def test_errors(rest_server, path, status, message):
    _, client, _ = rest_server
    response = client.get(path)
    assert response.status_code == status
    assert message in response.json()["error"]


def test_metadata(rest_server):
    _, client, _ = rest_server
    body = client.get("/v1/models/deepfake/labels/stable/metadata").json()
    assert body["model_spec"]["name"] == "deepfake"
    assert body["model_spec"]["version"] == "1"
    signature = body["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["inputs"]["frames"]["dtype"] == "DT_UINT8"
    assert set(signature["outputs"]) == {"fake_probability", "threshold"}
    assert signature["method_name"] == "tensorflow/serving/predict"


def test_predict_columnar_matches_in_process_model(rest_server):
    _, client, serve = rest_server
    batch = frames(n=3, h=20, w=24, seed=5)
    response = client.post(
        "/v1/models/deepfake/labels/canary:predict",
        json={"inputs": {contract.FRAMES_INPUT: batch.tolist()}},
    )
    assert response.status_code == 200, response.text
    outputs = response.json()["outputs"]
    np.testing.assert_allclose(
        outputs[contract.FAKE_PROBABILITY],
        serve(batch)["fake_probability"].numpy(),
        rtol=1e-5,
        atol=1e-6,
    )
    assert outputs[contract.THRESHOLD] == pytest.approx(0.5)


def test_predict_row_format_refuses_a_scalar_output(rest_server):
    """Row format needs every output batched; this test model's scalar threshold is not."""
    _, client, _ = rest_server
    response = client.post(
        "/v1/models/deepfake:predict", json={"instances": frames(n=2, h=8, w=8).tolist()}
    )
    assert response.status_code == 400
    assert "threshold" in response.json()["error"]


def test_predict_errors(rest_server):
    _, client, _ = rest_server
    unknown = client.post(
        "/v1/models/deepfake/versions/9:predict", json={"inputs": [[[[0, 0, 0]]]]}
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "Servable not found for request: Specific(deepfake, 9)"
    bad_json = client.post("/v1/models/deepfake:predict", content=b"{nope")
    assert bad_json.status_code == 400
    assert "JSON Parse error" in bad_json.json()["error"]
    wrong_shape = client.post("/v1/models/deepfake:predict", json={"inputs": [[1, 2, 3]]})
    assert wrong_shape.status_code == 400


def test_prometheus_metrics(rest_server):
    server, client, _ = rest_server
    with server.channel() as channel:
        predict_version(channel)
    text = client.get(DEFAULT_PROMETHEUS_PATH).text
    assert ':tensorflow:serving:request_count{model_name="deepfake",status="OK"}' in text
    assert ":tensorflow:serving:request_latency_bucket" in text
