"""The bench's member costs: measured through the session loader, shown in the report."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.report import BenchResults, render
from bench.track_members import MemberCost, measure_members, section
from model_export.face_export import publish_face_version
from tests.tiny_model import tiny_cnn
from tests.videos import write_clip


@pytest.mark.slow  # builds two members and runs three graphs: about 40 s
def test_each_part_is_measured_on_a_real_version_and_clip(tmp_path: Path) -> None:
    version = publish_face_version(
        tiny_cnn((32, 32), seed=1), tmp_path / "models", "face", threshold=0.5,
        input_size=(32, 32),
    )  # fmt: skip
    clip = write_clip(tmp_path / "clip.mp4", frames=40, width=320, height=240, faces=1)
    cost = measure_members(version, clip)
    assert cost.visual_s > 0 and cost.motion_s > 0 and cost.audio_s > 0
    assert cost.frames == 32 and cost.frame_size == "320x240"
    assert cost.motion_ratio == cost.motion_s / cost.visual_s


def test_the_report_shows_the_costs_before_the_summary_lines() -> None:
    cost = MemberCost(2.0, 0.05, 0.01, "models/deepfake/3", 32, "640x360")
    results = BenchResults(
        meta={"timestamp": "now"}, clips=[], load=[], load_clip="720p", memory={}, members=cost,
    )  # fmt: skip
    text = render(results)
    assert "\n".join(section(cost)) in text
    assert "| talking-head member (`classify_motion`) | 0.050 s | 0.025 |" in text
    assert "ratio talking-head member/visual CPU per video = 0.025" in text
    assert text.index("## What each member costs") < text.index("ratio service/naive")
