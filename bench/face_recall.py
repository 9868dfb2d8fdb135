"""Finding faces for less: the keyframe schedule against detection on every frame.

On 12 labelled clips of the shared data (one or two from each of 8 sources), 32 frames
each, sampled and sized as the gateway samples and sizes them, a face-aware version
(MesoInception-4 imported from the shared weights, as :mod:`bench.face_aware` imports it) is
run in a TF1 session, as TF Serving runs it:

* the reference: ``detect_faces`` on every frame at the size sent, then ``classify_boxes``
  (what ``serving_default`` answers);
* every schedule ``(k, side)``: ``detect_faces`` on the keyframes of
  :func:`contract.face_schedule.keyframes` downscaled to
  :func:`contract.face_schedule.detect_shape` by the gateway's own
  :func:`gateway.pipeline.keyframes.downscale`,
  boxes between keyframes from :func:`contract.face_schedule.schedule`, then
  ``classify_boxes`` on every frame at the size sent.

Per schedule: face recall (the share of the reference's faces that the schedule gives a box
of IoU >= 0.5 in the same frame), the mean and largest absolute change of the video score
(:func:`contract.aggregation.decide`, the verdict's own rule), verdicts changed, and the
graph's CPU seconds per video (process CPU time of the session's runs; detection is timed
per frame on the reference pass, so a schedule's detection costs its keyframes' share).

It also times ``serving_default`` on an 8-frame 720p batch for the export before and after
whole frames were classified only where no face is found (``--before``, a version exported
from the earlier code).

Run: ``python -m bench.face_recall`` (about 4 minutes on 2 cores; ``make face-recall``). It
writes ``bench/results/face_recall.md``.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import contract
from contract.aggregation import DEFAULT_AGGREGATION, decide, frame_results
from contract.face_schedule import Faces, detect_shape, keyframes, padded, schedule
from contract.sampling import DEFAULT_FRAMES_PER_VIDEO
from contract.tracks import iou
from gateway.pipeline.keyframes import downscale
from gateway.pipeline.probe import probe
from gateway.pipeline.video import iter_frames, sample_times_of
from model_export.savedmodel import LoadedVersion, load_version

from .face_aware import face_aware_base
from .settings import gateway_defaults

log = logging.getLogger("bench")

#: One or two clips from each of 8 sources: 12 clips, both labels, landscape, portrait,
#: square and 4:3, 256 to 1920 pixels wide.
CLIPS = (
    "deeperforensics-challenge/dfc_000000.mp4",
    "deeperforensics-challenge/dfc_000002.mp4",
    "dfdc-facecrops_jphdotam/aayrffkzxn_0_0.mp4",
    "dfdc_icpr2020dfdc/lynaeydofd.mp4",
    "dfdc_icpr2020dfdc/yhffcuhhjy.mp4",
    "ffpp-c23_icpr2020dfdc/ffpp_original_004.mp4",
    "ffpp-c23_icpr2020dfdc/ffpp_Face2Face_750_743.mp4",
    "hdtf_sadtalker/WDA_BobMenendez_000.mp4",
    "liveportrait-assets/liveportrait_d13.mp4",
    "liveportrait-assets/liveportrait_s18.mp4",
    "lrnet-demo/lrnet_dfo_fake.mp4",
    "sadtalker-generated/sadtalker_still1.mp4",
)
#: The schedules measured: detect every k-th frame, on frames with this shorter side (0: as sent).
EVERY = (1, 2, 4, 8)
SIDES = (0, 480, 360, 240)
#: A reference face is found when a scheduled box overlaps it this much.
RECALL_IOU = 0.5
#: Recall is also given for the reference's confident faces (the misses are mostly below).
CONFIDENT = 0.9
#: Frames per classify_boxes call, as the gateway batches them.
BATCH = 16
#: The clip whose 720p frames time serving_default before and after.
TIMING_CLIP = "ffpp-c23_icpr2020dfdc/ffpp_original_004.mp4"


@dataclass
class Setting:
    """One schedule's figures summed over the clips."""

    every: int
    side: int
    found: int = 0
    faces: int = 0
    confident_found: int = 0
    confident: int = 0
    changes: list[float] = field(default_factory=list)
    verdicts_changed: int = 0
    cpu_s: list[float] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.found / self.faces if self.faces else 1.0

    @property
    def confident_recall(self) -> float:
        return self.confident_found / self.confident if self.confident else 1.0


def cpu_timed(run: Callable[[], dict[str, np.ndarray]]) -> tuple[dict[str, np.ndarray], float]:
    """``run()`` and the process CPU seconds it took (every thread of the session)."""
    start = time.process_time()
    out = run()
    return out, time.process_time() - start


