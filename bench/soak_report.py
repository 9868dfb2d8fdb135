"""The soak's Markdown report, its one-line summary, and where both are written."""

from __future__ import annotations

import os
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bench.markdown import ms as _ms
from bench.markdown import table
from bench.soak_mix import MAX_UPLOAD_BYTES, MIX, VALID_KINDS
from bench.soak_result import problems

if TYPE_CHECKING:
    from bench.soak_result import SoakResult

REPO = Path(__file__).resolve().parent.parent


def render(result: SoakResult, meta: dict[str, str], plot_name: str | None = None) -> str:
    """The Markdown report (``plot_name``: the PNG beside it)."""
    out = ["# Soak", ""]
    out += [f"- {k}: {v}" for k, v in meta.items()]
    out += [
        f"- load: {result.clients} clients for {result.wall_s:.0f} s against "
        f"GATEWAY_MAX_IN_FLIGHT={result.max_in_flight} + GATEWAY_MAX_QUEUE={result.max_queue}",
        f"- GATEWAY_MAX_UPLOAD_BYTES={MAX_UPLOAD_BYTES} (oversize bodies exceed it)",
        f"- job store: {result.job_store}",
        "",
        "## Events",
        "",
    ]
    out += [f"- {t:.0f} s: {what}" for t, what in result.events] or ["- none"]
    if plot_name:
        out += ["", f"![RSS and latency over the soak]({plot_name})"]
    out += [
        "",
        "## Requests by kind and status",
        "",
    ]
    counts = result.by_kind_status()
    statuses = sorted({s for _, s in counts})
    total = Counter(o.status for o in result.outcomes)
    out += table(
        ["kind", *(str(s) if s else "no answer" for s in statuses)],
        [[kind, *(str(counts.get((kind, s), 0)) for s in statuses)] for kind in MIX]
        + [["**all**", *(str(total.get(s, 0)) for s in statuses)]],
        right=len(statuses),
    )
    codes = Counter((o.kind, o.answer) for o in result.outcomes if o.kind not in VALID_KINDS)
    out += ["", "Error codes of the invalid and hostile requests:", ""]
    out += [f"- {kind}: {code} × {n}" for (kind, code), n in sorted(codes.items(), key=str)]
    ok = [o for o in result.outcomes if o.kind in VALID_KINDS and o.status == 200]
    out += [
        "",
        "## Valid uploads answered 200",
        "",
        f"- {len(ok)} in {result.wall_s:.0f} s ({len(ok) / max(result.wall_s, 1e-9) * 60:.0f}/min)",
        f"- latency p50 / p95 / p99: {_ms(result.valid_latency_ms(50))} / "
        f"{_ms(result.valid_latency_ms(95))} / {_ms(result.valid_latency_ms(99))} ms",
        f"- answered by version: {dict(sorted(result.versions.items()))}",
    ]
    if result.swap_at_s is not None:
        seen = result.swap_seen_after_s
        out.append(
            f"- version 2 published at {result.swap_at_s:.0f} s; first answer from it came "
            + (f"{seen:.1f} s later" if seen is not None else "never")
        )
    out += _jobs(result)
    out += _live(result)
    out += ["", "## Processes", ""]
    out += table(
        ["process", "moment", "RSS MiB", "threads", "open fds"],
        [
            [name, moment, f"{s.rss_mib:.0f}", str(s.threads), str(s.fds)]
            for name, moments in result.stats.items()
            for moment, s in moments.items()
        ],
        right=3,
    )
    out += _growth(result)
    out += [
        "",
        "## Checks",
        "",
        f"- undocumented 5xx (not 503/504): {len(result.undocumented_5xx)}",
        f"- answers that are neither an error code nor a verdict: {len(result.unparsed)}",
        f"- requests without an HTTP answer, by kind: {dict(result.no_answer) or 0}",
        f"- valid uploads failed (not 200, not 429): {len(result.failed_valid)}",
        f"- upload temp files left: {len(result.temp_files_left)}",
        "",
    ]
    out += [f"**Problem:** {p}" for p in problems(result)] or ["No problem found."]
    out.append("")
    return "\n".join(out)


