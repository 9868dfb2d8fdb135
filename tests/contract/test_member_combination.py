"""How a track member's score joins the video score, and which frames go with it."""

from __future__ import annotations

import math

import pytest

import contract
from contract.aggregation import Face, FrameResult, ScoreInterval, Verdict, decide
from contract.audio import AUDIO_FACE_COUNT, WHOLE_FRAME_BOX, audio_track_frames
from contract.combination import MemberCombination, combine_member
from contract.member_verdict import join_member


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_the_default_combination_changes_nothing() -> None:
    identity = MemberCombination()
    assert identity.is_identity
    assert combine_member(0.37, 0.99, identity) == 0.37


def test_the_combination_is_logistic_in_both_logits() -> None:
    joined = MemberCombination(visual=0.8, member=1.5, bias=-0.2)
    expected = 1 / (1 + math.exp(-(0.8 * _logit(0.3) + 1.5 * _logit(0.9) - 0.2)))
    assert combine_member(0.3, 0.9, joined) == pytest.approx(expected, rel=1e-9)
    # A member that hears a fake lifts the score; one that hears a real lowers it.
    assert combine_member(0.3, 0.9, joined) > combine_member(0.3, 0.1, joined)


def test_the_floor_bounds_what_is_shipped() -> None:
    loud = MemberCombination(visual=1.0, member=8.0, floor=0.02)
    assert combine_member(0.999, 0.999, loud) == pytest.approx(0.98)
    assert combine_member(0.001, 0.001, loud) == pytest.approx(0.02)
    # Saturated inputs stay finite.
    assert 0.0 < combine_member(0.0, 1.0, MemberCombination(member=1.0)) < 1.0


def test_a_row_round_trips_and_bad_rows_are_refused() -> None:
    joined = MemberCombination(0.9, 1.1, -0.3, 0.01)
    assert MemberCombination.from_row(joined.as_row()) == joined
    with pytest.raises(ValueError, match="4 values"):
        MemberCombination.from_row([1.0, 0.0])
    with pytest.raises(ValueError, match="positive"):
        MemberCombination(visual=-1.0)
    with pytest.raises(ValueError, match="finite"):
        MemberCombination(member=float("nan"))
    with pytest.raises(ValueError, match="floor"):
        MemberCombination(floor=0.5)


def _verdict(score: float, low: float, high: float, *, faces_found: bool = True) -> Verdict:
    label = contract.VERDICT_REAL if score < 0.5 else contract.VERDICT_FAKE
    return Verdict(
        label, score, 0.5, [], interval=ScoreInterval(low, high, 0.9), faces_found=faces_found
    )


def test_joining_moves_the_score_and_its_interval_and_decides_again() -> None:
    joined = MemberCombination(visual=1.0, member=2.0)
    before = _verdict(0.3, 0.2, 0.4)
    after = join_member(before, 0.95, joined)
    assert after.score == pytest.approx(combine_member(0.3, 0.95, joined))
    assert after.interval is not None
    assert after.interval.low == pytest.approx(combine_member(0.2, 0.95, joined))
    assert after.interval.high == pytest.approx(combine_member(0.4, 0.95, joined))
    assert after.interval.low <= after.score <= after.interval.high
    assert after.verdict == contract.VERDICT_FAKE  # the sound tipped a "real" video over
    assert join_member(before, 0.95, MemberCombination()) is before


def test_a_verdict_without_enough_faces_stays_inconclusive() -> None:
    before = _verdict(0.3, 0.2, 0.4, faces_found=False)
    after = join_member(before, 0.99, MemberCombination(member=3.0))
    assert after.verdict == contract.VERDICT_INCONCLUSIVE
    assert after.score > before.score


def _frame(t_s: float, *faces: list[float]) -> FrameResult:
    return FrameResult(
        t_s=t_s,
        score=0.5,
        faces=[Face(box=b, detection_score=0.9, score=0.5, slot=k) for k, b in enumerate(faces)],
    )


def test_the_longest_track_inside_the_window_goes_with_the_audio() -> None:
    left, right = [0.1, 0.1, 0.4, 0.3], [0.1, 0.6, 0.4, 0.8]
    # The right face appears in every frame, the left one in the first two only; in the
    # second frame the right face is in slot 0, so the slot is followed, not assumed.
    frames = [
        _frame(0.0, left, right),
        _frame(1.0, right, left),
        _frame(2.0, right),
        _frame(9.0, right),  # past the audio window
    ]
    rows, boxes = audio_track_frames(frames, face_aware=True)
    assert len(rows) == len(boxes) == AUDIO_FACE_COUNT
    assert set(rows) == {0, 1, 2}
    assert all(box == right for box in boxes)


def test_whole_frame_versions_pair_frames_with_the_whole_frame() -> None:
    frames = [FrameResult(t_s=t, score=0.5) for t in (0.0, 4.0, 8.5)]
    rows, boxes = audio_track_frames(frames, face_aware=False)
    assert set(rows) == {0, 1}
    assert boxes == [list(WHOLE_FRAME_BOX)] * AUDIO_FACE_COUNT


def test_nothing_inside_the_window_or_no_face_gives_nothing() -> None:
    assert audio_track_frames([_frame(0.0), _frame(1.0)], face_aware=True) is None
    assert audio_track_frames([_frame(9.0, [0.1, 0.1, 0.5, 0.5])], face_aware=True) is None
    assert audio_track_frames([FrameResult(t_s=10.0, score=0.5)], face_aware=False) is None


def test_joined_verdicts_keep_their_tracks_visual() -> None:
    frames = [_frame(float(t), [0.1, 0.1, 0.5, 0.5]) for t in range(6)]
    visual = decide(frames, face_aware=True, threshold=0.5, aggregation="mean")
    joined = join_member(visual, 0.9, MemberCombination(member=1.0))
    assert [t.score for t in joined.tracks] == [t.score for t in visual.tracks]
    assert joined.score > visual.score
