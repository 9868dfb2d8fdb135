"""The face-aware part of the report: its sections and its three summary lines.

Figures come only from one run's measurements (:class:`bench.face_aware.FaceAwareResults`);
the GPU section is an estimate from those and from published figures
(:mod:`bench.gpu_estimate`), marked as such.

The throughput section, the GPU estimate and the summary lines all derive from the
per-video CPU split of :mod:`bench.face_figures`; :func:`section` renders the sections
together, in this order.
"""

from __future__ import annotations

import os

from . import gpu_estimate
from .face_aware import DESCRIPTION, FaceAwareResults
from .face_figures import (
    HEADLINE,
    CpuSplit,
    cpu_split,
    faces_per_frame,
    limit_gap,
    load_at,
    package_ms,
)
from .markdown import ms as _ms
from .markdown import table as _table
from .measurements import median, percentile

#: Length clips the latency ratio is taken between (their labels in bench/clips.py).
SHORT, LONG = "720p 10 s", "720p 600 s"


def summary_lines(results: FaceAwareResults | None, cores: int | None = None) -> list[str]:
    """The three face-aware ratio lines (``n/a`` where not measured)."""
    cores = cores or os.cpu_count() or 1
    package = throughput = length = "n/a"
    if results is not None:
        head = next((c for c in results.clips if c.clip.name == HEADLINE), None)
        if head is not None and head.ok and head.package:
            package = f"{head.service_ms(50) / package_ms(head):.2f}"
        by_name = {r.clip.clip.name: r.clip for r in results.lengths}
        short, long = by_name.get(SHORT), by_name.get(LONG)
        if short is not None and long is not None and short.ok and long.ok:
            length = f"{long.service_ms(50) / short.service_ms(50):.2f}"
        split = cpu_split(results)
        c4 = load_at(results, 4)
        if split is not None and c4 is not None and c4.ok:
            throughput = f"{limit_gap(c4, split, cores).fraction:.2f}"
    return [
        f"ratio face-aware service/mtcnn-package pipeline 720p = {package}",
        f"ratio face-aware latency 10 min/10 s 720p = {length}",
        f"ratio face-aware throughput c4/machine limit = {throughput}",
    ]


def section(results: FaceAwareResults, cores: int | None = None) -> list[str]:
    """Every face-aware section of the report."""
    cores = cores or os.cpu_count() or 1
    out = _against_reference(results)
    out += _against_package(results)
    out += _lengths(results)
    split = cpu_split(results)
    out += _throughput(results, split, cores)
    out += _gpu(results, split)
    return out


def _against_reference(results: FaceAwareResults) -> list[str]:
    out = ["", "## A face-aware version: the service against the sequential reference", ""]
    out += [
        f"{DESCRIPTION}. Frames go out at the gateway's cap (the version states no frame "
        "side: it finds faces in the whole frame), and Serving runs face detection, crops and "
        "the classifier on each. Same pairs as above (reference, then service); no naive "
        "pipeline (face detection on every full-size frame would take minutes per clip). "
        "*faces/frame*: mean faces the service reported per sampled frame.",
        "",
    ]
    rows = []
    for c in results.clips:
        if not c.ok:
            rows.append([c.clip.name, "n/a", "n/a", "n/a", "0", "", "", "", "", "", ""])
            continue
        rows.append(
            [
                c.clip.name,
                _ms(c.reference_ms),
                _ms(c.service_ms(50)),
                _ms(c.service_ms(95)),
                str(len(c.ok)),
                f"{c.service_ms(50) / c.reference_ms:.2f}",
                _ms(c.timing("decode")),
                _ms(c.timing("inference")),
                _ms(c.overhead_ms),
                f"{c.overhead_ms / c.service_ms(50) * 100:.0f}%",
                f"{faces_per_frame(c):.2f}",
            ]
        )
    out += _table(
        [
            "clip",
            "reference",
            "service p50",
            "service p95",
            "n",
            "service / reference",
            "decode",
            "inference",
            "gRPC + gateway overhead",
            "share",
            "faces/frame",
        ],
        rows,
    )
    return out


