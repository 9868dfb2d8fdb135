"""The video score's bootstrap interval and the verdict it leads to."""

from __future__ import annotations

import numpy as np
import pytest

from contract.aggregation import (
    FRAME_AGGREGATIONS,
    INTERVAL_LEVEL,
    Face,
    FrameResult,
    aggregate_rows,
    aggregate_scores,
    decide,
    score_interval,
    straddles,
)

BOX = [0.2, 0.2, 0.6, 0.5]


def _frames(scores: list[float], *, face: bool = False) -> list[FrameResult]:
    return [
        FrameResult(
            t_s=float(i),
            score=s,
            faces=[Face(box=BOX, detection_score=0.99, score=s)] if face else [],
        )
        for i, s in enumerate(scores)
    ]


@pytest.mark.parametrize("aggregation", FRAME_AGGREGATIONS)
def test_rows_follow_the_single_score_rule(aggregation: str) -> None:
    rows = np.random.default_rng(3).uniform(0, 1, size=(50, 20))
    rows[:5] = np.where(rows[:5] > 0.5, 0.95, 0.05)  # the confident rule's branches too
    expected = [aggregate_scores(row, aggregation) for row in rows]  # type: ignore[arg-type]
    np.testing.assert_allclose(aggregate_rows(rows, aggregation), expected)  # type: ignore[arg-type]


def test_the_interval_is_deterministic_and_holds_the_point_score() -> None:
    scores = list(np.random.default_rng(0).uniform(0.2, 0.9, size=32))
    first = score_interval(scores, "confident")
    assert score_interval(scores, "confident") == first
    assert first.low <= aggregate_scores(scores, "confident") <= first.high
    assert first.low < first.high
    assert first.level == INTERVAL_LEVEL == 0.9


def test_agreeing_frames_narrow_the_interval() -> None:
    rng = np.random.default_rng(1)
    spread = score_interval(list(rng.uniform(0.1, 0.9, size=32)), "mean")
    agreeing = score_interval(list(0.5 + rng.uniform(-0.02, 0.02, size=32)), "mean")
    assert agreeing.high - agreeing.low < (spread.high - spread.low) / 5


def test_a_floor_bounds_every_resample() -> None:
    interval = score_interval([0.1, 0.2, 0.3, 0.9], "mean", floor=0.6)
    assert interval.low == pytest.approx(0.6)


def test_straddling_the_threshold_is_inconclusive() -> None:
    mixed = [0.2, 0.8] * 8  # mean 0.5, frames on both sides
    verdict = decide(_frames(mixed), face_aware=False, threshold=0.5, aggregation="mean")
    assert verdict.interval is not None and straddles(verdict.interval, 0.5)
    assert verdict.verdict == "inconclusive"
    # The same score from agreeing frames decides.
    sure = decide(_frames([0.55] * 16), face_aware=False, threshold=0.5, aggregation="mean")
    assert not straddles(sure.interval, 0.5)
    assert sure.verdict == "fake"


def test_a_face_track_decides_with_its_own_interval() -> None:
    frames = _frames([0.9, 0.85, 0.95, 0.9] * 4, face=True)
    verdict = decide(frames, face_aware=True, threshold=0.5, aggregation="mean")
    assert verdict.verdict == "fake"
    assert verdict.deciding_track == 0 and verdict.faces_found
    assert verdict.interval is not None and 0.5 < verdict.interval.low <= verdict.score


def test_no_face_is_inconclusive_with_an_interval_over_every_frame() -> None:
    verdict = decide(_frames([0.9] * 10), face_aware=True, threshold=0.5, aggregation="mean")
    assert verdict.verdict == "inconclusive" and not verdict.faces_found
    assert verdict.deciding_track is None
    assert verdict.interval is not None
    assert verdict.interval.low == pytest.approx(0.9)


def test_sequence_scored_tracks_have_no_interval() -> None:
    frames = _frames([0.9] * 10)
    first = decide(frames, face_aware=False, threshold=0.5, aggregation="mean")
    track = first.tracks[0]
    track.score = 0.7  # as a sequence head would score it
    verdict = decide(
        frames, face_aware=False, threshold=0.5, aggregation="sequence", tracks=[track]
    )
    assert verdict.interval is None and verdict.verdict == "fake"
