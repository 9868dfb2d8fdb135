"""The decode thread: its budget (CPU, pixels, deadline) is enforced, and it ends when stopped."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

from gateway.errors import VideoLimitExceeded
from gateway.pipeline.budget import DecodeBudget, DecodeLimits
from gateway.pipeline.decoder import ThreadedDecoder
from gateway.pipeline.probe import VideoLimits, probe
from gateway.pipeline.video import iter_frames, sample_times_of

LIMITS = VideoLimits(max_duration_s=600, max_frames=100_000, max_pixels=3840 * 2160)
GENEROUS = DecodeLimits(cpu_s=60.0, max_pixels=10**12, timeout_s=60.0)


def write_busy_clip(path: Path, *, width: int, height: int, frames: int) -> Path:
    """A clip that is quick to encode but costs real work to decode: noise, one GOP."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (height, width, 3), np.uint8)
    with av.open(str(path), "w") as out:
        stream = out.add_stream(
            "libx264", rate=30, options={"preset": "ultrafast", "g": str(frames)}
        )
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.roll(base, i * 7, axis=1), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def _decode_all(clip: Path, limits: DecodeLimits, frames: int = 32) -> tuple[int, ThreadedDecoder]:
    """Decode ``frames`` samples of ``clip`` through the decode thread; frames received."""
    info = probe(clip, LIMITS)
    times = sample_times_of(info, frames)

    async def run() -> tuple[int, ThreadedDecoder]:
        decoder = ThreadedDecoder(
            clip,
            info,
            times,
            batch_size=4,
            max_side=320,
            min_side=0,
            canvas=None,
            threads=False,
            limits=limits,
        )
        done = decoder.start()
        received = 0
        try:
            async for batch in decoder.batches():
                received += len(batch)
        finally:
            decoder.stop()
            await asyncio.wait_for(done, 10)
        return received, decoder

    return asyncio.run(run())


def _ended(decoder: ThreadedDecoder) -> bool:
    """The decoder's thread ended (within a few seconds of handing over its result)."""
    assert decoder.thread is not None
    decoder.thread.join(5)
    return not decoder.thread.is_alive()


def _decode_threads() -> list[threading.Thread]:
    """Decode threads still running, once each had a few seconds to end."""
    threads = [t for t in threading.enumerate() if t.name.startswith("decode-")]
    for thread in threads:
        thread.join(5)  # it has handed over its result and is on its way out
    return [t for t in threads if t.is_alive()]


def test_a_normal_clip_decodes_within_the_default_budget(make_clip) -> None:
    received, decoder = _decode_all(make_clip(frames=60), GENEROUS)
    assert received == 32
    assert _ended(decoder)


@pytest.mark.parametrize(
    ("limits", "word"),
    [
        (DecodeLimits(cpu_s=1e-6, max_pixels=10**12, timeout_s=60.0), "CPU seconds"),
        (DecodeLimits(cpu_s=60.0, max_pixels=320 * 240 * 3, timeout_s=60.0), "pixels"),
        (DecodeLimits(cpu_s=60.0, max_pixels=10**12, timeout_s=1e-6), "longer than"),
    ],
)
def test_tiny_budget_stops_decoding_and_the_thread(make_clip, limits, word) -> None:
    clip = make_clip(frames=60, width=320, height=240)
    with pytest.raises(VideoLimitExceeded, match=word) as caught:
        _decode_all(clip, limits)
    assert caught.value.status_code == 422
    assert _decode_threads() == []


def test_every_decoded_frame_counts_not_only_the_sampled_ones(make_clip) -> None:
    # One GOP of 60 frames decoded straight through for 2 samples: 60 frames of pixels.
    clip = make_clip(frames=60, width=320, height=240, gop=60)
    limits = DecodeLimits(cpu_s=60.0, max_pixels=320 * 240 * 20, timeout_s=60.0)
    with pytest.raises(VideoLimitExceeded, match="pixels"):
        _decode_all(clip, limits, frames=2)


def _decoded_frames(clip: Path, count: int) -> tuple[int, int]:
    """(frames the gateway's decoder decodes, frames it yields) for ``count`` samples."""
    info = probe(clip, LIMITS)
    budget = DecodeBudget(GENEROUS)
    budget.start()
    out = list(iter_frames(clip, info, sample_times_of(info, count), max_side=160, budget=budget))
    return budget.pixels // (info.width * info.height), len(out)


@pytest.mark.parametrize(
    ("frames", "gop"),
    [
        (3000, 20),  # 5 min at 10 fps, a keyframe every 2 s: samples 9.7 s apart
        (480, 5),  # keyframes every 0.5 s, samples 1.5 s apart: seeking still pays
    ],
)
def test_decode_work_grows_with_samples_times_gop_not_with_length(make_clip, frames, gop) -> None:
    clip = make_clip(frames=frames, fps=10, gop=gop, width=96, height=64)
    count = 32
    decoded, sampled = _decoded_frames(clip, count)
    assert sampled == count
    # From the keyframe before each sample to the sample, plus the codec's reorder delay.
    assert decoded <= count * (gop + 3), (decoded, frames)
    assert decoded < frames / 2


def test_stop_ends_the_thread_mid_decode(tmp_path: Path) -> None:
    clip = write_busy_clip(tmp_path / "busy.mp4", width=640, height=480, frames=150)
    info = probe(clip, LIMITS)

    async def run() -> float:
        decoder = ThreadedDecoder(
            clip,
            info,
            sample_times_of(info, 256),
            batch_size=1,
            max_side=320,
            min_side=0,
            canvas=None,
            threads=False,
            limits=GENEROUS,
        )
        done = decoder.start()
        batches = decoder.batches()
        await anext(batches)  # decoding is under way
        decoder.stop()
        start = time.monotonic()
        await asyncio.wait_for(done, 10)
        assert _ended(decoder)
        return time.monotonic() - start

    assert asyncio.run(run()) < 5
    assert _decode_threads() == []


def test_decode_budget_over_gets_422_with_a_clean_message(
    gateway_factory, serving, make_clip
) -> None:
    gw = gateway_factory(serving.target, GATEWAY_DECODE_MAX_PIXELS="100000")
    response = gw.detect(make_clip(frames=60, width=320, height=240))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "video_limit_exceeded"
    assert error["message"] == "decoding the video needed more than 100000 pixels"
    assert gw.detect(make_clip("small.mp4", frames=1, width=64, height=64)).status_code == 200


@pytest.mark.slow
def test_a_long_decode_does_not_stall_other_requests(gateway_factory, serving, tmp_path) -> None:
    gw = gateway_factory(serving.target, GATEWAY_FRAMES="256")
    clip = write_busy_clip(tmp_path / "busy.mp4", width=640, height=480, frames=240)
    result: dict[str, object] = {}

    def detect() -> None:
        result["response"] = gw.detect(clip)

    thread = threading.Thread(target=detect)
    thread.start()
    answered = 0
    with gw.client() as client:
        while thread.is_alive():
            assert client.get("/healthz", timeout=5).status_code == 200
            answered += thread.is_alive()
            time.sleep(0.05)
    thread.join()
    response = result["response"]
    assert response.status_code == 200, response.text  # type: ignore[attr-defined]
    decode_ms = response.json()["timings_ms"]["decode"]  # type: ignore[attr-defined]
    # Health answers kept coming, one after another, while the video was decoded.
    assert answered >= 3, f"{answered} health answers during a {decode_ms:.0f} ms decode"