def _jobs(result: SoakResult) -> list[str]:
    jobs = result.jobs
    if jobs is None:
        return []
    out = ["", "## Jobs and their webhooks", ""]
    out += [
        "- submitted, by kind and status: "
        + ", ".join(f"{k} {s}: {n}" for (k, s), n in sorted(jobs.submitted.items())),
        f"- ended: {dict(sorted(jobs.final.items()))}; error codes: "
        f"{dict(sorted(jobs.error_codes.items())) or 'none'}",
        f"- refused submissions by code: {dict(sorted(jobs.refused.items())) or 'none'}",
        f"- lost (accepted, never seen ended): {len(jobs.lost)}",
        f"- webhooks: {jobs.webhooks_received} received, {jobs.webhook_messages} distinct "
        f"messages (`webhook-id`); ended jobs without one: {len(jobs.unannounced)}; "
        f"jobs with two messages: {len(jobs.announced_twice)}; with another status than "
        f"the job's: {len(jobs.wrong_status)}",
    ]
    return out


def _live(result: SoakResult) -> list[str]:
    live = result.live
    if live is None:
        return []
    failed = dict(sorted(live.failed.items())) or "none"
    return [
        "",
        "## Live sessions",
        "",
        f"- sessions: {live.sessions}, {live.completed} ended with their summary; ended early, "
        f"by code: {failed} (documented: serving_unavailable while Serving restarts, "
        "model_not_found once a hot swap unloads the session's version)",
        f"- frames: {live.frames_sent} sent, {live.frames_scored} scored, "
        f"{live.frames_dropped} dropped (no credit, or by the gateway)",
        f"- frame-to-score latency p50 / p95 / max: {_ms(live.latency_ms(50))} / "
        f"{_ms(live.latency_ms(95))} / {_ms(live.latency_ms(100))} ms",
    ]


def _growth(result: SoakResult) -> list[str]:
    from bench.soak_timeline import growth

    if not result.samples:
        return []
    out = [
        "",
        f"## Growth after the warm-up (the first {result.warmup_s:.0f} s left out)",
        "",
        f"{len(result.samples)} samples. Slope: a least-squares line through the samples, "
        "per hour.",
        "",
    ]
    rows = []
    for g in growth(result.samples, result.seconds, result.serving_restarted_at_s):
        unit = f" {g.unit}" if g.unit else ""
        slope = "n/a" if g.per_hour is None else f"{g.per_hour:+.1f}{unit}"
        rows.append([g.name, slope, f"{g.low:.1f}", f"{g.high:.1f}", str(g.samples)])
    out += table(["what", "slope per hour", "low", "high", "samples"], rows, right=4)
    out += [
        "",
        "Every minute (gateway RSS MiB / threads / fds; Serving RSS MiB; job store "
        "MiB; upload and job-media files):",
        "",
    ]
    last = -60.0
    for s in result.samples:
        if s.t - last < 60.0 and s is not result.samples[-1]:
            continue
        last = s.t
        gw = (
            f"{s.gateway.rss_mib:.0f} / {s.gateway.threads} / {s.gateway.fds}" if s.gateway else "-"
        )
        sv = f"{s.serving.rss_mib:.0f}" if s.serving else "down"
        store = "-" if s.job_store_bytes is None else f"{s.job_store_bytes / 2**20:.1f}"
        out.append(f"- {s.t:.0f} s: {gw}; {sv}; {store}; {s.upload_files}, {s.job_media_files}")
    return out


def summary(result: SoakResult) -> str:
    """One line for the terminal."""
    ok = sum(1 for o in result.outcomes if o.kind in VALID_KINDS and o.status == 200)
    gw = result.stats.get("gateway", {})
    fds = "/".join(str(s.fds) for s in gw.values())
    return (
        f"soak: {len(result.outcomes)} requests in {result.wall_s:.0f} s, {ok} valid 200 "
        f"(p50 {_ms(result.valid_latency_ms(50))} ms, p99 {_ms(result.valid_latency_ms(99))} ms), "
        f"undocumented 5xx {len(result.undocumented_5xx)}, failed valid "
        f"{len(result.failed_valid)}, temp files left {len(result.temp_files_left)}, "
        f"gateway fds start/end/settled {fds}"
    )


def run_meta() -> dict[str, str]:
    """When, on which commit and on how loaded a machine the soak ran."""
    import subprocess

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": commit,
        "cores": str(os.cpu_count()),
        "load average before": " / ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def write(results_dir: Path, text: str, stamp: str) -> Path:
    """Write ``soak-<stamp>.md`` and ``soak-latest.md``; return the first."""
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"soak-{stamp}.md"
    for target in (path, results_dir / "soak-latest.md"):
        tmp = target.with_suffix(".md.tmp")
        tmp.write_text(text)
        tmp.rename(target)
    return path
