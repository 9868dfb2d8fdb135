"""Turn the measurements into the Markdown report and its summary lines (the last lines)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .clips import BenchClip
from .decode import DecodeTiming
from .naive import PipelineRun, SizeDrift
from .service import LoadRun, ProcessMemory, RequestResult

if TYPE_CHECKING:
    from .face_aware import FaceAwareResults
    from .receipts import ReceiptCost

#: The clip the headline ratios are taken on.
HEADLINE_CLIP = "720p"
STAGES = ("upload", "probe", "decode", "inference", "aggregate", "total")


@dataclass
class ClipResult:
    """Everything measured on one clip."""

    clip: BenchClip
    naive: list[PipelineRun] = field(default_factory=list)
    reference: list[PipelineRun] = field(default_factory=list)
    service: list[RequestResult] = field(default_factory=list)
    #: The ``mtcnn`` package pipeline (face-aware clips only).
    package: list[PipelineRun] = field(default_factory=list)
    decode: list[DecodeTiming] = field(default_factory=list)
    #: Share of the machine's cores other programs used while this clip was measured.
    others_share: float = float("nan")
    #: Scores at the sizes frames may be sent at.
    drift: SizeDrift | None = None

    @property
    def ok(self) -> list[RequestResult]:
        return [r for r in self.service if r.status == 200]

    @property
    def naive_ms(self) -> float:
        return median([r.total_ms for r in self.naive])

    @property
    def reference_ms(self) -> float:
        return median([r.total_ms for r in self.reference])

    def service_ms(self, q: float) -> float:
        return percentile([r.latency_ms for r in self.ok], q)

    def timing(self, stage: str) -> float:
        return median([r.timings.get(stage, float("nan")) for r in self.ok])

    @property
    def overhead_ms(self) -> float:
        """gRPC + gateway overhead: the service's latency minus the sequential reference's.

        Taken as the median of the differences within (reference, service) pairs run one
        after the other, so that load from other programs, which drifts over seconds,
        cancels out; failed requests drop their pair.
        """
        diffs = [
            s.latency_ms - r.total_ms
            for r, s in zip(self.reference, self.service, strict=False)
            if s.status == 200
        ]
        return median(diffs)

    @property
    def gateway_decoded(self) -> int:
        """Frames the gateway's decoder gets out of the codec for the sample."""
        counts = [d.decoded for d in self.decode if d.variant == "pyav (gateway)"]
        return counts[0] if counts else -1


@dataclass
class BenchResults:
    """One run of the benchmark."""

    meta: dict[str, str]
    clips: list[ClipResult]
    load: list[LoadRun]
    load_clip: str
    memory: dict[str, ProcessMemory]
    #: The same service with a face-aware version (when the shared weights exist).
    face_aware: FaceAwareResults | None = None
    elapsed_s: float = 0.0
    #: What signing one answer's receipt costs (bench.receipts).
    receipt: ReceiptCost | None = None

    def headline(self) -> ClipResult | None:
        return next((c for c in self.clips if c.clip.name == HEADLINE_CLIP), None)


def median(values: list[float]) -> float:
    clean = [v for v in values if v == v]  # drop NaN
    return float(np.median(clean)) if clean else float("nan")


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def _ms(value: float) -> str:
    if value != value:
        return "n/a"
    return f"{value:,.0f}" if abs(value) >= 10 else f"{value:.1f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def summary_lines(results: BenchResults) -> list[str]:
    """The first two summary lines: service/naive latency on 720p and the overhead share.

    The face-aware ratio lines (:func:`bench.face_report.summary_lines`) follow them.
    """
    head = results.headline()
    if head is None or not head.ok:
        return ["ratio service/naive latency 720p = n/a", "overhead share of service latency = n/a"]
    ratio = head.service_ms(50) / head.naive_ms
    share = head.overhead_ms / head.service_ms(50) * 100.0
    return [
        f"ratio service/naive latency 720p = {ratio:.2f}",
        f"overhead share of service latency = {share:.1f}%",
    ]


