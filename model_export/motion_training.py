"""``train-motion`` on disk: track features of labelled clips, the protocol's figures, a version.

:func:`train_motion` finds each clip's face track (:func:`model_export.motion_member.
track_inputs`), computes its features once (kept in :data:`FEATURES_FILE` of the report
directory, reused while the clips and frame count are the same), writes the member's
out-of-fold report (``member/``) and, given a visual version's kept LOSO scores, the joined
report (``joined/``; :mod:`model_export.motion_protocol`), then fits the member on every
clip with a track and publishes it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from model_export.datasets import LabelledVideo, discover
from model_export.evaluate import VideoResult
from model_export.manipulations import TALKING_HEAD, manipulation_kind
from model_export.motion_features import FEATURE_NAMES
from model_export.motion_member import (
    DEFAULT_L2,
    fit_motion_model,
    publish_motion_member,
    track_features,
    track_inputs,
)
from model_export.motion_protocol import joined_loso, member_loso
from model_export.protocol.fitting import video_scorer_for
from model_export.protocol.report import loso_report
from model_export.protocol.run import load_video_results, write_report

log = logging.getLogger(__name__)

#: The fakes the member learns from: one-photo animation (the REAL clips are always used).
DEFAULT_TRAIN_KINDS: tuple[str, ...] = (TALKING_HEAD,)
#: File of the report directory holding every clip's track features.
FEATURES_FILE = "motion_features.npz"


def clip_features(
    videos: Sequence[LabelledVideo], frames_per_video: int, cache: Path
) -> tuple[np.ndarray, np.ndarray]:
    """Feature rows ``[n, F]`` (zeros where no track) and which clips have a face track."""
    paths = np.array([str(v.path) for v in videos])
    if cache.is_file():
        kept = np.load(cache, allow_pickle=False)
        if (
            kept["paths"].tolist() == paths.tolist()
            and int(kept["frames_per_video"]) == frames_per_video
            and kept["names"].tolist() == list(FEATURE_NAMES)
        ):
            return kept["features"], kept["has_track"]
    features = np.zeros([len(videos), len(FEATURE_NAMES)])
    has_track = np.zeros(len(videos), bool)
    for i, video in enumerate(videos):
        picked = track_inputs(video, frames_per_video)
        if picked is not None:
            features[i], has_track[i] = track_features(*picked), True
        log.info("track features", extra={"n": i + 1, "of": len(videos), "track": has_track[i]})
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, paths=paths, features=features, has_track=has_track,
             names=np.array(FEATURE_NAMES), frames_per_video=frames_per_video)  # fmt: skip
    return features, has_track


def _results(videos: Sequence[LabelledVideo], scores: np.ndarray) -> list[VideoResult]:
    return [
        VideoResult(v.path, v.label, v.source, float(s), np.array([s]), None, source=v.source)
        for v, s in zip(videos, scores, strict=True)
    ]


def train_motion(
    data: Sequence[Path],
    output: Path,
    report_dir: Path,
    *,
    frames_per_video: int,
    l2: float = DEFAULT_L2,
    train_kinds: Sequence[str] | None = DEFAULT_TRAIN_KINDS,
    join_scores: Path | None = None,
    version: int | None = None,
) -> dict[str, Any]:
    """Measure the member (and its join with ``join_scores``' version) out of fold, then
    publish it fitted on every clip with a track it learns from: the REAL clips and the
    FAKE clips of ``train_kinds`` (:func:`model_export.manipulations.manipulation_kind`;
    None: every fake). Every clip is scored. Returns a summary."""
    started = time.monotonic()
    videos = discover(data)
    if not videos:
        raise FileNotFoundError("no labelled videos found")
    features, has_track = clip_features(videos, frames_per_video, report_dir / FEATURES_FILE)
    featured = time.monotonic()
    tracked = [v for v, ok in zip(videos, has_track, strict=True) if ok]
    labels = np.array([v.label for v in videos])
    sources = [v.source for v in videos]
    trains = np.array([
        v.label == 0 or train_kinds is None
        or manipulation_kind(v.source, v.path.name, v.label) in train_kinds
        for v in videos
    ])  # fmt: skip
    if not (trains & has_track & (labels == 1)).any():
        raise ValueError(f"no FAKE clip of the kinds {list(train_kinds or [])} has a face track")
    raw, loso = member_loso(
        features[has_track], labels[has_track], [v.source for v in tracked], l2=l2,
        trains=trains[has_track],
    )  # fmt: skip
    member = loso_report(_results(tracked, raw), None, loso=loso)
    kinds = list(train_kinds) if train_kinds is not None else None
    member["version"] = {"trained_per_fold": "talking_head", "l2": l2, "train_kinds": kinds}
    member["frames_per_video"] = frames_per_video
    member["skipped_no_track"] = int((~has_track).sum())
    write_report(member, report_dir / "member", "talking-head member trained per fold")
    summary: dict[str, Any] = {
        "videos": len(videos),
        "tracked": len(tracked),
        "member": member["loso"],
        "seconds": {"features": featured - started},
    }
    if join_scores is not None:
        visual, _ = load_video_results(join_scores)
        by_path = {str(v.path): v for v in visual}
        missing = [str(v.path) for v in videos if str(v.path) not in by_path]
        if missing:
            raise ValueError(f"{join_scores} holds no scores of {len(missing)} clips of --data")
        ordered = [by_path[str(v.path)] for v in videos]
        joined, combinations = joined_loso(
            video_scorer_for(ordered), features, has_track, labels, sources, l2=l2, trains=trains
        )
        report = loso_report(_results(videos, joined.scores), None, loso=joined)
        report["version"] = {"visual": str(join_scores), "member": "talking_head", "l2": l2}
        report["combinations"] = combinations
        report["frames_per_video"] = frames_per_video
        write_report(report, report_dir / "joined", "visual version joined with the member")
        summary["joined"] = report["loso"]
    learns = has_track & trains
    model = fit_motion_model(features[learns], labels[learns], l2=l2)
    summary["path"] = str(
        publish_motion_member(
            model,
            output,
            info={"trained_on": [str(p) for p in data], "videos": int(learns.sum()),
                  "train_kinds": kinds, "frames_per_video": frames_per_video},
            version=version,
        )
    )  # fmt: skip
    summary["seconds"]["total"] = time.monotonic() - started
    return summary