def sampled_frames(path: Path, count: int, max_side: int) -> list[np.ndarray]:
    """The frames the gateway would send for ``path``: ``count`` sampled, sized as it sizes."""
    defaults = gateway_defaults()
    info = probe(path, defaults.limits)
    times = sample_times_of(info, count)
    return [f.image for f in iter_frames(path, info, times, max_side=max_side)]


def detect(loaded: LoadedVersion, frames: list[np.ndarray], side: int) -> tuple[list[Faces], float]:
    """Faces of every frame, found on the frame downscaled to ``side``; CPU seconds."""
    small = [downscale(f, side) for f in frames]
    found: list[Faces] = []
    total = 0.0
    for start in range(0, len(small), BATCH):
        batch = np.stack(small[start : start + BATCH])
        out, seconds = cpu_timed(
            lambda b=batch: loaded.run({contract.FRAMES_INPUT: b}, contract.DETECT_SIGNATURE)
        )
        total += seconds
        for row in range(batch.shape[0]):
            found.append(
                Faces.of(
                    out[contract.FACE_BOXES][row],
                    out[contract.FACE_SCORES][row],
                    out[contract.FACE_COUNT][row],
                )
            )
    return found, total


def classify(
    loaded: LoadedVersion, frames: list[np.ndarray], faces: list[Faces], slots: int
) -> tuple[dict[str, np.ndarray], float]:
    """``classify_boxes`` on every frame in gateway-sized batches; outputs and CPU seconds."""
    boxes, scores, count = padded(faces, slots)
    parts: list[dict[str, np.ndarray]] = []
    total = 0.0
    for start in range(0, len(frames), BATCH):
        end = start + BATCH
        inputs = {
            contract.FRAMES_INPUT: np.stack(frames[start:end]),
            contract.FACE_BOXES: boxes[start:end],
            contract.FACE_SCORES: scores[start:end],
            contract.FACE_COUNT: count[start:end],
        }
        out, seconds = cpu_timed(lambda i=inputs: loaded.run(i, contract.CLASSIFY_BOXES_SIGNATURE))
        total += seconds
        parts.append(out)
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}, total


def video_score(outputs: dict[str, np.ndarray]) -> tuple[float, str]:
    """The video's score and verdict, as the gateway decides them."""
    n = outputs[contract.FAKE_PROBABILITY].shape[0]
    results, face_aware = frame_results(outputs, [float(i) for i in range(n)])
    threshold = float(outputs[contract.THRESHOLD][0])
    verdict = decide(
        results, face_aware=face_aware, threshold=threshold, aggregation=DEFAULT_AGGREGATION
    )
    return verdict.score, verdict.verdict


def recall(
    reference: list[Faces], scheduled: list[Faces], min_score: float = 0.0
) -> tuple[int, int]:
    """(reference faces with a scheduled box of IoU >= RECALL_IOU, reference faces), of the
    reference faces detected with at least ``min_score``."""
    found = total = 0
    for ref, got in zip(reference, scheduled, strict=True):
        for box, score in zip(ref.boxes, ref.scores, strict=True):
            if score < min_score:
                continue
            total += 1
            if any(iou(box.tolist(), b.tolist()) >= RECALL_IOU for b in got.boxes):
                found += 1
    return found, total


def measure(loaded: LoadedVersion, data_dir: Path, frames: int, max_side: int) -> list[Setting]:
    """Every schedule's figures over :data:`CLIPS`."""
    slots = int(loaded.signatures[contract.DETECT_SIGNATURE].outputs[contract.FACE_BOXES]
                .tensor_shape.dim[1].size)  # fmt: skip
    settings = {(k, s): Setting(k, s) for k in EVERY for s in SIDES}
    for name in CLIPS:
        images = sampled_frames(data_dir / name, frames, max_side)
        n = len(images)
        h, w = images[0].shape[:2]
        per_side: dict[int, tuple[list[Faces], float]] = {}
        for side in SIDES:
            # A side the frames already fit gives the frames as sent: the same detection.
            same = detect_shape(h, w, side) == (h, w) and 0 in per_side
            per_side[side] = per_side[0] if same else detect(loaded, images, side)
        reference, ref_detect_s = per_side[0]
        ref_out, _ = classify(loaded, images, reference, slots)
        ref_score, ref_verdict = video_score(ref_out)
        for (k, side), setting in settings.items():
            found, detect_s = per_side[side]
            chosen = keyframes(n, k)
            faces = schedule(n, k, {i: found[i] for i in chosen})
            out, classify_s = classify(loaded, images, faces, slots)
            score, verdict = video_score(out)
            hit, total = recall(reference, faces)
            setting.found += hit
            setting.faces += total
            hit, total = recall(reference, faces, CONFIDENT)
            setting.confident_found += hit
            setting.confident += total
            setting.changes.append(abs(score - ref_score))
            setting.verdicts_changed += int(verdict != ref_verdict)
            setting.cpu_s.append(detect_s * len(chosen) / n + classify_s)
        log.info(
            "clip measured",
            extra={"clip": name, "frames": n, "shape": images[0].shape[:2], "score": ref_score,
                   "faces": sum(f.count for f in reference), "detect_s": ref_detect_s},
        )  # fmt: skip
    return list(settings.values())