def render(results: BenchResults) -> str:
    """The whole report as Markdown; the summary lines come last."""
    meta = results.meta
    out: list[str] = [f"# Benchmark: video to verdict ({meta['timestamp']})", ""]
    out += [f"- {key}: {value}" for key, value in meta.items() if key != "timestamp"]
    out += [f"- bench wall time: {results.elapsed_s / 60:.1f} min", ""]

    out += ["## Clips", ""]
    out += _table(
        ["clip", "size (WxH)", "frames", "duration s", "bitrate Mb/s", "source"],
        [
            [
                c.clip.name,
                f"{c.clip.width}x{c.clip.height}",
                str(c.clip.frames),
                f"{c.clip.duration_s:.1f}",
                f"{c.clip.bitrate_mbps:.2f}",
                "synthetic (bench/clips.py)" if c.clip.synthetic else "../shared/data",
            ]
            for c in results.clips
        ],
    )

    out += ["", "## Latency per video, concurrency 1 (ms)", ""]
    out += [
        "naive = OpenCV reads and classifies every frame in process; reference = the service's "
        "sampled frames, decoded then classified in process, one step after the other; "
        "service = HTTPS upload to a verdict through the gateway and Serving, as the client "
        "sees it. Medians, and p95 of the service over n requests.",
        "",
    ]
    out += _table(
        [
            "clip",
            "naive",
            "reference",
            "service p50",
            "service p95",
            "n",
            "service / naive",
            "service / reference",
            "CPU used by other programs",
        ],
        [
            [
                c.clip.name,
                _ms(c.naive_ms),
                _ms(c.reference_ms),
                _ms(c.service_ms(50)),
                _ms(c.service_ms(95)),
                str(len(c.ok)),
                f"{c.service_ms(50) / c.naive_ms:.2f}",
                f"{c.service_ms(50) / c.reference_ms:.2f}",
                f"{c.others_share * 100:.0f}%",
            ]
            for c in results.clips
        ],
    )

    out += ["", "## CPU time per video (ms, median)", ""]
    out += [
        "Work done, whatever else runs on the machine: CPU time of the bench process for the "
        "in-process pipelines; of the gateway, Serving and the client process for the "
        "service (requests at concurrency 1). Reference *decode side* = probe + decode + "
        "aggregate, the work the gateway does in process; *model* = the SavedModel calls, "
        "the work Serving does. The overheads compare each process of the service with the "
        "same work in process. On 2 cores a video can take up to twice its CPU time off the "
        "wall clock.",
        "",
    ]
    rows = []
    for c in results.clips:
        ref_decode = median([r.stages_cpu_ms["probe+decode"] for r in c.reference]) + median(
            [r.stages_cpu_ms["aggregate"] for r in c.reference]
        )
        ref_model = median([r.stages_cpu_ms["inference"] for r in c.reference])
        gw = median([r.cpu_ms.get("gateway", float("nan")) for r in c.ok])
        sv = median([r.cpu_ms.get("serving", float("nan")) for r in c.ok])
        cl = median([r.cpu_ms.get("client", float("nan")) for r in c.ok])
        total = median([sum(r.cpu_ms.values()) for r in c.ok])
        overhead = total - median([r.cpu_ms for r in c.reference])
        rows.append(
            [
                c.clip.name,
                _ms(median([r.cpu_ms for r in c.naive])),
                _ms(ref_decode),
                _ms(ref_model),
                _ms(gw),
                _ms(sv),
                _ms(cl),
                _ms(gw - ref_decode),
                _ms(sv - ref_model),
                f"{overhead / total * 100:.0f}%",
            ]
        )
    out += _table(
        [
            "clip",
            "naive",
            "reference: decode side",
            "reference: model",
            "service: gateway",
            "service: Serving",
            "service: client",
            "gateway overhead",
            "Serving + gRPC overhead",
            "overhead share (all three vs reference)",
        ],
        rows,
    )

    out += ["", "## Frames", ""]
    out += _table(
        [
            "clip",
            "naive: decoded and classified",
            "service: sampled and classified",
            "service: H.264 frames its decoder decodes",
        ],
        [
            [
                c.clip.name,
                str(c.naive[0].frames_classified) if c.naive else "n/a",
                str(c.ok[0].frames) if c.ok else "n/a",
                str(c.gateway_decoded) if c.gateway_decoded >= 0 else "n/a",
            ]
            for c in results.clips
        ],
    )

    out += ["", "## Where the time goes: the service (median `timings_ms`, ms)", ""]
    out += [
        "decode and inference overlap (the first batch is in flight while later frames "
        "decode), so they add up to more than the handler's total. *outside handler* = "
        "client p50 minus the handler's total (TLS, HTTP, multipart, JSON). *gRPC + gateway "
        "overhead* = service latency minus the sequential reference's (median of the "
        "differences within interleaved pairs): everything the service adds to the same "
        "decode and model work, upload included.",
        "",
    ]
    out += _table(
        [
            "clip",
            "upload",
            "probe",
            "decode",
            "inference",
            "aggregate",
            "handler total",
            "client p50",
            "outside handler",
            "gRPC + gateway overhead",
            "share",
        ],
        [
            [
                c.clip.name,
                *[_ms(c.timing(s)) for s in STAGES],
                _ms(c.service_ms(50)),
                _ms(c.service_ms(50) - c.timing("total")),
                _ms(c.overhead_ms),
                f"{c.overhead_ms / c.service_ms(50) * 100:.0f}%",
            ]
            for c in results.clips
        ],
    )

    out += ["", "## In-process stages (median ms)", ""]
    out += _table(
        [
            "clip",
            "reference probe",
            "reference decode",
            "reference inference",
            "reference aggregate",
            "naive decode (read + RGB)",
            "naive inference",
            "naive decode CPU",
            "naive inference CPU",
        ],
        [
            [
                c.clip.name,
                *[_ms(median([r.stages_ms[s] for r in c.reference])) for s in STAGES[1:5]],
                _ms(median([r.stages_ms["decode"] for r in c.naive])),
                _ms(median([r.stages_ms["inference"] for r in c.naive])),
                _ms(median([r.stages_cpu_ms["decode"] for r in c.naive])),
                _ms(median([r.stages_cpu_ms["inference"] for r in c.naive])),
            ]
            for c in results.clips
        ],
    )

    out += ["", f"## Throughput, {results.load_clip} clip", ""]
    out += [
        "Clients send the clip without pause, one connection each. *CPU ms per video*: "
        "gateway, Serving and client together, so 2 cores can finish at most "
        "120,000 / that many videos a minute. *CPU used by other programs*: the share of "
        "the machine's cores that programs outside the bench used meanwhile.",
        "",
    ]
    rows = []
    for run in results.load:
        lat = [r.latency_ms for r in run.ok]
        errors = ", ".join(f"{k}: {v}" for k, v in sorted(run.non_200.items())) or "0"
        rows.append(
            [
                f"service, concurrency {run.concurrency}",
                str(len(run.results)),
                errors,
                f"{run.wall_s:.1f}",
                f"{run.videos_per_min:.1f}",
                f"{run.frames_per_s:.0f}",
                _ms(percentile(lat, 50)),
                _ms(percentile(lat, 95)),
                _ms(run.cpu_ms_per_video),
                f"{run.others_share * 100:.0f}%",
            ]
        )
    load_clip = next((c for c in results.clips if c.clip.name == results.load_clip), None)
    if load_clip is not None and load_clip.naive:
        naive_s = load_clip.naive_ms / 1000.0
        rows.append(
            [
                "naive, one video at a time",
                str(len(load_clip.naive)),
                "0",
                "",
                f"{60.0 / naive_s:.1f}",
                f"{load_clip.naive[0].frames_classified / naive_s:.0f}",
                _ms(load_clip.naive_ms),
                "",
                _ms(median([r.cpu_ms for r in load_clip.naive])),
                "",
            ]
        )
    out += _table(
        [
            "pipeline",
            "requests",
            "non-200",
            "wall s",
            "videos/min",
            "frames/s",
            "latency p50",
            "latency p95",
            "CPU ms per video",
            "CPU used by other programs",
        ],
        rows,
    )

    out += ["", "## Peak memory (RSS, MiB)", ""]
    out += _table(
        ["process", "after start", "peak while measured (sampled)", "VmHWM (lifetime peak)"],
        [
            [name, f"{m.after_start:.0f}", f"{m.peak_sampled:.0f}", f"{m.vm_hwm:.0f}"]
            for name, m in results.memory.items()
        ],
    )

    out += ["", "## Decoding the 32 sampled frames: OpenCV vs PyAV, and PyAV tuned (ms)", ""]
    out += [
        "Wall-clock time (median and best of the runs) and CPU time, ms. Frames out are RGB "
        "at the gateway's size. *same frames* compares the picked timestamps with the "
        "gateway's decoder's. *speed* is the gateway's best wall time over the variant's "
        "(above 1 = faster); *CPU saving* the same ratio for CPU time (above 1 = less work). "
        "Threads only shorten the wall time when a core is idle.",
        "",
    ]
    rows = []
    for c in results.clips:
        base = next((d for d in c.decode if d.variant == "pyav (gateway)"), None)
        for d in c.decode:
            same = "-" if d.same_frames is None else ("yes" if d.same_frames else "NO")
            rows.append(
                [
                    c.clip.name,
                    d.variant,
                    _ms(median(d.runs_ms)),
                    _ms(min(d.runs_ms)),
                    _ms(median(d.cpu_ms)),
                    str(d.decoded) if d.decoded >= 0 else "n/a",
                    str(d.frames_out),
                    same,
                    f"{min(base.runs_ms) / min(d.runs_ms):.2f}x" if base else "n/a",
                    f"{median(base.cpu_ms) / median(d.cpu_ms):.2f}x" if base else "n/a",
                ]
            )
    out += _table(
        [
            "clip",
            "decoder",
            "wall median",
            "wall best",
            "CPU median",
            "H.264 frames decoded",
            "frames out",
            "same frames",
            "speed vs gateway (best wall)",
            "CPU saving vs gateway",
        ],
        rows,
    )

    out += ["", "## Scores", ""]
    out += _table(
        ["clip", "naive (mean of all frames)", "reference", "service", "versions that answered"],
        [
            [
                c.clip.name,
                f"{c.naive[0].score:.4f}" if c.naive else "n/a",
                f"{c.reference[0].score:.4f}" if c.reference else "n/a",
                f"{c.ok[0].body['score']:.4f}" if c.ok else "n/a",
                ", ".join(sorted({str(r.body["model"]["version"]) for r in c.ok})) or "n/a",
            ]
            for c in results.clips
        ],
    )
    drifts = [(c.clip.name, c.drift) for c in results.clips if c.drift is not None]
    if drifts:
        out += ["", "## Scores by the size frames are sent at", ""]
        out += [
            "The 32 sampled frames classified in process at full size, at the gateway's cap, "
            "and at the size the version asks for in `model_info` (what the service sends). "
            "*frame MAE*: mean absolute difference of the per-frame fake probability from "
            "full size; *video Δ*: difference of the aggregated video score.",
            "",
        ]
        rows = []
        for name, drift in drifts:
            for variant, size in drift.sizes.items():
                rows.append(
                    [
                        name,
                        variant,
                        f"{size[0]}x{size[1]}",
                        f"{drift.frame_mae[variant]:.4f}",
                        f"{drift.video_delta[variant]:.4f}",
                    ]
                )
        out += _table(["clip", "frames", "size", "frame MAE", "video Δ"], rows)
    from . import face_report

    if results.face_aware is not None:
        out += face_report.section(results.face_aware)
    if results.receipt is not None:
        from . import receipts

        out += receipts.section(results.receipt)
    out += ["", *summary_lines(results), *face_report.summary_lines(results.face_aware)]
    return "\n".join(out) + "\n"


def write(results_dir: Path, text: str, stamp: str) -> Path:
    """Write ``<stamp>.md`` and ``latest.md`` under ``results_dir``; return the first."""
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{stamp}.md"
    for target in (path, results_dir / "latest.md"):
        tmp = target.with_suffix(".md.tmp")
        tmp.write_text(text)
        tmp.rename(target)
    return path
