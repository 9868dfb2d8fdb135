"""Sequence heads: which aggregation decides, and a version's sequence head scoring tracks."""

from __future__ import annotations

import numpy as np

import contract
from contract.aggregation import (
    DEFAULT_AGGREGATION,
    SEQUENCE_AGGREGATION,
    Aggregation,
    Track,
    link_tracks,
    whole_frame_track,
)

from ..errors import AggregationUnavailable
from ..upstream.description import read_threshold
from ..upstream.serving_client import ServingClient
from ..upstream.serving_types import ModelRef, VersionDescription
from .answers import ScoredFrames, read_sequence_scores
from .video import SampledFrame


def choose_aggregation(
    asked: Aggregation | None, description: VersionDescription | None, scored: ScoredFrames
) -> Aggregation:
    """The aggregation asked for, or the best the answering version supports."""
    length = description.sequence_length if description is not None else 0
    # Face-aware sequence versions hand out their crops; whole-frame ones read frames.
    can_sequence = length > 0 and (not scored.face_aware or scored.crops is not None)
    if asked is None:
        return SEQUENCE_AGGREGATION if can_sequence else DEFAULT_AGGREGATION
    if asked == SEQUENCE_AGGREGATION and not can_sequence:
        raise AggregationUnavailable(
            "aggregation 'sequence' needs a version with a sequence head "
            f"({contract.SEQUENCE_SIGNATURE}); the answering version has none"
        )
    return asked


async def score_sequences(
    client: ServingClient,
    model: ModelRef,
    frames: list[SampledFrame],
    scored: ScoredFrames,
    length: int,
) -> tuple[list[Track], float]:
    """Score every track with the version's sequence head; return tracks and threshold.

    A track's images in time order (the graph's own face crops, or the frames of a
    whole-frame version) are cut into :func:`contract.sequence_windows`, as in training;
    all windows of all tracks go in one ``classify_sequence`` call, and a track's score
    is the mean over its windows.
    """
    if scored.face_aware:
        tracks = link_tracks(scored.frames)
        assert scored.crops is not None
        images = [scored.crops[t.frames, t.slots] for t in tracks]
    else:
        tracks = [whole_frame_track(scored.frames)]
        images = [np.stack([f.image for f in frames])]
    rows: list[np.ndarray] = []
    owner: list[int] = []
    for k, track_images in enumerate(images):
        for window in contract.sequence_windows(len(track_images), length):
            rows.append(track_images[window])
            owner.append(k)
    if not rows:
        return tracks, scored.threshold
    answer = await client.predict(
        model,
        {contract.FACES_INPUT: np.stack(rows)},
        signature=contract.SEQUENCE_SIGNATURE,
    )
    window_scores = read_sequence_scores(answer, len(rows))
    owners = np.asarray(owner)
    for k, track in enumerate(tracks):
        track.score = float(window_scores[owners == k].mean())
    return tracks, read_threshold(answer.outputs, scored.threshold)
