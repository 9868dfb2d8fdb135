"""In-graph batched MTCNN against the ``mtcnn`` package's ``detect_faces``, on CPU.

Run ``python -m bench.face_detector`` (or call :func:`run` from another benchmark). For each
clip it samples a batch of frames and times, on the same batch:

- the in-graph detector as exported: a ``tf.function`` with the serving signature, and the
  same graph exported with ``ExportArchive`` and restored in a TF1 session as TF Serving does;
- the package's ``MTCNN().detect_faces`` on the batch (its own batch mode, a list of frames).

Each is warmed up once on the batch, then timed ``repeats`` times; the best time counts (the
machine is shared, the minimum is the least disturbed run). It also reports how many of the
package's faces (confidence >= 0.9) the graph finds with IoU >= 0.5. The table goes to stdout
and to ``bench/results/face_detector.md``.

Clips: every clip of four folders of ``../shared/data`` when it exists, otherwise frames
composed from the face photographs that ship with scikit-image and matplotlib.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import tensorflow as tf

from bench.face_reference import (
    Agreement,
    graph_faces,
    package_faces,
    sample_frames,
)
from model_export.faces import detect_faces, load_nets

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
RESULTS = REPO / "bench" / "results" / "face_detector.md"
FOLDERS = (
    "dfdc_icpr2020dfdc",
    "ffpp-c23_icpr2020dfdc",
    "deeperforensics-challenge",
    "hdtf_sadtalker",
)
#: Enough slots that no face the package finds is cut off by the slot count.
MAX_FACES = 16
SIGNATURE = [tf.TensorSpec([None, None, None, 3], tf.uint8, name="frames")]


@dataclass
class Row:
    """One batch: its timings and how the two detectors agreed on it."""

    name: str
    frames: int
    height: int
    width: int
    graph_s: float
    session_s: float
    package_s: float
    agreement: Agreement

    @property
    def speedup(self) -> float:
        return self.package_s / self.graph_s


def _best_time(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up: tracing, first allocations
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _batches(frames_per_clip: int) -> Iterator[tuple[str, np.ndarray]]:
    if SHARED_DATA.is_dir():
        for folder in FOLDERS:
            for clip in sorted((SHARED_DATA / folder).glob("*.mp4")):
                yield f"{folder}/{clip.name}", sample_frames(clip, frames_per_clip)
        return
    log.warning("%s not found: using frames composed from bundled photographs", SHARED_DATA)
    yield from _synthetic_batches(frames_per_clip)


def _synthetic_batches(frames_per_clip: int) -> Iterator[tuple[str, np.ndarray]]:
    import matplotlib.cbook
    import matplotlib.image
    from skimage.data import astronaut

    hopper_path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    faces = [astronaut(), np.ascontiguousarray(matplotlib.image.imread(hopper_path)[..., :3])]
    rng = np.random.default_rng(0)
    for height, width in ((480, 640), (720, 1280), (1080, 1920)):
        batch = rng.integers(0, 255, size=(frames_per_clip, height, width, 3), dtype=np.uint8)
        for i in range(frames_per_clip):
            face = faces[i % len(faces)]
            scale = min(height / face.shape[0], 1.0) * 0.8
            size = (int(face.shape[0] * scale), int(face.shape[1] * scale))
            small = tf.image.resize(face, size, antialias=True).numpy().astype(np.uint8)
            y = rng.integers(0, height - size[0])
            x = rng.integers(0, width - size[1])
            batch[i, y : y + size[0], x : x + size[1]] = small
        yield f"synthetic {width}x{height}", batch


def _session_runner(export_dir: Path) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """Export the detector and restore it as TF Serving does (TF1 session loader)."""
    archive = keras.export.ExportArchive()
    for model in load_nets():
        archive.track(model)

    @tf.function(input_signature=SIGNATURE)
    def serve(frames: tf.Tensor) -> dict[str, tf.Tensor]:
        boxes, scores, count = detect_faces(frames, max_faces=MAX_FACES)
        return {"face_boxes": boxes, "face_scores": scores, "face_count": count}

    archive.add_endpoint("serving_default", serve)
    archive.write_out(str(export_dir), verbose=False)
    graph = tf.Graph()
    session = tf.compat.v1.Session(graph=graph)
    with graph.as_default():
        meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], str(export_dir))
    signature = meta.signature_def["serving_default"]
    fetches = {key: info.name for key, info in signature.outputs.items()}
    feed = signature.inputs["frames"].name
    return lambda frames: session.run(fetches, {feed: frames})


def run(frames_per_clip: int = 4, repeats: int = 2, write: bool = True) -> dict:
    """Time both detectors on every batch; return the figures (and write the Markdown)."""
    from mtcnn import MTCNN

    package = MTCNN()
    graph = tf.function(
        lambda frames: detect_faces(frames, max_faces=MAX_FACES), input_signature=SIGNATURE
    )
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        session = _session_runner(Path(tmp) / "1")
        for name, frames in _batches(frames_per_clip):
            log.info("%s: %s", name, frames.shape)
            graph_s = _best_time(lambda f=frames: graph(f), repeats)
            session_s = _best_time(lambda f=frames: session(f), repeats)
            package_s = _best_time(lambda f=frames: package_faces(f, package), repeats)
            out = session(frames)
            ours = graph_faces(
                out["face_boxes"], out["face_scores"], out["face_count"], *frames.shape[1:3]
            )
            agreement = Agreement()
            agreement.add(package_faces(frames, package), ours)
            rows.append(
                Row(name, len(frames), *frames.shape[1:3], graph_s, session_s, package_s, agreement)
            )
            log.info("%s: graph %.2fs package %.2fs", name, graph_s, package_s)

    result = _summarise(rows, frames_per_clip, repeats)
    if write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(result["markdown"])
    return result


def _summarise(rows: list[Row], frames_per_clip: int, repeats: int) -> dict:
    total = Agreement()
    for row in rows:
        total.matched += row.agreement.matched
        total.total += row.agreement.total
        total.ious.extend(row.agreement.ious)
    graph_s = sum(r.graph_s for r in rows)
    session_s = sum(r.session_s for r in rows)
    package_s = sum(r.package_s for r in rows)
    frames = sum(r.frames for r in rows)
    lines = [
        "# Face detector: batched in-graph MTCNN vs the mtcnn package",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} on {platform.processor() or 'CPU'}, "
        f"{os.cpu_count()} cores, TensorFlow {tf.__version__}, CPU only. "
        f"{frames_per_clip} frames per clip in one batch; best of {repeats} runs after a "
        "warm-up. `graph`: the detector as a `tf.function` with the serving signature; "
        "`session`: the same graph exported with `ExportArchive` and run in a TF1 session as "
        "TF Serving runs it; `package`: `mtcnn.MTCNN().detect_faces` on the batch (a list). "
        "Same thresholds (0.6, 0.7, 0.7) and minimum face size (20) for both. Agreement: "
        "package faces with confidence >= 0.9 that the graph finds with IoU >= 0.5.",
        "",
        "| batch | frames | size | graph s | session s | package s | package/graph "
        "| package faces | matched | mean IoU |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        mean_iou = f"{np.mean(r.agreement.ious):.3f}" if r.agreement.ious else "-"
        lines.append(
            f"| {r.name} | {r.frames} | {r.width}x{r.height} | {r.graph_s:.2f} | "
            f"{r.session_s:.2f} | {r.package_s:.2f} | {r.speedup:.1f}x | {r.agreement.total} | "
            f"{r.agreement.matched} | {mean_iou} |"
        )
    ratio = package_s / graph_s if graph_s else float("nan")
    session_ratio = package_s / session_s if session_s else float("nan")
    lines += [
        f"| **all** | {frames} | | {graph_s:.2f} | {session_s:.2f} | {package_s:.2f} | "
        f"{ratio:.1f}x | {total.total} | {total.matched} | "
        f"{np.mean(total.ious) if total.ious else float('nan'):.3f} |",
        "",
        "Target: the in-graph detector at least 2x faster than the package on the same batches.",
        "",
        f"ratio package/in-graph time = {ratio:.2f}",
        f"ratio package/in-graph session time = {session_ratio:.2f}",
        f"agreement IoU>=0.5 = {100 * total.rate:.1f}% ({total.matched}/{total.total})",
        "",
    ]
    return {
        "frames": frames,
        "graph_s": graph_s,
        "session_s": session_s,
        "package_s": package_s,
        "ratio": ratio,
        "session_ratio": session_ratio,
        "agreement": total.rate,
        "faces_matched": total.matched,
        "faces_total": total.total,
        "markdown": "\n".join(lines),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=4, help="frames per clip, one batch")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs after the warm-up")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    result = run(args.frames, args.repeats)
    print(result["markdown"])
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