def time_whole_frames(before: Path, after: Path, data_dir: Path, repeats: int = 9) -> list[str]:
    """Median CPU seconds of serving_default on 8 frames of a 720p clip, before and after
    whole frames were classified only where no face was found, runs interleaved; at 1280
    (the clip's size) and at the gateway's 640-pixel cap; with detect_faces alone for scale."""
    lines = [
        f"serving_default on 8 frames of `{TIMING_CLIP}`, median process CPU s of {repeats} "
        "interleaved runs each (after one warm run):",
        "",
        "| frames | detect_faces alone | before: every frame also classified whole "
        "| after: only faceless frames | saving |",
        "|---|---|---|---|---|",
    ]
    with load_version(before) as old, load_version(after) as new:
        for side in (1280, 640):
            images = np.stack(sampled_frames(data_dir / TIMING_CLIP, 8, side))
            feed = {contract.FRAMES_INPUT: images}
            runs: dict[str, list[float]] = {"detect": [], "before": [], "after": []}
            calls = {
                "detect": lambda f=feed: new.run(f, contract.DETECT_SIGNATURE),
                "before": lambda f=feed: old.run(f),
                "after": lambda f=feed: new.run(f),
            }
            for call in calls.values():
                call()
            for _ in range(repeats):
                for key, call in calls.items():
                    runs[key].append(cpu_timed(call)[1])
            med = {k: statistics.median(v) for k, v in runs.items()}
            saving = 1 - med["after"] / med["before"]
            lines.append(
                f"| {images.shape[2]}x{images.shape[1]} | {med['detect']:.3f} "
                f"| {med['before']:.3f} | {med['after']:.3f} | {saving:.0%} |"
            )
    return lines


def report(settings: list[Setting], frames: int, max_side: int) -> list[str]:
    """The table of every schedule, reference first."""
    base = next(s for s in settings if s.every == 1 and s.side == 0)
    base_cpu = statistics.mean(base.cpu_s)
    lines = [
        f"{len(CLIPS)} clips, {frames} sampled frames each, sent at the gateway's "
        f"{max_side}-pixel cap; reference: detection on every frame as sent.",
        "",
        "| detect every | detect side | face recall (IoU >= 0.5) "
        f"| recall, faces scored >= {CONFIDENT} | mean / max abs. score change "
        "| verdicts changed | graph CPU s per video | against every frame |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in settings:
        cpu = statistics.mean(s.cpu_s)
        lines.append(
            f"| {s.every} | {s.side or 'as sent'} | {100 * s.recall:.1f}% ({s.found}/{s.faces}) "
            f"| {100 * s.confident_recall:.1f}% ({s.confident_found}/{s.confident}) "
            f"| {statistics.mean(s.changes):.4f} / {max(s.changes):.4f} | {s.verdicts_changed} "
            f"| {cpu:.2f} | {cpu / base_cpu:.2f} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    """Measure, print the tables and write ``bench/results/face_recall.md``."""
    parser = argparse.ArgumentParser(prog="python -m bench.face_recall", description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--cache", type=Path, default=Path("var/bench"))
    parser.add_argument("--before", type=Path, default=None, help="a version from older code")
    parser.add_argument("--frames", type=int, default=DEFAULT_FRAMES_PER_VIDEO)
    parser.add_argument("--out", type=Path, default=Path("bench/results/face_recall.md"))
    parser.add_argument(
        "--timing-only", action="store_true", help="only the before/after timing (needs --before)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    base = face_aware_base(args.data, args.cache)
    if base is None:
        parser.error(f"no MesoNet weights under {args.data}")
    version = max(
        (p for p in (base / "face").iterdir() if p.name.isdigit()), key=lambda p: int(p.name)
    )
    max_side = gateway_defaults().max_side
    started = time.perf_counter()
    lines = ["# Finding faces for less: keyframe schedule against detection on every frame", ""]
    if not args.timing_only:
        with load_version(version) as loaded:
            loaded.replay_warmup()
            settings = measure(loaded, args.data, args.frames, max_side)
        lines += report(settings, args.frames, max_side)
    if args.before is not None:
        lines += ["", *time_whole_frames(args.before, version, args.data)]
    lines += [
        "",
        f"Measured in {time.perf_counter() - started:.0f} s; `python -m bench.face_recall`.",
    ]
    text = "\n".join(lines) + "\n"
    args.out.write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