def _against_package(results: FaceAwareResults) -> list[str]:
    clips = [c for c in results.clips if c.package]
    out = ["", "## The user's alternative: the `mtcnn` package pipeline in process (ms)", ""]
    out += [
        "What a user writes with the well-known packages (`bench/mtcnn_pipeline.py`): OpenCV "
        "reads the clip frame by frame and keeps the frames `contract/sampling.py` picks (the "
        "service's frames); `mtcnn`'s `MTCNN().detect_faces` finds faces in them at full size "
        "with its defaults; each face is cut with the graph's margin (0.3 of the box on each "
        "side) and resized to 256x256; the same version's `classify_faces` signature, loaded "
        "in process, scores the crops; the video's score is the mean over faces. Run once after "
        "each (reference, service) pair, so that the three see the same load. Medians; "
        "*service / package* below 1 means the service is faster. The two pipelines find "
        "the same faces but cut them from different pixels: the package's crops come from "
        "full-size frames, downscaled to 256, the service's from frames capped at 640 pixels, "
        "and MesoInception-4's scores depend on that (compare the two score columns).",
        "",
    ]
    if not clips:
        return [*out, "Not measured in this run."]
    rows = []
    for c in clips:
        rows.append(
            [
                c.clip.name,
                _ms(package_ms(c)),
                _ms(median([r.stages_ms["decode"] for r in c.package])),
                _ms(median([r.stages_ms["detection"] for r in c.package])),
                _ms(median([r.stages_ms["classification"] for r in c.package])),
                _ms(median([r.cpu_ms for r in c.package])),
                str(len(c.package)),
                _ms(c.service_ms(50)),
                _ms(median([sum(r.cpu_ms.values()) for r in c.ok])),
                f"{c.service_ms(50) / package_ms(c):.2f}",
                f"{c.package[0].frames_classified}",
                f"{c.package[0].score:.4f}",
                f"{c.ok[0].body['score']:.4f}" if c.ok else "n/a",
            ]
        )
    out += _table(
        [
            "clip",
            "package total",
            "decode (OpenCV)",
            "detect_faces",
            "crop + classify",
            "package CPU",
            "n",
            "service p50",
            "service CPU (all processes)",
            "service / package",
            "crops classified",
            "package score",
            "service score",
        ],
        rows,
    )
    return out


def _lengths(results: FaceAwareResults) -> list[str]:
    out = ["", f"## Cost against length: face-aware, 720p, {results.frames} frames sampled", ""]
    out += [
        "Clips from `bench/clips.py` `length_clip` (the synthetic scene, a keyframe every "
        "2 s, about 0.6 Mb/s), one request per clip per round, rounds interleaved. Latency "
        "and per-stage times are the service's (medians, `timings_ms`); CPU is the gateway's "
        "and Serving's processes per request. *decoded frames*, *probe CPU* and *decode CPU* "
        "come from the gateway's own probe and decoder run on the clip in process "
        "(single-threaded): the decode work should follow the sample count times the GOP "
        "length, not the clip's length.",
        "",
    ]
    if not results.lengths:
        return [*out, "Not measured in this run."]
    base = results.lengths[0].clip
    rows = []
    for r in results.lengths:
        c = r.clip
        rows.append(
            [
                c.clip.name,
                f"{c.clip.duration_s:.0f}",
                f"{c.clip.size_bytes / 1e6:.1f}",
                _ms(c.service_ms(50)),
                str(len(c.ok)),
                _ms(c.timing("upload")),
                _ms(c.timing("probe")),
                _ms(c.timing("decode")),
                _ms(c.timing("inference")),
                _ms(median([r2.cpu_ms.get("gateway", float("nan")) for r2 in c.ok])),
                _ms(median([r2.cpu_ms.get("serving", float("nan")) for r2 in c.ok])),
                str(r.decoded),
                _ms(r.probe_cpu_ms),
                _ms(r.decode_cpu_ms),
                f"{c.service_ms(50) / base.service_ms(50):.2f}" if base.ok else "n/a",
            ]
        )
    out += _table(
        [
            "clip",
            "duration s",
            "MB",
            "latency p50",
            "n",
            "upload",
            "probe",
            "decode",
            "inference",
            "gateway CPU",
            "Serving CPU",
            "decoded frames",
            "probe CPU (in process)",
            "decode CPU (in process)",
            f"latency / {base.clip.name}",
        ],
        rows,
    )
    return out


