"""Evaluate a published version on labelled videos, through the session TF Serving uses.

Calibration (the Platt scaling and the decision threshold a version ships) is measured the
same way: a candidate is exported uncalibrated to a scratch directory and scored there
(:func:`calibrate_version`). Each video keeps its per-frame results, so the video score a
calibrated graph would give is recomputed exactly (:func:`rescore`) without running the
model again: the calibration maps every frame and face score, and the gateway's rule
aggregates the mapped scores.

Frames are sampled uniformly (PyAV, full size) and sent through the version's own
``serving_default`` signature; the video score and verdict come from
:func:`contract.aggregation.decide` with the gateway's default aggregation, the function the
gateway decides with (faces linked into tracks, the highest track score, ``inconclusive``
when too few frames show a face), so the figures describe what the service would answer.

Scoring a version, calibrating a candidate and writing the report share the per-video
scoring, so they are kept together.
"""

from __future__ import annotations

import copy
import csv
import json
import logging
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

import contract
from contract.aggregation import (
    DEFAULT_AGGREGATION,
    Aggregation,
    FrameResult,
    Verdict,
    aggregate_scores,
    decide,
    frame_results,
    link_tracks,
)
from contract.sampling import DEFAULT_FRAMES_PER_VIDEO
from model_export import reliability, report_plots, roc
from model_export.calibration import (
    DEPLOYMENT_FAKE_PRIOR,
    IDENTITY,
    Calibration,
    fit_calibration,
)
from model_export.datasets import LabelledVideo, discover
from model_export.operating_points import Evidence
from model_export.savedmodel import LoadedVersion, load_version
from model_export.video_io import sample_frames

log = logging.getLogger(__name__)


@dataclass
class VideoResult:
    """Scores of one video."""

    path: Path
    label: int
    group: str
    score: float
    frame_scores: np.ndarray
    faces_per_frame: float | None
    #: The gateway's verdict: real, fake or inconclusive.
    verdict: str = ""
    #: Per-frame results as the gateway reads them (for :func:`rescore`).
    frames: list[FrameResult] = field(default_factory=list)
    face_aware: bool = False
    source: str = ""


@dataclass
class Evaluation:
    """Per-video results and the metrics derived from them at one threshold."""

    threshold: float
    videos: list[VideoResult] = field(default_factory=list)

    def frame_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Labels and scores of every frame."""
        labels = np.concatenate([np.full(len(v.frame_scores), v.label) for v in self.videos])
        scores = np.concatenate([v.frame_scores for v in self.videos])
        return labels, scores

    def video_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Labels and scores of every video."""
        return (
            np.array([v.label for v in self.videos]),
            np.array([v.score for v in self.videos]),
        )

    def summary(self) -> dict[str, object]:
        """Frame- and video-level metrics at the version's threshold, plus a calibrated one."""
        frame_labels, frame_scores = self.frame_arrays()
        video_labels, video_scores = self.video_arrays()
        return {
            "threshold": self.threshold,
            "frame": roc.binary_metrics(frame_labels, frame_scores, self.threshold).as_dict(),
            "video": roc.binary_metrics(video_labels, video_scores, self.threshold).as_dict(),
            "calibrated_threshold_on_this_set": roc.best_threshold(video_labels, video_scores),
            # Face-aware versions call a video inconclusive when too few frames show a face;
            # its score (over frame scores) still counts in the metrics above.
            "inconclusive_videos": sum(
                1 for v in self.videos if v.verdict == contract.VERDICT_INCONCLUSIVE
            ),
        }


def score_frames(
    loaded: LoadedVersion, path: Path, frames_per_video: int, batch_size: int = 16
) -> tuple[list[FrameResult], bool]:
    """The version's per-frame results on the sampled frames of ``path``, and whether it is
    face-aware."""
    # Sized as the gateway sizes them for this version.
    frames = sample_frames(path, frames_per_video, min_side=loaded.frame_min_side())
    results: list[FrameResult] = []
    face_aware = False
    for start in range(0, len(frames), batch_size):
        out = loaded.run({contract.FRAMES_INPUT: frames[start : start + batch_size]})
        times = [float(i) for i in range(start, start + len(out[contract.FAKE_PROBABILITY]))]
        batch, face_aware = frame_results(out, times)
        results += batch
    return results, face_aware


