"""Which versions have a talking-head member, how its answer reads, and the order of the joins."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

import contract
from contract.aggregation import Face, FrameResult, ScoreInterval, Verdict
from contract.combination import MemberCombination
from contract.member_verdict import join_member
from contract.motion import MOTION_COMBINATION_OUTPUT, MOTION_MEMBER, MOTION_SIGNATURE
from gateway.audio_schemas import AudioSummary
from gateway.errors import InferenceFailed
from gateway.motion_schemas import MotionSummary
from gateway.pipeline.answers import ScoredFrames
from gateway.pipeline.detection_types import DetectionResult, DetectOptions, Silent
from gateway.pipeline.motion_member import MOTION_STAGE, MotionOutcome, motion_stage, takes_motion
from gateway.pipeline.probe import VideoInfo
from gateway.pipeline.responses import detection_response
from gateway.pipeline.timing import StageTimer
from gateway.pipeline.track_members import join_members, member_faces, read_member_score
from gateway.pipeline.video import SampledFrame
from gateway.schemas import MediaKind
from gateway.settings import Settings
from gateway.upstream.description import read_description
from gateway.upstream.serving_client import ServingClient
from gateway.upstream.serving_types import ModelRef, Prediction, VersionDescription

#: Exact in float32, so a row read back from a tensor compares equal.
MOTION_ROW = [0.75, 1.5, -0.25, 0.03125]


def _info(**extra: np.ndarray) -> Prediction:
    outputs = {
        contract.THRESHOLD: np.array([0.5], np.float32),
        contract.FRAME_MIN_SIDE: np.array([0], np.int32),
        **extra,
    }
    return Prediction(name="deepfake", version=3, outputs=outputs)


def _description(motion: MemberCombination | None, audio: MemberCombination) -> VersionDescription:
    return VersionDescription(
        name="deepfake",
        version=3,
        threshold=0.5,
        frame_min_side=0,
        sequence_length=0,
        audio_sample_rate=contract.AUDIO_SAMPLE_RATE,
        audio_combination=audio,
        motion_combination=motion,
    )


def _verdict(score: float) -> Verdict:
    return Verdict(
        contract.VERDICT_REAL, score, 0.5, [], interval=ScoreInterval(score - 0.1, score + 0.1, 0.9)
    )


def test_model_info_says_whether_a_version_has_a_talking_head_member() -> None:
    plain = read_description(_info())
    assert plain.motion_combination is None and not takes_motion(plain)
    assert not takes_motion(None)
    # One row per input frame, the same in each: the first says it.
    rows = np.array([MOTION_ROW, MOTION_ROW], np.float32)
    moving = read_description(_info(**{MOTION_COMBINATION_OUTPUT: rows}))
    assert moving.motion_combination == MemberCombination(*MOTION_ROW)
    assert takes_motion(moving)
    # The audio-visual member's combination is read apart: still the identity here.
    assert moving.audio_combination.is_identity and moving.audio_sample_rate == 0


@pytest.mark.parametrize(
    "output",
    [
        np.array([[1.0, 2.0]], np.float32),  # not four values
        np.zeros((0, 4), np.float32),  # no row
        np.array([[0.0, 1.0, 0.0, 0.0]], np.float32),  # the visual weight must be positive
        np.array([[1.0, np.nan, 0.0, 0.0]], np.float32),  # not finite
        np.array([[1.0, 1.0, 0.0, 0.5]], np.float32),  # the floor must be below one half
        np.array([[b"a", b"b", b"c", b"d"]]),  # not numbers
    ],
)
def test_a_malformed_motion_combination_makes_the_description_malformed(
    output: np.ndarray,
) -> None:
    with pytest.raises(InferenceFailed, match="malformed"):
        read_description(_info(**{MOTION_COMBINATION_OUTPUT: output}))


def test_a_motion_answer_is_read_and_checked() -> None:
    answer = Prediction("m", 1, {contract.FAKE_PROBABILITY: np.array([0.625], np.float32)})
    assert read_member_score(answer, MOTION_SIGNATURE) == 0.625
    for outputs in (
        {},
        {contract.FAKE_PROBABILITY: np.zeros(0, np.float32)},
        {contract.FAKE_PROBABILITY: np.array([1.5], np.float32)},
        {contract.FAKE_PROBABILITY: np.array([np.nan], np.float32)},
    ):
        with pytest.raises(InferenceFailed, match=MOTION_SIGNATURE):
            read_member_score(Prediction("m", 1, outputs), MOTION_SIGNATURE)


def test_the_talking_head_member_joins_before_the_audio_visual_member() -> None:
    # Weights away from 1 make the two joins not commute, so the order shows.
    motion = MemberCombination(visual=0.5, member=2.0, bias=0.3, floor=0.01)
    audio = MemberCombination(visual=1.5, member=1.0, bias=-0.2)
    described = _description(motion, audio)
    before = _verdict(0.4)
    joined = join_members(before, described, motion=0.8, audio=0.3)
    expected = join_member(join_member(before, 0.8, motion), 0.3, audio)
    reversed_order = join_member(join_member(before, 0.3, audio), 0.8, motion)
    assert joined.score == pytest.approx(expected.score, abs=1e-12)
    assert joined.interval == pytest.approx(expected.interval)
    assert abs(joined.score - reversed_order.score) > 1e-3
    # A member that did not score joins nothing; the other still does.
    assert join_members(before, described, motion=None, audio=None) is before
    assert join_members(before, described, motion=0.8, audio=None).score == pytest.approx(
        join_member(before, 0.8, motion).score
    )
    assert join_members(before, described, motion=None, audio=0.3).score == pytest.approx(
        join_member(before, 0.3, audio).score
    )
    # Without the member (or without model_info) a stray score joins nothing.
    without = _description(None, MemberCombination())
    assert join_members(before, without, motion=0.8, audio=None) is before
    assert join_members(before, None, motion=0.8, audio=0.3) is before


def _frames(count: int, *, face: bool) -> tuple[list[SampledFrame], ScoredFrames]:
    images = [np.full((8, 8, 3), i, np.uint8) for i in range(count)]
    frames = [SampledFrame(index=i, t_s=i * 0.25, image=image) for i, image in enumerate(images)]
    results = [
        FrameResult(
            t_s=f.t_s, score=0.5, faces=[Face([0.2, 0.2, 0.8, 0.8], 0.99, 0.5)] if face else []
        )
        for f in frames
    ]
    return frames, ScoredFrames(frames=results, face_aware=True, threshold=0.5, crops=None)


def test_the_selection_is_the_longest_face_track_in_the_window() -> None:
    frames, scored = _frames(12, face=True)
    picked = member_faces(frames, scored)
    assert picked is not None
    images, boxes = picked
    assert images.shape == (contract.AUDIO_FACE_COUNT, 8, 8, 3) and images.dtype == np.uint8
    assert boxes.shape == (contract.AUDIO_FACE_COUNT, 4) and boxes.dtype == np.float32
    assert np.allclose(boxes, [0.2, 0.2, 0.8, 0.8])
    assert member_faces(*_frames(12, face=False)) is None


def _video(kind: MediaKind = "video") -> VideoInfo:
    return VideoInfo(3.0, 4.0, 8, 8, rotation=0, frame_count=12, codec="h264", kind=kind)


def test_the_motion_stage_asks_nothing_it_cannot_answer() -> None:
    described = _description(MemberCombination(*MOTION_ROW), MemberCombination())

    async def run() -> list[tuple[MotionOutcome, StageTimer]]:
        # Nothing here reaches Serving: the client points where nothing listens.
        client = ServingClient.from_settings(Settings(SERVING_TARGET="127.0.0.1:9"))
        model = ModelRef("deepfake", version=3)
        try:
            outcomes = []
            for description, info, face in (
                (None, _video(), True),  # no model_info: no member
                (_description(None, MemberCombination()), _video(), True),  # no member
                (described, _video("image"), True),  # one frame holds no motion
                (described, _video(), False),  # no face track in the window
            ):
                timer = StageTimer()
                frames, scored = _frames(12, face=face)
                outcome = await motion_stage(
                    client, model, info, description, frames, scored, timer=timer, progress=Silent()
                )
                outcomes.append((outcome, timer))
            return outcomes
        finally:
            await client.close()

    (none, plain, image, faceless) = asyncio.run(run())
    assert none[0] == MotionOutcome() and plain[0] == MotionOutcome()
    assert image[0].summary == MotionSummary(score=None) and image[0].score is None
    assert faceless[0].summary == MotionSummary(score=None) and faceless[0].score is None
    assert [MOTION_STAGE in timer.ms for _, timer in (none, plain, image, faceless)] == [
        False,
        False,
        False,
        True,
    ]


def test_the_answer_carries_the_member_in_members_and_its_block() -> None:
    frames = [FrameResult(t_s=0.0, score=0.4)]
    opts = DetectOptions(model=ModelRef("deepfake"), frames=8, rate=None, aggregation=None)
    heard = AudioSummary(present=True, sample_rate=16_000, seconds=2.0, score=0.25)
    result = DetectionResult(
        info=_video(),
        frames=frames,
        verdict=_verdict(0.4),
        model_name="deepfake",
        version=3,
        face_aware=False,
        aggregation="mean",
        audio=heard,
        motion=MotionSummary(score=0.612345),
    )
    result.timer.ms.update({MOTION_STAGE: 1.234})
    body = detection_response(result, opts)
    assert body.motion == MotionSummary(score=0.612345)
    # In the order the members join the verdict: the talking-head member, then the audio.
    assert body.members == {MOTION_MEMBER: 0.6123, contract.AUDIO_MEMBER: 0.25}
    assert body.timings_ms.motion == 1.23
    plain = detection_response(
        DetectionResult(
            info=_video(),
            frames=frames,
            verdict=_verdict(0.4),
            model_name="deepfake",
            version=3,
            face_aware=False,
            aggregation="mean",
        ),
        opts,
    )
    assert plain.motion is None and plain.members is None and plain.timings_ms.motion is None
    unscored = DetectionResult(
        info=_video(),
        frames=frames,
        verdict=_verdict(0.4),
        model_name="deepfake",
        version=3,
        face_aware=False,
        aggregation="mean",
        motion=MotionSummary(),
    )
    answer = detection_response(unscored, opts)
    assert answer.motion == MotionSummary(score=None) and answer.members is None
