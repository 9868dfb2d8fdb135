"""The talking-head member asked through the real local Serving, as the motion stage asks it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from contract.aggregation import Face, FrameResult
from gateway.pipeline.answers import ScoredFrames
from gateway.pipeline.motion_member import score_motion
from gateway.pipeline.track_members import member_faces
from gateway.pipeline.video import SampledFrame
from gateway.settings import Settings
from gateway.upstream.serving_client import ServingClient
from gateway.upstream.serving_types import ModelRef
from model_export.motion_features import FEATURE_NAMES
from model_export.motion_member import MotionModel, export_motion_member, track_features
from tests.conftest import MODEL_NAME, start_serving
from tests.videos import face_frames

pytestmark = pytest.mark.slow


def test_a_talking_head_member_is_asked_through_serving(tmp_path: Path) -> None:
    width = len(FEATURE_NAMES)
    member = MotionModel(
        mean=(0.0,) * width,
        scale=(1.0,) * width,
        weights=tuple(0.05 * (-1) ** i for i in range(width)),
        bias=0.4,
    )
    export_motion_member(member, tmp_path / "models" / MODEL_NAME / "1")
    serving = start_serving(tmp_path / "models" / MODEL_NAME, tmp_path / "serving.log")
    images = face_frames(12, 160, 120, faces=1, seed=5)
    frames = [SampledFrame(index=i, t_s=i / 4, image=image) for i, image in enumerate(images)]
    box = [0.2, 0.3, 0.8, 0.7]
    results = [FrameResult(t_s=f.t_s, score=0.5, faces=[Face(box, 0.99, 0.5)]) for f in frames]
    scored = ScoredFrames(frames=results, face_aware=True, threshold=0.5, crops=None)
    try:
        score = asyncio.run(_ask(serving.target, frames, scored))
    finally:
        serving.process.stop()
    picked = member_faces(frames, scored)
    assert picked is not None
    # The member's graph scored the selection the gateway sent: the same features, the
    # same arithmetic as the fitted model's.
    expected = float(member.score(track_features(*picked)[None])[0])
    assert score is not None and score == pytest.approx(expected, abs=1e-4)
    assert 0.0 < score < 1.0


async def _ask(target: str, frames: list[SampledFrame], scored: ScoredFrames) -> float | None:
    client = ServingClient.from_settings(Settings(SERVING_TARGET=target))
    try:
        model = ModelRef(MODEL_NAME)
        described = await client.model_info(model)
        assert described is not None and described.motion_combination is None  # a bare member
        return await score_motion(client, model.pinned(described.version or 1), frames, scored)
    finally:
        await client.close()
