"""The bench's still image and live figures: measured briefly against the real HTTPS gateway
and local Serving (the tiny model), and shown in the report. Nothing here is about speed."""

from __future__ import annotations

import math

import pytest

from bench import live, report_inputs
from bench.clips import BenchClip
from bench.inputs import ImageVsClip, InputsPlan, InputsResults, clip_jpegs, measure_image_vs_clip
from bench.report import BenchResults, render
from bench.service import Service
from tests.conftest import GatewayHandle, ServingHandle
from tests.videos import write_clip

pytestmark = pytest.mark.slow

#: The session gateway's GATEWAY_LIVE_STREAMS_PER_KEY (its default).
STREAM_LIMIT = 2


@pytest.fixture(scope="module")
def service(serving: ServingHandle, gateway: GatewayHandle) -> Service:
    """The session's real gateway and Serving, as the bench addresses them."""
    return Service(
        serving.process, gateway.process, gateway.url, gateway.cafile, gateway.api_key, 1
    )


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> BenchClip:
    """A 2-second 320x240 clip with a face in it."""
    path = write_clip(tmp_path_factory.mktemp("clips") / "face.mp4", frames=60, faces=1)
    return BenchClip("240p", path, 320, 240, 60, 30.0, synthetic=True)


@pytest.fixture(scope="module")
def frames(clip: BenchClip) -> list[bytes]:
    return clip_jpegs(clip.path, 10)


def _finite_positive(values: list[float]) -> bool:
    return bool(values) and all(math.isfinite(v) and v > 0 for v in values)


def test_frames_are_jpegs_of_the_clip(frames: list[bytes]) -> None:
    assert len(frames) == 10
    assert all(f.startswith(b"\xff\xd8") for f in frames)


def test_image_and_clip_are_both_answered(
    service: Service, clip: BenchClip, frames: list[bytes]
) -> None:
    result = measure_image_vs_clip(service, frames[5], clip, pairs=2)
    assert result.failed == 0, [r.body for r in result.image + result.clip if r.status != 200]
    assert [r.body["video"]["kind"] for r in result.image] == ["image", "image"]
    assert all(r.frames > 1 for r in result.clip)
    assert _finite_positive([result.image_ms, result.clip_ms, result.ratio])
    assert result.image_size == (320, 240)


def test_one_live_session_is_scored_with_latencies(service: Service, frames: list[bytes]) -> None:
    run = live.live_session(service, frames, seconds=3.0)
    assert run.error is None
    assert run.frames_sent + run.frames_unsent == 15
    assert run.frames_seen == run.frames_sent
    assert run.frames_scored > 0
    assert _finite_positive(run.latencies_ms)
    assert _finite_positive(
        [run.latency_ms(50), run.latency_ms(95), run.max_latency_ms, run.server_p95_ms]
    )


def test_the_ramp_stops_at_the_stream_limit_at_the_latest(
    service: Service, frames: list[bytes]
) -> None:
    ramp = live.ramp(service, frames, (1, 2, 3), 2.0, stream_limit=STREAM_LIMIT)
    assert ramp.steps and ramp.steps[0].sessions == 1
    assert ramp.steps[0].scored > 0
    assert ramp.held <= STREAM_LIMIT
    held = [s.sessions for s in ramp.steps if s.stop_reason(ramp.target_p95_ms) is None]
    assert ramp.held == max(held, default=0)
    if len(ramp.steps) == 3:  # the first two held: the third is refused by the gateway
        assert ramp.steps[2].failed and set(ramp.steps[2].failed) == {"too_many_streams"}
        assert "stream limit" in ramp.stopped_by
    assert ramp.stopped_by


def test_the_report_shows_the_section_and_its_summary_lines(clip: BenchClip) -> None:
    image = ImageVsClip(
        image=[], clip=[], image_size=(1280, 720), image_bytes=90_000, clip_name="720p",
        clip_seconds=10.0,
    )  # fmt: skip
    run = live.SessionRun(
        seconds=30.0, frames_sent=150, frames_unsent=0, frames_seen=150, frames_scored=150,
        frames_dropped=0, latencies_ms=[100.0, 120.0, 300.0], server_p95_ms=250.0,
    )  # fmt: skip
    step = live.RampStep(1, [run])
    inputs = InputsResults(
        version="the demo model, version 1",
        image=image,
        live=run,
        ramp=live.Ramp([step], 1, "the per-key stream limit (1)"),
        plan=InputsPlan(pairs=1, live_s=30, ramp_s=20, ramp=(1,)),
    )
    results = BenchResults(
        meta={"timestamp": "now"}, clips=[], load=[], load_clip="720p", memory={}, inputs=inputs,
    )  # fmt: skip
    text = render(results)
    assert "\n".join(report_inputs.section(inputs)) in text
    assert "## A still image and live streams" in text
    assert "**1** held; stopped by the per-key stream limit (1)" in text
    lines = text.rstrip("\n").splitlines()
    assert lines[-3] == "image answered in n/a of a 10-s clip's time (target < 1/5)"
    assert lines[-2] == "live frame-to-score p95 250 ms at 5 fps (target < 500 ms)"
    assert lines[-1] == "live streams one gateway holds at 5 fps: 1"
    only = render(results, only_inputs=True)
    assert "ratio service/naive" not in only and only.endswith(lines[-1] + "\n")
    assert text.index("## A still image") < text.index("ratio service/naive")


def test_the_image_line_reads_the_ratio() -> None:
    ok = [_result(200, 50.0), _result(200, 70.0)]
    clip = [_result(200, 600.0), _result(200, 600.0)]
    image = ImageVsClip(ok, clip, (1280, 720), 1, "720p", 10.0)
    lines = report_inputs.summary_lines(InputsResults(version="v", image=image))
    assert lines[0] == "image answered in 0.10 of a 10-s clip's time (target < 1/5)"
    assert lines[1:] == [
        "live frame-to-score p95 n/a ms at 5 fps (target < 500 ms)",
        "live streams one gateway holds at 5 fps: n/a",
    ]


def _result(status: int, latency_ms: float):  # type: ignore[no-untyped-def]
    from bench.service import RequestResult

    return RequestResult(status, latency_ms, {})
