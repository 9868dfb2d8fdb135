"""The SDK and the CLI choose and show operating points, against the real gateway."""

from __future__ import annotations

import json

import pytest
from deepfake_client import Client, errors

from tests.clients.conftest import gateway_has_jobs


def test_models_list_the_operating_points(client: Client) -> None:
    (version,) = client.models.list().versions
    (point,) = version.operating_points or []
    assert point.name == "balanced" and point.threshold == version.threshold
    assert point.false_positive_rate is None and point.data == "none"


def test_detect_names_the_point_that_decided(client: Client, make_clip) -> None:
    result = client.detect(make_clip(frames=10), frames=4, operating_point="balanced")
    assert result.operating_point is not None
    assert result.operating_point.name == "balanced"
    assert result.operating_point.threshold == result.threshold


def test_an_unknown_point_raises_its_error(client: Client, make_clip) -> None:
    with pytest.raises(errors.UnknownOperatingPoint) as caught:
        client.detect(make_clip(frames=10), frames=4, operating_point="strict")
    assert caught.value.status == 422 and "choose from: balanced" in caught.value.message


def test_a_job_keeps_its_operating_point(client: Client, live_openapi, make_clip) -> None:
    if not gateway_has_jobs(live_openapi):
        pytest.skip("the gateway under test serves no jobs API")
    job = client.jobs.create(make_clip(frames=10), frames=4, operating_point="balanced")
    done = client.jobs.wait(job.id, timeout=60)
    assert done.result is not None and done.result.operating_point.name == "balanced"
    failed = client.jobs.create(make_clip(frames=10), frames=4, operating_point="strict")
    final = client.jobs.wait(failed.id, timeout=60, raise_on_failure=False)
    assert final.state == "failed" and "choose from: balanced" in json.dumps(
        final.model_dump(mode="json")
    )


def test_cli_operating_point_and_models(deepfake, make_clip) -> None:
    clip = make_clip(frames=10)
    run = deepfake("detect", "--json", "--operating-point", "balanced", str(clip), "--frames", "4")
    assert run.returncode == 0, run.stderr
    (item,) = json.loads(run.stdout)
    assert item["result"]["operating_point"]["name"] == "balanced"
    refused = deepfake("detect", "--operating-point", "strict", str(clip), "--frames", "4")
    assert refused.returncode != 0 and "unknown_operating_point" in refused.stderr + refused.stdout
    listing = deepfake("models")
    assert listing.returncode == 0, listing.stderr
    assert "balanced 0.5000" in listing.stdout
