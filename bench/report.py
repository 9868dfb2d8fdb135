"""Turn the measurements into the Markdown report and its summary lines (the last lines).

The sections are in :mod:`bench.report_frames`, :mod:`bench.report_latency` and
:mod:`bench.report_load` (the face-aware one in :mod:`bench.face_report`); what they are
made of in :mod:`bench.measurements`.
"""

from __future__ import annotations

from pathlib import Path

from . import (
    face_report,
    receipts,
    report_frames,
    report_inputs,
    report_latency,
    report_load,
    track_members,
)
from .measurements import BenchResults

#: The report's sections after its header, in order.
SECTIONS = (
    report_frames.clips,
    report_latency.latency,
    report_latency.cpu_time,
    report_frames.frames,
    report_latency.service_stages,
    report_latency.in_process_stages,
    report_load.throughput,
    report_load.memory,
    report_frames.decoding,
    report_frames.scores,
    report_frames.size_drift,
)


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


def render(results: BenchResults, *, only_inputs: bool = False) -> str:
    """The whole report as Markdown; the summary lines come last.

    ``only_inputs``: the still image and live section and its summary lines alone
    (``--only inputs``).
    """
    meta = results.meta
    out: list[str] = [f"# Benchmark: video to verdict ({meta['timestamp']})", ""]
    out += [f"- {key}: {value}" for key, value in meta.items() if key != "timestamp"]
    out += [f"- bench wall time: {results.elapsed_s / 60:.1f} min", ""]

    if not only_inputs:
        for section in SECTIONS:
            out += section(results)
        if results.face_aware is not None:
            out += face_report.section(results.face_aware)
    if results.inputs is not None:
        out += report_inputs.section(results.inputs)
    if results.receipt is not None:
        out += receipts.section(results.receipt)
    if results.members is not None:
        out += track_members.section(results.members)
    out += [""]
    if not only_inputs:
        out += [*summary_lines(results), *face_report.summary_lines(results.face_aware)]
        out += track_members.summary_lines(results.members)
    out += report_inputs.summary_lines(results.inputs)
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