def rescore(
    frames: Sequence[FrameResult],
    *,
    face_aware: bool,
    calibration: Calibration,
    threshold: float,
    aggregation: Aggregation = DEFAULT_AGGREGATION,
) -> Verdict:
    """The gateway's verdict had the graph applied ``calibration`` to every score.

    Frame and face scores are mapped, then aggregated by :func:`contract.aggregation.decide`
    (tracks depend on boxes only, so they are the same); ``threshold`` is on the calibrated
    scale.
    """

    def mapped(frame: FrameResult) -> FrameResult:
        faces = [replace(f, score=float(calibration.apply(f.score)), track=-1) for f in frame.faces]
        return FrameResult(t_s=frame.t_s, score=float(calibration.apply(frame.score)), faces=faces)

    copies = [mapped(f) for f in frames]
    return decide(copies, face_aware=face_aware, threshold=threshold, aggregation=aggregation)


def video_scorer(
    videos: Sequence[VideoResult], aggregation: Aggregation = DEFAULT_AGGREGATION
) -> Callable[[Calibration], np.ndarray]:
    """A function from a calibration to the video scores :func:`rescore` would give.

    Faster than calling :func:`rescore` per video, for the many evaluations of a fit: face
    tracks are linked once (linking reads boxes and detection scores only), and each call
    only maps and aggregates scores, through :func:`contract.aggregation.decide`.
    """
    prepared = []
    for v in videos:
        frame_scores = np.array([f.score for f in v.frames], dtype=np.float64)
        tracks = link_tracks(copy.deepcopy(v.frames)) if v.face_aware else []
        # With tracks given, decide() reads a frame's faces only to count frames with faces.
        prepared.append((v.face_aware, frame_scores, tracks, [f.faces for f in v.frames]))

    def scores(calibration: Calibration) -> np.ndarray:
        out = []
        for face_aware, frame_scores, tracks, faces_of in prepared:
            mapped = calibration.apply(frame_scores)
            if not face_aware:
                out.append(aggregate_scores(mapped, aggregation))
                continue
            frames = [
                FrameResult(t_s=0.0, score=float(p), faces=faces)
                for p, faces in zip(mapped, faces_of, strict=True)
            ]
            rescored = [
                replace(t, score=aggregate_scores(calibration.apply(t.scores), aggregation))
                for t in tracks
            ]
            verdict = decide(
                frames, face_aware=True, threshold=0.5, aggregation=aggregation, tracks=rescored
            )
            out.append(verdict.score)
        return np.array(out, dtype=np.float64)

    return scores


def rescored_video_scores(
    videos: Sequence[VideoResult],
    calibration: Calibration,
    aggregation: Aggregation = DEFAULT_AGGREGATION,
) -> np.ndarray:
    """Video scores of ``videos`` had the graph applied ``calibration``."""
    return video_scorer(videos, aggregation)(calibration)


def fit_video_calibration(
    videos: Sequence[VideoResult], *, fake_prior: float | None = DEPLOYMENT_FAKE_PRIOR
) -> Calibration:
    """Platt scaling fitted on ``videos``' gateway video scores (see :func:`rescore`), the
    classes weighted to ``fake_prior`` (:func:`model_export.calibration.fit_calibration`)."""
    labels = np.array([v.label for v in videos])
    return fit_calibration(labels, video_scorer(videos), fake_prior=fake_prior)


def score_video(
    loaded: LoadedVersion, video: LabelledVideo, frames_per_video: int, threshold: float
) -> VideoResult:
    """Score one video with a loaded version: its frames, the gateway's verdict at
    ``threshold``, and the per-frame results :func:`rescore` reads."""
    results, face_aware = score_frames(loaded, video.path, frames_per_video)
    verdict = decide(
        results, face_aware=face_aware, threshold=threshold, aggregation=DEFAULT_AGGREGATION
    )
    faces = float(np.mean([len(r.faces) for r in results])) if face_aware else None
    return VideoResult(
        video.path,
        video.label,
        video.group,
        verdict.score,
        np.array([r.score for r in results]),
        faces,
        verdict.verdict,
        frames=results,
        face_aware=face_aware,
        source=video.source,
    )


