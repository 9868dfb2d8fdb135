"""The report's sections on one video at a time: latency, CPU time and where each goes."""

from __future__ import annotations

from .markdown import ms as _ms
from .markdown import table as _table
from .measurements import STAGES, BenchResults, median

__all__ = ["cpu_time", "in_process_stages", "latency", "service_stages"]


def latency(results: BenchResults) -> list[str]:
    """Latency per video at concurrency 1: naive, reference and the service."""
    out: list[str] = []
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
    return out


def cpu_time(results: BenchResults) -> list[str]:
    """CPU time per video, in process and in each process of the service."""
    out: list[str] = []
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
    return out


def service_stages(results: BenchResults) -> list[str]:
    """Where the service's time goes: the median ``timings_ms`` of each stage."""
    out: list[str] = []
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
    return out


def in_process_stages(results: BenchResults) -> list[str]:
    """The stages of the in-process pipelines (median ms)."""
    out: list[str] = []
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
    return out
