"""What a verdict says about real clips: rotation, long inputs, sampling and aggregation."""

from __future__ import annotations

import itertools

import pytest

pytestmark = pytest.mark.slow


def test_rotated_phone_video_is_reported_upright(gateway, make_clip) -> None:
    clip = make_clip(width=320, height=240, frames=20, rotation=-90)
    body = gateway.detect(clip).json()
    assert body["video"]["rotation"] == 90
    assert (body["video"]["width"], body["video"]["height"]) == (240, 320)


def test_long_video_samples_uniformly(gateway, make_clip) -> None:
    clip = make_clip(width=160, height=120, frames=1800, fps=30, gop=60)  # one minute
    body = gateway.detect(clip).json()
    assert body["video"]["duration_s"] == pytest.approx(60.0, abs=0.2)
    stamps = [p["t_s"] for p in body["timeline"]]
    assert len(stamps) == 32
    assert stamps[0] < 0.1 and stamps[-1] > 59.0
    # Uniform up to the keyframe rule: a sample may move to a keyframe within half a spacing.
    spacing = (60.0 - 1 / 30) / 31
    for i, t in enumerate(stamps):
        assert abs(t - i * spacing) <= spacing / 2 + 1e-3, (i, t)
    assert all(b > a for a, b in itertools.pairwise(stamps))


def test_sampling_rate_and_frame_count_parameters(gateway, make_clip) -> None:
    clip = make_clip(frames=90, fps=30)  # three seconds
    assert gateway.detect(clip, params={"frames": 7}).json()["frames_analyzed"] == 7
    assert gateway.detect(clip, params={"fps": 2}).json()["frames_analyzed"] == 6


@pytest.mark.parametrize("aggregation", ["mean", "median", "topk_mean", "confident", "max"])
def test_aggregation_is_selectable(gateway, make_clip, aggregation) -> None:
    body = gateway.detect(make_clip(frames=30), params={"aggregation": aggregation}).json()
    assert body["aggregation"] == aggregation
    scores = [p["score"] for p in body["timeline"]]
    assert min(scores) - 1e-3 <= body["score"] <= max(scores) + 1e-3
    if aggregation == "max":
        assert body["score"] == pytest.approx(max(scores), abs=1e-3)
    if aggregation == "mean":
        assert body["score"] == pytest.approx(sum(scores) / len(scores), abs=1e-3)


def test_default_aggregation_for_a_version_without_sequence_head(gateway, make_clip) -> None:
    body = gateway.detect(make_clip(frames=30)).json()
    assert body["aggregation"] == "confident"


def test_sequence_aggregation_needs_a_sequence_head(gateway, make_clip) -> None:
    response = gateway.detect(make_clip(frames=30), params={"aggregation": "sequence"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "aggregation_unavailable"
    assert "sequence head" in error["message"]


def test_a_version_that_is_not_an_ensemble_reports_no_members(gateway, make_clip) -> None:
    body = gateway.detect(make_clip(frames=10), params={"frames": 4}).json()
    assert "members" in body and body["members"] is None
    assert body["tracks"] and all(t["members"] is None for t in body["tracks"])
    with gateway.client() as client:
        versions = client.get("/v1/models", headers=gateway.auth()).json()["versions"]
    assert versions and all(v["members"] is None for v in versions)


def test_explain_needs_a_version_that_explains(gateway, make_clip) -> None:
    # The tiny version classifies whole frames: it has no explain signature.
    body = gateway.detect(make_clip(frames=30), params={"frames": 4, "explain": "true"}).json()
    assert body["verdict"] in ("real", "fake")
    assert [t["explanations"] for t in body["tracks"]] == [None]
    assert any("explain" in w and "null" in w for w in body["warnings"]), body["warnings"]
    assert body["timings_ms"]["explain"] is not None
    plain = gateway.detect(make_clip(frames=30), params={"frames": 4}).json()
    assert plain["warnings"] == [] and plain["timings_ms"]["explain"] is None


def test_an_answer_carries_an_interval_and_reasons(gateway, make_clip) -> None:
    body = gateway.detect(make_clip(frames=30)).json()
    interval = body["score_interval"]
    assert interval["level"] == 0.9
    assert 0.0 <= interval["low"] <= body["score"] <= interval["high"] <= 1.0
    assert isinstance(body["reasons"], list)
    # A clip encoded at the default quality is not heavily compressed, and 32 frames are enough.
    assert "heavy_compression" not in body["reasons"]
    assert "too_few_frames" not in body["reasons"]
    straddling = interval["low"] < body["threshold"] <= interval["high"]
    assert ("near_threshold" in body["reasons"]) == straddling
    assert (body["verdict"] == "inconclusive") == straddling
    # The same upload gets the same answer.
    again = gateway.detect(make_clip("again.mp4", frames=30)).json()
    assert (again["score_interval"], again["reasons"]) == (interval, body["reasons"])


def test_a_heavily_compressed_clip_is_flagged(gateway, make_clip) -> None:
    # Even CRF 51 leaves the noisy test pattern at about 0.024 bits per pixel; a 20 kbit/s
    # target rate brings it to about 0.014, under the level.
    clip = make_clip(width=320, height=240, frames=60, bitrate=20_000)
    body = gateway.detect(clip).json()
    assert "heavy_compression" in body["reasons"], body["reasons"]


def test_a_clip_with_too_few_frames_is_flagged(gateway, make_clip) -> None:
    body = gateway.detect(make_clip(frames=5)).json()
    assert body["frames_analyzed"] == 5
    assert "too_few_frames" in body["reasons"]
    assert "too_few_frames" not in gateway.detect(make_clip(frames=30)).json()["reasons"]
