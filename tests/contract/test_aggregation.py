"""Aggregation: strategies, face tracks, and the video verdict."""

from __future__ import annotations

import typing

import numpy as np
import pytest

import contract
from contract.aggregation import (
    AGGREGATIONS,
    Aggregation,
    Face,
    FrameResult,
    aggregate_scores,
    decide,
)
from contract.tracks import iou, link_tracks


def _frame(t: float, *faces: tuple[list[float], float]) -> FrameResult:
    return FrameResult(
        t_s=t,
        score=max((p for _, p in faces), default=0.0),
        faces=[Face(box=box, detection_score=0.99, score=p) for box, p in faces],
    )


LEFT = [0.2, 0.05, 0.6, 0.35]
RIGHT = [0.2, 0.6, 0.6, 0.9]


def test_strategies() -> None:
    p = [0.1, 0.2, 0.3, 0.9]
    assert aggregate_scores(p, "mean") == pytest.approx(0.375)
    assert aggregate_scores(p, "median") == pytest.approx(0.25)
    assert aggregate_scores(p, "max") == pytest.approx(0.9)
    assert aggregate_scores(p, "topk_mean") == pytest.approx(0.9)


def test_confident_rule_follows_the_dfdc_winner() -> None:
    many_fakes = [0.95] * 14 + [0.1] * 18  # 14 > 32 / 2.5 and > 11
    assert aggregate_scores(many_fakes, "confident") == pytest.approx(0.95)
    few_fakes = [0.95] * 11 + [0.1] * 21  # not more than 11: plain mean
    assert aggregate_scores(few_fakes, "confident") == pytest.approx(np.mean(few_fakes))
    clearly_real = [0.05] * 30 + [0.5] * 2  # over 90% below 0.2: mean of those
    assert aggregate_scores(clearly_real, "confident") == pytest.approx(0.05)


def test_iou() -> None:
    assert iou(LEFT, LEFT) == pytest.approx(1.0)
    assert iou(LEFT, RIGHT) == 0.0
    assert 0 < iou(LEFT, [0.25, 0.1, 0.65, 0.4]) < 1


def test_faces_are_linked_into_tracks_by_overlap() -> None:
    moved = [0.22, 0.07, 0.62, 0.37]
    frames = [_frame(0, (LEFT, 0.1), (RIGHT, 0.9)), _frame(1, (moved, 0.2), (RIGHT, 0.8))]
    tracks = link_tracks(frames)
    assert len(tracks) == 2
    by_first_score = {round(t.scores[0], 1): t for t in tracks}
    assert by_first_score[0.1].frames == [0, 1]
    assert by_first_score[0.9].frames == [0, 1]
    assert frames[1].faces[0].track == frames[0].faces[0].track


def test_one_swapped_face_among_two_makes_the_video_fake() -> None:
    frames = [_frame(i, (LEFT, 0.05), (RIGHT, 0.92)) for i in range(8)]
    verdict = decide(frames, face_aware=True, threshold=0.5, aggregation="mean")
    assert verdict.verdict == "fake"
    assert verdict.score == pytest.approx(0.92)
    assert sorted(round(t.score, 2) for t in verdict.tracks) == [0.05, 0.92]


def test_a_one_frame_false_detection_does_not_decide() -> None:
    frames = [_frame(i, (LEFT, 0.1)) for i in range(10)]
    frames[3].faces.append(Face(box=RIGHT, detection_score=0.7, score=0.99))
    verdict = decide(frames, face_aware=True, threshold=0.5, aggregation="mean")
    assert verdict.verdict == "real"


def test_too_few_faces_is_inconclusive() -> None:
    frames = [_frame(i) for i in range(10)]
    frames[0] = _frame(0, (LEFT, 0.9))
    verdict = decide(frames, face_aware=True, threshold=0.5, aggregation="mean")
    assert verdict.verdict == "inconclusive"


def test_whole_frame_models_have_one_track() -> None:
    frames = [FrameResult(t_s=i, score=s) for i, s in enumerate([0.2, 0.4, 0.9])]
    verdict = decide(frames, face_aware=False, threshold=0.5, aggregation="mean")
    assert [t.frames for t in verdict.tracks] == [[0, 1, 2]]
    assert verdict.score == pytest.approx(0.5)
    # Frames on both sides of the threshold: the interval straddles it.
    assert verdict.verdict == "inconclusive"
    agreeing = [FrameResult(t_s=i, score=0.5) for i in range(3)]
    assert decide(agreeing, face_aware=False, threshold=0.5, aggregation="mean").verdict == "fake"


def test_the_vocabulary_tuples_list_every_value_of_their_literal() -> None:
    assert set(typing.get_args(Aggregation)) == set(AGGREGATIONS)
    assert len(AGGREGATIONS) == len(set(AGGREGATIONS))
    assert set(typing.get_args(contract.VerdictLabel)) == set(contract.VERDICTS)
    assert len(contract.VERDICTS) == len(set(contract.VERDICTS))


def _ensemble_outputs(member_face: np.ndarray) -> dict[str, np.ndarray]:
    """``serving_default`` outputs of an ensemble whose combined face score is member 0's."""
    n, f, _ = member_face.shape
    boxes = np.tile(np.array([LEFT, RIGHT], np.float32), (n, 1, 1))
    return {
        contract.FAKE_PROBABILITY: member_face[..., 0].max(axis=1),
        contract.FACE_BOXES: boxes,
        contract.FACE_SCORES: np.full((n, f), 0.99, np.float32),
        contract.FACE_FAKE_PROBABILITY: member_face[..., 0],
        contract.FACE_COUNT: np.full(n, f, np.int32),
        contract.MEMBER_FAKE_PROBABILITY: member_face,
        contract.MEMBER_FRAME_FAKE_PROBABILITY: member_face.max(axis=1),
    }


@pytest.mark.parametrize("aggregation", ["confident", "mean", "max"])
def test_member_scores_go_through_the_combined_scores_tracks_and_rule(aggregation: str) -> None:
    from contract.aggregation import frame_results, member_scores

    rng = np.random.default_rng(3)
    member_face = rng.uniform(0.0, 1.0, size=(6, 2, 3)).astype(np.float32)
    frames, face_aware = frame_results(_ensemble_outputs(member_face), [0.1 * i for i in range(6)])
    verdict = decide(frames, face_aware=face_aware, threshold=0.5, aggregation=aggregation)
    scores = member_scores(frames, verdict.tracks, face_aware=face_aware, aggregation=aggregation)
    assert scores is not None and len(scores.video) == 3
    # Member 0 scores what the combined score does, so its scores are the combined ones.
    assert scores.video[0] == pytest.approx(verdict.score)
    assert [scores.tracks[t.id][0] for t in verdict.tracks] == pytest.approx(
        [t.score for t in verdict.tracks]
    )
    # Any member: its track scores are its own face scores aggregated, its video the best track.
    for m in (1, 2):
        by_track = [
            aggregate_scores(member_face[t.frames, t.slots, m], aggregation) for t in verdict.tracks
        ]
        assert [scores.tracks[t.id][m] for t in verdict.tracks] == pytest.approx(by_track)
        assert scores.video[m] == pytest.approx(max(by_track))


def test_versions_without_members_have_no_member_scores() -> None:
    from contract.aggregation import member_scores

    frames = [_frame(0.1 * i, (LEFT, 0.3)) for i in range(4)]
    verdict = decide(frames, face_aware=True, threshold=0.5, aggregation="confident")
    assert member_scores(frames, verdict.tracks, face_aware=True, aggregation="confident") is None
