"""Faces linked across sampled frames into tracks, by box overlap.

A track is one face followed through the video; :mod:`contract.aggregation` scores each
track and takes the highest as the video score. :mod:`contract.face_schedule` matches faces
between keyframes with the same :func:`iou` and :data:`TRACK_IOU`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .aggregation import FrameResult

#: Boxes in consecutive sampled frames with at least this IoU belong to one track.
TRACK_IOU = 0.3


@dataclass
class Track:
    """One face followed through the sampled frames: where it appears and its scores."""

    id: int
    frames: list[int]
    scores: list[float]
    last_box: list[float]
    score: float = 0.0
    #: The face slot in each of ``frames`` (where its crop sits in the model's output).
    slots: list[int] = field(default_factory=list)


def iou(a: list[float], b: list[float]) -> float:
    """Intersection over union of two ``[y1, x1, y2, x2]`` boxes."""
    y1, x1 = max(a[0], b[0]), max(a[1], b[1])
    y2, x2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, y2 - y1) * max(0.0, x2 - x1)
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area if area > 0 else 0.0


def link_tracks(frames: list[FrameResult]) -> list[Track]:
    """Greedy IoU linking of faces to the track whose last box overlaps most."""
    linker = TrackLinker()
    for index, frame in enumerate(frames):
        linker.add(index, frame)
    return linker.tracks


class TrackLinker:
    """:func:`link_tracks` one frame at a time, for frames that keep coming (a live stream).

    Linking is greedy in time order, so a frame added never changes how earlier frames were
    linked: the tracks after N frames are those :func:`link_tracks` gives for those N.
    """

    def __init__(self) -> None:
        self.tracks: list[Track] = []

    def add(self, index: int, frame: FrameResult) -> None:
        """Link the faces of ``frame``, the ``index``-th, setting each face's ``track``."""
        taken: set[int] = set()
        for face in sorted(frame.faces, key=lambda f: -f.detection_score):
            best, best_iou = None, TRACK_IOU
            for track in self.tracks:
                if track.id in taken:
                    continue
                overlap = iou(track.last_box, face.box)
                if overlap >= best_iou:
                    best, best_iou = track, overlap
            if best is None:
                best = Track(id=len(self.tracks), frames=[], scores=[], last_box=face.box)
                self.tracks.append(best)
            best.frames.append(index)
            best.slots.append(face.slot)
            best.scores.append(face.score)
            best.last_box = face.box
            face.track = best.id
            taken.add(best.id)


def whole_frame_track(frames: list[FrameResult]) -> Track:
    """The one track of a whole-frame model: every frame."""
    return Track(
        id=0,
        frames=list(range(len(frames))),
        scores=[f.score for f in frames],
        last_box=[0.0, 0.0, 1.0, 1.0],
    )
