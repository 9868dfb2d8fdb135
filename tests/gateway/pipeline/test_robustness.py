"""``robustness=true``: the upload's copies re-encoded, downscaled and mirrored, scored by the
version that answered, through the real gateway and Serving."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from contract.reencode import TRANSFORMS
from tests.gateway.jobs.helpers import Jobs

pytestmark = pytest.mark.slow

NAMES = [t.name for t in TRANSFORMS]


def _leftovers(gateway) -> list[str]:  # type: ignore[no-untyped-def]
    uploads = gateway.var_dir / "uploads"
    return sorted(p.name for p in uploads.iterdir()) if uploads.exists() else []


def _check_probe(body: dict) -> None:
    probe = body["robustness"]
    assert probe["complete"] is True
    assert [t["name"] for t in probe["transforms"]] == NAMES
    for entry, transform in zip(probe["transforms"], TRANSFORMS, strict=True):
        assert entry["description"] == transform.describe()
        assert 0.0 <= entry["score"] <= 1.0
        assert entry["verdict"] in ("real", "fake", "inconclusive")
        assert entry["delta"] == pytest.approx(entry["score"] - body["score"], abs=2e-4)
    deltas = [abs(t["delta"]) for t in probe["transforms"]]
    assert probe["max_abs_delta"] == pytest.approx(max(deltas), abs=1e-4)
    flips = sum(t["verdict"] != body["verdict"] for t in probe["transforms"])
    assert probe["verdict_flips"] == flips
    assert body["timings_ms"]["robustness"] > 0


def test_every_transform_is_scored_the_answer_is_unchanged_and_no_copy_is_left(
    gateway, make_clip
) -> None:
    clip = make_clip(width=160, height=120, frames=45, faces=1)
    plain = gateway.detect(clip, params={"frames": 8})
    probed = gateway.detect(clip, params={"frames": 8, "robustness": "true"})
    assert plain.status_code == probed.status_code == 200, probed.text
    body = probed.json()
    _check_probe(body)
    # The probe reports beside the answer: the upload's own score and verdict stand.
    assert (body["score"], body["verdict"]) == (plain.json()["score"], plain.json()["verdict"])
    assert plain.json()["robustness"] is None
    assert "robustness" not in plain.json()["timings_ms"] or (
        plain.json()["timings_ms"]["robustness"] is None
    )
    assert _leftovers(gateway) == []


def test_a_job_can_ask_for_the_probe(gateway, make_clip) -> None:
    jobs = Jobs(gateway, key=gateway.api_key)
    clip = make_clip(width=160, height=120, frames=30)
    submitted = jobs.submit(clip, frames=4, robustness="true")
    assert submitted.status_code == 202, submitted.text
    done = jobs.wait(submitted.json()["id"])
    assert done["status"] == "succeeded", done
    _check_probe(done["result"])
    assert done["parameters"].get("robustness")


def test_images_and_videos_over_the_limit_are_refused_before_any_work(
    gateway_factory, serving, make_clip
) -> None:
    gw = gateway_factory(serving.target, GATEWAY_ROBUSTNESS_MAX_DURATION_S="1.5")
    photo = io.BytesIO()
    Image.new("RGB", (96, 64), (120, 90, 60)).save(photo, "JPEG")
    with gw.client() as client:
        image = client.post(
            "/v1/detect",
            params={"robustness": "true"},
            headers={**gw.auth(), "Content-Type": "image/jpeg"},
            content=photo.getvalue(),
        )
    assert image.status_code == 422, image.text
    assert image.json()["error"]["code"] == "validation_error"
    assert "still image" in image.json()["error"]["message"]

    long = gw.detect(make_clip(frames=60, fps=30), params={"robustness": "true"})  # 2 s
    assert long.status_code == 422, long.text
    error = long.json()["error"]
    assert error["code"] == "video_limit_exceeded"
    assert "1.5 s" in error["message"]
    # Refused at the probe stage: nothing was scored, nothing is left.
    assert long.json().get("timings_ms") is None
    assert _leftovers(gw) == []


def test_past_its_deadline_the_probe_is_cut_short_and_the_verdict_still_answers(
    gateway_factory, serving, make_clip
) -> None:
    gw = gateway_factory(serving.target, GATEWAY_ROBUSTNESS_TIMEOUT_S="0.01")
    response = gw.detect(make_clip(frames=30), params={"robustness": "true"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["robustness"]["complete"] is False
    assert len(body["robustness"]["transforms"]) < len(NAMES)
    assert body["verdict"] in ("real", "fake", "inconclusive")
    assert _leftovers(gw) == []