def _throughput(results: FaceAwareResults, split: CpuSplit | None, cores: int) -> list[str]:
    out = ["", f"## Throughput and the machine's limit: face-aware, {HEADLINE} clip", ""]
    out += [
        "Clients send the clip without pause, one connection each (`load_run`). *service "
        "CPU/video*: gateway and Serving processes over the run, per video.",
        "",
    ]
    if not results.load:
        return [*out, "Not measured in this run."]
    rows = []
    for run in results.load:
        lat = [r.latency_ms for r in run.ok]
        errors = ", ".join(f"{k}: {v}" for k, v in sorted(run.non_200.items())) or "0"
        rows.append(
            [
                str(run.concurrency),
                str(len(run.results)),
                errors,
                f"{run.wall_s:.1f}",
                f"{run.videos_per_min:.2f}",
                _ms(percentile(lat, 50)),
                _ms(percentile(lat, 95)),
                _ms(run.service_cpu_s * 1000.0 / max(1, len(run.ok))),
                f"{run.others_share * 100:.0f}%",
            ]
        )
    out += _table(
        [
            "concurrency",
            "requests",
            "non-200",
            "wall s",
            "videos/min",
            "latency p50",
            "latency p95",
            "service CPU/video (ms)",
            "CPU used by other programs",
        ],
        rows,
    )
    if split is None:
        return out
    out += ["", "CPU seconds per video (720p, concurrency 1):", ""]
    s = results.split
    assert s is not None
    out += [
        f"Decode is the gateway's probe and decode of the sample in process; face detection "
        f"and classification split Serving's CPU time by the share the graph's parts took in "
        f"process on the same frames (classification, i.e. `classify_faces` on the "
        f"{s.faces} faces the graph found plus on the {s.faceless} frames without a face, "
        f"which the graph classifies whole: {s.classification_share * 100:.0f}% of the graph's "
        f"{s.graph_cpu_ms / 1000.0:.2f} s); *rest* is the gateway besides decoding (HTTP, "
        "TLS, upload, gRPC, aggregation). The limit is cores / total.",
        "",
    ]
    out += _table(
        [
            "decode",
            "face detection",
            "classification",
            "rest (gateway)",
            "total",
            "cores",
            "limit videos/min",
        ],
        [
            [
                f"{split.decode_s:.2f}",
                f"{split.detection_s:.2f}",
                f"{split.classification_s:.2f}",
                f"{split.rest_s:.2f}",
                f"{split.total_s:.2f}",
                str(cores),
                f"{split.limit_per_min(cores):.2f}",
            ]
        ],
    )
    c4 = load_at(results, 4)
    if c4 is not None and c4.ok:
        gap = limit_gap(c4, split, cores)
        out += ["", gap.sentence(4)]
    return out


def _gpu(results: FaceAwareResults, split: CpuSplit | None) -> list[str]:
    out = ["", "## A GPU host on paper (an estimate, not a measurement)", ""]
    head = next((c for c in results.clips if c.clip.name == HEADLINE), None)
    if split is None or head is None or not head.ok:
        return [*out, "Not computed: the CPU split was not measured in this run."]
    faces = faces_per_frame(head)
    est = gpu_estimate.estimate(
        frames=results.frames,
        faces_per_frame=faces,
        decode_cpu_s=split.decode_s,
        gateway_rest_cpu_s=split.rest_s,
    )
    out += [
        "One TF Serving on one GPU, and a gateway with N cores decoding. Inputs:",
        "",
        f"- measured here: {results.frames} frames a video; {faces:.2f} faces a frame; gateway "
        f"CPU per video {split.decode_s:.2f} s decoding + {split.rest_s:.2f} s the rest;",
        f"- published: MTCNN {gpu_estimate.MTCNN_GPU_MS_PER_FRAME[0]:.0f}-"
        f"{gpu_estimate.MTCNN_GPU_MS_PER_FRAME[1]:.0f} ms a frame on a GTX TITAN X, about "
        f"what it takes on a desktop CPU ({gpu_estimate.MTCNN_SOURCE}); the worse figure is "
        "used;",
        f"- published: EfficientNet-Lite0 (407 M multiply-adds; MesoInception-4 is smaller) "
        f"{gpu_estimate.CLASSIFIER_GPU_MS_PER_CROP:.0f} ms an image on a mobile GPU at batch 1 "
        f"({gpu_estimate.CLASSIFIER_SOURCE}): an upper bound per crop on a server GPU;",
        f"- assumed: {gpu_estimate.GPU_CONCURRENT_BATCHES} batches in flight on the GPU at once "
        "(the cascade's CPU-side steps leave gaps another batch fills), no gain from batching "
        "within MTCNN; N = "
        f"{est.gateway_cores} gateway cores.",
        "",
    ]
    out += _table(
        [
            "stage",
            "per video",
            "videos/s for the host",
        ],
        [
            [
                f"gateway ({est.gateway_cores} cores: decode + rest)",
                f"{est.decode_cpu_s + est.gateway_rest_cpu_s:.2f} CPU s",
                f"{est.gateway_videos_per_s:.1f}",
            ],
            [
                "GPU: face detection + classification",
                f"{est.detection_gpu_s:.2f} + {est.classification_gpu_s:.2f} GPU s",
                f"{est.gpu_videos_per_s:.1f}",
            ],
        ],
    )
    out += [
        "",
        f"Expected: about {est.videos_per_s:.1f} videos/s for the host; {est.first_to_saturate} "
        f"saturates first. {est.cores_to_match_gpu:.1f} gateway cores decode as fast as the "
        "GPU's estimated rate, so cores beyond that stay idle.",
        "",
        f"`serving/batching.config` that fits (batches of {results.frames} frames from each "
        f"video, merged up to four videos; queue for every video the gateway's cores have in "
        f"flight; see {gpu_estimate.BATCHING_SOURCE}):",
        "",
        "```",
        *gpu_estimate.batching_settings(est, results.frames),
        "```",
    ]
    return out
