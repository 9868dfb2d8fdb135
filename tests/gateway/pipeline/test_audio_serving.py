"""The audio stage against the real local Serving loading the tiny audio-visual member."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from contract.aggregation import FrameResult
from gateway.pipeline.answers import ScoredFrames
from gateway.pipeline.audio import decode_audio
from gateway.pipeline.audio_member import audio_summary, score_audio, takes_audio
from gateway.pipeline.video import SampledFrame
from gateway.settings import Settings
from gateway.upstream.serving_client import ServingClient
from gateway.upstream.serving_types import ModelRef
from model_export.av_demo_data import talking_clips, write_talking_clip
from model_export.av_member import export_member, train_member
from tests.conftest import MODEL_NAME, start_serving

pytestmark = pytest.mark.slow


def test_a_version_with_audio_is_asked_through_serving(tmp_path: Path) -> None:
    clips = talking_clips(8)
    export_member(train_member(clips, epochs=2), tmp_path / "models" / MODEL_NAME / "1")
    serving = start_serving(tmp_path / "models" / MODEL_NAME, tmp_path / "serving.log")
    try:
        clip = clips[0]
        track = decode_audio(write_talking_clip(tmp_path / "talk.mp4", clip))
        frames = [
            SampledFrame(index=i, t_s=i / clip.fps, image=image)
            for i, image in enumerate(clip.frames)
        ]
        results = [FrameResult(t_s=f.t_s, score=0.5) for f in frames]
        scored = ScoredFrames(frames=results, face_aware=False, threshold=0.5, crops=None)
        summary, described = asyncio.run(_ask(serving.target, track, frames, scored))
    finally:
        serving.process.stop()
    assert takes_audio(described)
    assert summary.present and summary.sample_rate == 16_000
    assert summary.score is not None and 0.0 <= summary.score <= 1.0
    assert summary.offset_s is None  # this member learns no offset


async def _ask(target, track, frames, scored):  # type: ignore[no-untyped-def]
    client = ServingClient.from_settings(Settings(SERVING_TARGET=target))
    try:
        model = ModelRef(MODEL_NAME)
        described = await client.model_info(model)
        score = await score_audio(client, model.pinned(described.version), track, frames, scored)
        return audio_summary(track, score), described
    finally:
        await client.close()
