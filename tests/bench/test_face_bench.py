"""The face-aware bench's parts that need no running service: clips, crops, sampling, arithmetic."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from bench import face_figures, face_report, gpu_estimate
from bench.__main__ import Plan
from bench.clips import LENGTH_GOP_S, length_clip
from bench.face_aware import decode_cost
from bench.mtcnn_pipeline import MARGIN, margin_crop, sampled_frames_opencv
from bench.service import LoadRun
from bench.settings import gateway_defaults
from gateway.pipeline.probe import VideoLimits, probe
from gateway.pipeline.video import iter_frames, sample_times_of

LIMITS = VideoLimits(max_duration_s=3600, max_frames=10**6, max_pixels=10**8)


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 60-second 96x64 length clip at 10 fps (tiny: the same generator as the 720p ones)."""
    return length_clip(tmp_path_factory.mktemp("clips"), 60, size=(96, 64), fps=10).path


def test_length_clip_is_a_real_stream_with_keyframes_every_gop(long_clip: Path) -> None:
    with av.open(str(long_clip)) as container:
        stream = container.streams.video[0]
        packets = [p for p in container.demux(stream) if p.size]
        keys = sorted(float(p.pts * stream.time_base) for p in packets if p.is_keyframe)
        container.seek(0)
        times = [float(f.time) for f in container.decode(stream)]
    assert len(packets) == 600
    assert len(times) == 600  # every repeated packet decodes
    assert np.all(np.diff(times) > 0)
    assert times[-1] == pytest.approx(59.9, abs=1e-6)
    assert np.allclose(np.diff(keys), LENGTH_GOP_S)
    info = probe(long_clip, LIMITS)
    assert (info.duration_s, info.frame_count) == (60.0, 600)


def test_length_clip_is_cached_and_needs_whole_cycles(tmp_path: Path) -> None:
    first = length_clip(tmp_path, 4, size=(64, 48), fps=5)
    stamp = first.path.stat().st_mtime_ns
    again = length_clip(tmp_path, 4, size=(64, 48), fps=5)
    assert again.path == first.path and again.path.stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="multiple"):
        length_clip(tmp_path, 5, size=(64, 48), fps=5)


def test_decode_cost_follows_samples_not_length(long_clip: Path) -> None:
    defaults = gateway_defaults()
    decoded, probe_ms, decode_ms = decode_cost(long_clip, defaults)
    # 32 samples 1.9 s apart, a keyframe every 2 s: from each one's keyframe at most.
    assert decoded <= 32 * LENGTH_GOP_S * 10
    assert decoded < 600 * 0.6
    assert probe_ms >= 0 and decode_ms > 0


def test_the_package_pipeline_samples_the_services_frames(long_clip: Path) -> None:
    ours = sampled_frames_opencv(long_clip, 8)
    info = probe(long_clip, LIMITS)
    theirs = [f.image for f in iter_frames(long_clip, info, sample_times_of(info, 8), max_side=96)]
    assert len(ours) == len(theirs) == 8
    for a, b in zip(ours, theirs, strict=True):
        # Two decoders' YUV->RGB differ by a few levels; another frame differs by far more.
        assert np.abs(a.astype(int) - b.astype(int)).mean() < 4


def test_margin_is_the_graphs() -> None:
    from model_export.faces import DEFAULT_MARGIN

    assert MARGIN == DEFAULT_MARGIN


def test_margin_crop_widens_the_box_and_pads_outside_black() -> None:
    frame = np.full((100, 200, 3), 200, np.uint8)
    frame[:, :100] = 50  # left half darker
    inside = margin_crop(frame, (120.0, 30.0, 40.0, 40.0), 0.25, 32)
    assert inside.shape == (32, 32, 3)
    assert inside.min() == 200  # x 110..170: all in the bright half
    edge = margin_crop(frame, (0.0, 0.0, 40.0, 40.0), 0.5, 40)
    # Widened to -20..60: the first third is outside the frame (black), the rest dark.
    assert edge[30, 5].max() == 0 and edge[5, 30].max() == 0
    assert edge[30, 30].min() == 50


def test_quick_plan_skips_the_long_clips() -> None:
    quick, full = Plan.quick(), Plan.full()
    assert max(quick.lengths_s) < 60
    assert full.lengths_s == (10, 60, 600)
    assert quick.face.load_requests * len(quick.face.concurrency) <= 8


def test_summary_lines_say_na_without_measurements() -> None:
    lines = face_report.summary_lines(None)
    assert lines == [
        "ratio face-aware service/mtcnn-package pipeline 720p = n/a",
        "ratio face-aware latency 10 min/10 s 720p = n/a",
        "ratio face-aware throughput c4/machine limit = n/a",
    ]


def _run(wall_s: float, videos: int, service_s: float, client_s: float, others: float) -> LoadRun:
    from bench.service import RequestResult

    ok = [RequestResult(200, 1000.0, {}) for _ in range(videos)]
    return LoadRun(4, wall_s, ok, 0.0, others, service_cpu_s=service_s, client_cpu_s=client_s)


def test_limit_gap_accounts_for_every_core_second() -> None:
    split = face_figures.CpuSplit(
        gateway_s=1.0, serving_s=3.0, decode_s=0.5, detection_s=1.0, classification_s=2.0
    )
    assert split.rest_s == pytest.approx(0.5)
    assert split.limit_per_min(2) == pytest.approx(30.0)  # 2 cores / 4 s a video
    # 10 videos in 30 s on 2 cores: 20 videos/min against 30.
    gap = face_figures.limit_gap(_run(30.0, 10, 40.0, 6.0, 0.1), split, 2)
    assert gap.fraction == pytest.approx(20.0 / 30.0)
    shares = gap.service_share + gap.client_share + gap.others_share + gap.idle_share
    assert shares == pytest.approx(1.0)
    assert gap.idle_share == pytest.approx(1 - 40 / 60 - 6 / 60 - 0.1)
    assert "idle cores" in gap.sentence(4)


def test_gpu_estimate_names_the_slower_stage() -> None:
    est = gpu_estimate.estimate(
        frames=32, faces_per_frame=1.0, decode_cpu_s=0.5, gateway_rest_cpu_s=0.25, gateway_cores=8
    )
    assert est.gateway_videos_per_s == pytest.approx(8 / 0.75)
    per_video_gpu = 32 * max(gpu_estimate.MTCNN_GPU_MS_PER_FRAME) / 1000 + 32 * 9.0 / 1000
    assert est.gpu_videos_per_s == pytest.approx(
        gpu_estimate.GPU_CONCURRENT_BATCHES / per_video_gpu
    )
    assert est.videos_per_s == min(est.gateway_videos_per_s, est.gpu_videos_per_s)
    assert est.first_to_saturate.startswith("the GPU")
    settings = gpu_estimate.batching_settings(est, 32)
    assert "allowed_batch_sizes: 128" in settings and "max_batch_size { value: 128 }" in settings