def evaluate_version(
    version: Path, videos: Sequence[LabelledVideo], frames_per_video: int = DEFAULT_FRAMES_PER_VIDEO
) -> Evaluation:
    """Score every video with the version at ``version`` and return the evaluation."""
    with load_version(version) as loaded:
        evaluation = Evaluation(threshold=loaded.threshold())
        for i, video in enumerate(videos, start=1):
            result = score_video(loaded, video, frames_per_video, evaluation.threshold)
            evaluation.videos.append(result)
            log.info(
                "[%d/%d] %s label=%d score=%.3f %s",
                i,
                len(videos),
                video.path.name,
                video.label,
                result.score,
                result.verdict,
            )
    return evaluation


def calibrate_version(
    write_version: Callable[[Path], None], data: Sequence[Path], frames_per_video: int
) -> tuple[Calibration, float, Evidence | None]:
    """Export to a scratch directory, score ``data``, fit the calibration and the threshold.

    ``write_version(directory)`` writes the uncalibrated candidate, warmup included, into
    ``directory``. Returns the Platt calibration fitted on the gateway's video scores, the
    video-level threshold on the uncalibrated scale (the exporters re-express it), and the
    calibrated video scores both were fitted on (the version's operating points are fitted
    there too; None without videos).
    """
    videos = discover(data)
    if not videos:
        log.warning("no labelled videos to calibrate on; identity calibration, threshold 0.5")
        return IDENTITY, 0.5, None
    with tempfile.TemporaryDirectory(prefix="calibrate-") as scratch:
        write_version(Path(scratch) / "1")
        evaluation = evaluate_version(Path(scratch) / "1", videos, frames_per_video)
    labels, scores = evaluation.video_arrays()
    threshold = roc.best_threshold(labels, scores)
    calibration = fit_video_calibration(evaluation.videos)
    log.info(
        "calibrated on %d videos: threshold %.4f (uncalibrated), a=%.4f b=%.4f",
        len(videos),
        threshold,
        calibration.a,
        calibration.b,
    )
    sources = [v.source for v in evaluation.videos]
    evidence = Evidence(
        labels,
        rescored_video_scores(evaluation.videos, calibration),
        # The same videos the calibration and threshold were fitted on: in-sample rates.
        fitted_on="calibration_data",
        data=f"{len(videos)} labelled videos under {', '.join(map(str, data))}",
        clusters=np.asarray(sources) if all(sources) else None,
    )
    return calibration, threshold, evidence


def summary_lines(summary: dict, report_dir: Path) -> list[str]:
    """Human-readable lines of an evaluation summary, frame and video level."""
    lines = []
    for level in ("frame", "video"):
        m = summary[level]
        lines.append(
            f"{level:5s}: n={m['count']} accuracy {m['accuracy']:.3f} precision "
            f"{m['precision']:.3f} recall {m['recall']:.3f} F1 {m['f1']:.3f} "
            f"ROC-AUC {m['roc_auc']:.3f} log-loss {m['log_loss']:.3f}"
        )
    lines.append(reliability.summary_text(summary["reliability"], "as shipped"))
    lines.append(f"threshold {summary['threshold']:.4f} (shipped); report in {report_dir}")
    return lines


def write_report(evaluation: Evaluation, out_dir: Path, title: str = "") -> dict[str, object]:
    """Write ``metrics.json``, ``predictions.csv``, ``roc.png``, ``confusion.png`` and the
    reliability diagram of the version's video probabilities (``reliability.png``; figures in
    ``metrics.json`` under ``reliability``)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = evaluation.summary()
    labels, scores = evaluation.video_arrays()
    summary["reliability"] = reliability.figures_of_sources(
        labels, scores, [v.source for v in evaluation.videos], "video probabilities as shipped"
    )
    (out_dir / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
    with (out_dir / "predictions.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "label", "group", "score", "verdict", "frames", "faces_per_frame"])
        for v in evaluation.videos:
            verdict = v.verdict or (
                contract.VERDICT_FAKE if v.score >= evaluation.threshold else contract.VERDICT_REAL
            )
            faces = "" if v.faces_per_frame is None else f"{v.faces_per_frame:.2f}"
            writer.writerow([
                str(v.path), "FAKE" if v.label else "REAL", v.group, f"{v.score:.6f}", verdict,
                len(v.frame_scores), faces,
            ])  # fmt: skip
    curves = {"frames": evaluation.frame_arrays(), "videos": evaluation.video_arrays()}
    report_plots.plot_roc(curves, out_dir / "roc.png", title)
    report_plots.plot_confusion(summary["video"], out_dir / "confusion.png", title)
    reliability.write_files(summary["reliability"], out_dir, f"{title}, as shipped")
    return summary
