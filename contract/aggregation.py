"""From per-frame and per-face scores to tracks, a video score and a verdict.

Part of the contract because a version's threshold only means something together with
the way a video score is computed: ``model_export`` calibrates the threshold it ships
and evaluates versions with these functions, and the gateway decides with them, so a
score compared with that threshold is the same kind of number in both. Pure Python and
numpy, no TensorFlow.

Faces are linked across sampled frames into tracks by box overlap (:mod:`contract.tracks`);
each track gets a score from the chosen aggregation; the video score is the highest track
score, because a face swap may touch one person among several.

Strategies (per track, over its frame scores ``p``):

* ``mean``, ``median``, ``max``;
* ``topk_mean``: mean of the highest quarter of the scores;
* ``confident`` (default): the rule of the DFDC winning entry.  With ``t = 0.8``:
  when more than ``n / 2.5`` and more than 11 frames score above ``t``, the mean
  of those; else when over 90% score below ``0.2``, the mean of those; else the mean.
  The count makes it depend on how many frames are sampled
  (:data:`contract.sampling.DEFAULT_FRAMES_PER_VIDEO` unless a request asks otherwise).

Ensembles (versions that return each member's scores, :data:`contract.MEMBER_FAKE_PROBABILITY`)
get each member's track and video scores from :func:`member_scores`: the member's per-face
scores go through the same tracks, the same aggregation and the same video rule as the
combined score (:func:`decide`), so a member's score is what the video would have scored
had that member alone answered with the same faces.

Each video score also gets a 90% bootstrap interval (:func:`score_interval`): the deciding
track's frame scores (every frame's when no face track decides) resampled with a fixed seed
and aggregated by the same rule; a verdict whose interval straddles the threshold is
``inconclusive``, as is a face-aware one with too few frames showing a face. The frame
aggregations are implemented once, over rows (:func:`aggregate_rows`), for both.

A version with an audio-visual member joins that member's score to the video score after the
video rule (:func:`contract.member_verdict.join_member`).

``sequence`` is not computed here: a version with a sequence head (CNN+GRU) scores
each track itself from the track's face crops in time order (the pipeline asks it),
and :func:`decide` takes those scored tracks. It is the default for such versions.

Frame results, aggregations and the video rule are kept in one module because they make one
definition of a video score, which the combined score and every member's score share.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

import contract

from .tracks import Track, link_tracks, whole_frame_track

#: How a face track (or a whole-frame video) gets its score.
Aggregation = Literal["mean", "median", "topk_mean", "confident", "max", "sequence"]
#: Strategies computed from per-frame (per-face) scores.
FRAME_AGGREGATIONS: tuple[Aggregation, ...] = ("mean", "median", "topk_mean", "confident", "max")
#: Every aggregation a request may name.
AGGREGATIONS: tuple[Aggregation, ...] = (*FRAME_AGGREGATIONS, "sequence")
#: The default for versions without a sequence head.
DEFAULT_AGGREGATION: Aggregation = "confident"
#: The default for versions with one.
SEQUENCE_AGGREGATION: Aggregation = "sequence"

#: A face-aware verdict needs faces in at least this share of the sampled frames.
MIN_FACE_FRAME_SHARE = 0.25
#: Resamples of the bootstrap behind a video's score interval (:func:`score_interval`):
#: enough for stable 5th and 95th percentiles, few enough to cost milliseconds.
BOOTSTRAP_RESAMPLES = 400
#: The interval's coverage: 90%, i.e. the 5th to the 95th percentile of the resamples.
INTERVAL_LEVEL = 0.9


@dataclass
class Face:
    box: list[float]  # [y1, x1, y2, x2] normalised
    detection_score: float
    score: float  # fake probability
    track: int = -1
    slot: int = 0  # index among the frame's faces in the model's output
    #: Each ensemble member's fake probability of this face, in member order; None otherwise.
    members: list[float] | None = None


@dataclass
class FrameResult:
    t_s: float
    score: float
    faces: list[Face] = field(default_factory=list)
    #: Each ensemble member's frame score, in member order; None for other versions.
    members: list[float] | None = None


@dataclass(frozen=True)
class ScoreInterval:
    """Where the video score would fall on other draws of the same frames (a bootstrap)."""

    low: float
    high: float
    #: The share of resampled scores the interval holds (:data:`INTERVAL_LEVEL`).
    level: float


@dataclass
class Verdict:
    verdict: contract.VerdictLabel
    score: float
    threshold: float
    tracks: list[Track]
    #: The video score's bootstrap interval; None when a sequence head scored the tracks
    #: (its score is not an aggregate of frame scores that could be resampled).
    interval: ScoreInterval | None = None
    #: The id of the track whose score is the video score; None when no track decided
    #: (too few frames with faces).
    deciding_track: int | None = None
    #: False when a face-aware version found faces in too few frames to decide.
    faces_found: bool = True


def frame_results(
    outputs: Mapping[str, np.ndarray],
    times: Sequence[float],
    *,
    box_scales: Sequence[Sequence[float]] | None = None,
    digits: int | None = None,
) -> tuple[list[FrameResult], bool]:
    """A version's ``serving_default`` outputs for ``len(times)`` frames as per-frame results.

    Returns the results and whether the version is face-aware. ``box_scales`` multiplies
    each frame's normalised boxes (``[sy, sx, sy, sx]``, for frames sent letterboxed) before
    they are clipped to ``[0, 1]``; ``digits`` rounds boxes and scores.
    """

    def fix(value: float) -> float:
        return round(value, digits) if digits is not None else value

    scores = np.asarray(outputs[contract.FAKE_PROBABILITY]).reshape(-1)
    face_aware = contract.FACE_BOXES in outputs
    member_face = outputs.get(contract.MEMBER_FAKE_PROBABILITY)
    member_frame = outputs.get(contract.MEMBER_FRAME_FAKE_PROBABILITY)
    results = []
    for i, t_s in enumerate(times):
        faces = []
        if face_aware:
            scale = np.asarray(box_scales[i] if box_scales is not None else [1.0] * 4, np.float64)
            for j in range(int(outputs[contract.FACE_COUNT][i])):
                box = np.asarray(outputs[contract.FACE_BOXES][i, j], np.float64) * scale
                box = np.clip(box, 0.0, 1.0)
                faces.append(
                    Face(
                        box=[fix(float(v)) for v in box],
                        detection_score=fix(float(outputs[contract.FACE_SCORES][i, j])),
                        score=fix(float(outputs[contract.FACE_FAKE_PROBABILITY][i, j])),
                        slot=j,
                        members=(
                            [fix(float(p)) for p in member_face[i, j]]
                            if member_face is not None
                            else None
                        ),
                    )
                )
        members = [float(p) for p in member_frame[i]] if member_frame is not None else None
        results.append(FrameResult(t_s=t_s, score=float(scores[i]), faces=faces, members=members))
    return results, face_aware


def aggregate_scores(scores: list[float] | np.ndarray, aggregation: Aggregation) -> float:
    """One score from many with ``aggregation``."""
    p = np.asarray(scores, dtype=np.float64)
    if p.size == 0:
        return 0.5
    return float(aggregate_rows(p[None, :], aggregation)[0])


def aggregate_rows(rows: np.ndarray, aggregation: Aggregation) -> np.ndarray:
    """:func:`aggregate_scores` of every row of ``rows`` ``[B, n]`` (``n > 0``) at once.

    The one implementation of the frame aggregations: a single score list is one row, a
    bootstrap is many (:func:`score_interval`), so both follow the same rule.
    """
    p = np.asarray(rows, dtype=np.float64)
    n = p.shape[-1]
    if aggregation == "mean":
        return p.mean(axis=-1)
    if aggregation == "median":
        return np.median(p, axis=-1)
    if aggregation == "max":
        return p.max(axis=-1)
    if aggregation == "topk_mean":
        k = max(1, math.ceil(n / 4))
        return np.sort(p, axis=-1)[..., -k:].mean(axis=-1)
    if aggregation == "confident":
        t = 0.8
        fakes, lows = p > t, p < 0.2
        n_fakes, n_lows = fakes.sum(axis=-1), lows.sum(axis=-1)
        fake_mean = (p * fakes).sum(axis=-1) / np.maximum(n_fakes, 1)
        low_mean = (p * lows).sum(axis=-1) / np.maximum(n_lows, 1)
        return np.where(
            (n_fakes > n / 2.5) & (n_fakes > 11),
            fake_mean,
            np.where(n_lows > 0.9 * n, low_mean, p.mean(axis=-1)),
        )
    raise ValueError(f"aggregation {aggregation!r} does not aggregate frame scores")


def score_interval(
    scores: Sequence[float] | np.ndarray,
    aggregation: Aggregation,
    *,
    floor: float | None = None,
    resamples: int = BOOTSTRAP_RESAMPLES,
    level: float = INTERVAL_LEVEL,
) -> ScoreInterval:
    """A percentile bootstrap interval of ``aggregate_scores(scores, aggregation)``.

    ``scores`` are resampled with replacement ``resamples`` times and each resample is
    aggregated with the same rule; with ``floor`` each resample's score is at least
    ``floor`` (the video score is the highest track score, so the other tracks bound it
    from below). The generator is seeded with ``len(scores)``, so the same scores always
    give the same interval. The interval is widened to contain the point score, which a
    percentile interval of a non-linear rule (``confident``) may otherwise miss.
    """
    p = np.asarray(scores, dtype=np.float64).reshape(-1)
    point = aggregate_scores(p, aggregation)
    if floor is not None:
        point = max(point, floor)
    if p.size == 0:
        return ScoreInterval(point, point, level)
    rng = np.random.default_rng(p.size)
    draws = aggregate_rows(p[rng.integers(0, p.size, size=(resamples, p.size))], aggregation)
    if floor is not None:
        draws = np.maximum(draws, floor)
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(draws, [tail, 100.0 - tail])
    return ScoreInterval(min(float(low), point), max(float(high), point), level)


def straddles(interval: ScoreInterval | None, threshold: float) -> bool:
    """Whether ``interval`` has scores on both sides of ``threshold`` (``>=`` is "fake")."""
    return interval is not None and interval.low < threshold <= interval.high


def decide(
    frames: list[FrameResult],
    *,
    face_aware: bool,
    threshold: float,
    aggregation: Aggregation,
    tracks: list[Track] | None = None,
) -> Verdict:
    """The video verdict from the per-frame results.

    ``tracks`` are tracks already linked and scored (by a sequence head); without them the
    tracks are built here and scored with ``aggregation``, and the video score gets a
    bootstrap interval (:func:`score_interval`) over the deciding track's frame scores
    (every frame's score when there is no face track). The verdict is ``inconclusive``
    when a face-aware version found faces in too few frames, or when the interval has
    scores on both sides of the threshold (:func:`straddles`); otherwise the score's side.
    """
    frame_aggregation = aggregation if aggregation in FRAME_AGGREGATIONS else DEFAULT_AGGREGATION
    scored_here = tracks is None
    if not face_aware:
        if tracks is None:
            track = whole_frame_track(frames)
            track.score = aggregate_scores(track.scores, frame_aggregation)
        else:
            (track,) = tracks
        interval = score_interval(track.scores, frame_aggregation) if scored_here else None
        return Verdict(
            label_for(track.score, threshold, interval),
            track.score,
            threshold,
            [track],
            interval=interval,
            deciding_track=track.id,
        )

    if tracks is None:
        tracks = link_tracks(frames)
        for track in tracks:
            track.score = aggregate_scores(track.scores, frame_aggregation)
    with_faces = sum(1 for f in frames if f.faces)
    if not frames or with_faces < max(1, math.ceil(MIN_FACE_FRAME_SHARE * len(frames))):
        every = [f.score for f in frames]
        score = aggregate_scores(every, frame_aggregation)
        interval = score_interval(every, frame_aggregation) if scored_here else None
        return Verdict(
            contract.VERDICT_INCONCLUSIVE,
            score,
            threshold,
            tracks,
            interval=interval,
            faces_found=False,
        )
    # A track seen in only a few frames is more likely a false detection than a face.
    min_len = max(1, math.ceil(0.2 * with_faces))
    solid = [t for t in tracks if len(t.frames) >= min_len] or tracks
    deciding = max(solid, key=lambda t: t.score)
    others = [t.score for t in solid if t is not deciding]
    interval = (
        score_interval(deciding.scores, frame_aggregation, floor=max(others, default=None))
        if scored_here
        else None
    )
    score = deciding.score
    return Verdict(
        label_for(score, threshold, interval),
        score,
        threshold,
        tracks,
        interval=interval,
        deciding_track=deciding.id,
    )


@dataclass
class MemberScores:
    """Each ensemble member's video score and track scores (by track id), in member order."""

    video: list[float]
    tracks: dict[int, list[float]]


def member_scores(
    frames: list[FrameResult],
    tracks: list[Track],
    *,
    face_aware: bool,
    aggregation: Aggregation,
) -> MemberScores | None:
    """Each member's scores of a video whose combined verdict has ``tracks``; None when the
    frames carry no member scores (not an ensemble).

    A member's track score aggregates that member's scores of the track's faces with
    ``aggregation`` (a frame aggregation; ``sequence`` falls back to the default, as in
    :func:`decide`), and its video score is :func:`decide`'s over those tracks, so the
    members are measured exactly as the combined score is.
    """
    if not frames or any(f.members is None for f in frames):
        return None
    frame_aggregation = aggregation if aggregation in FRAME_AGGREGATIONS else DEFAULT_AGGREGATION
    count = len(frames[0].members or [])
    video: list[float] = []
    by_track: dict[int, list[float]] = {t.id: [] for t in tracks}
    for m in range(count):
        view = [
            FrameResult(
                t_s=f.t_s,
                score=(f.members or [])[m],
                faces=[replace(face, score=(face.members or [])[m]) for face in f.faces],
            )
            for f in frames
        ]
        if face_aware:
            member_tracks = [
                replace(
                    t,
                    scores=[view[i].faces[s].score for i, s in zip(t.frames, t.slots, strict=True)],
                )
                for t in tracks
            ]
        else:
            member_tracks = [replace(t, scores=[f.score for f in view]) for t in tracks]
        for track in member_tracks:
            track.score = aggregate_scores(track.scores, frame_aggregation)
            by_track[track.id].append(track.score)
        verdict = decide(
            view, face_aware=face_aware, threshold=0.5, aggregation=frame_aggregation,
            tracks=member_tracks,
        )  # fmt: skip
        video.append(verdict.score)
    return MemberScores(video=video, tracks=by_track)


def label_for(
    score: float, threshold: float, interval: ScoreInterval | None
) -> contract.VerdictLabel:
    """The label of ``score`` against ``threshold``: inconclusive when ``interval`` straddles."""
    if straddles(interval, threshold):
        return contract.VERDICT_INCONCLUSIVE
    return contract.VERDICT_FAKE if score >= threshold else contract.VERDICT_REAL
