"""The soak report's tables, rendered from a result built here (no soak is run)."""

from __future__ import annotations

from bench.live import SessionRun
from bench.soak_live import LiveOutcome, tally
from bench.soak_report import render
from bench.soak_result import Outcome, SoakResult
from bench.soak_stack import ProcessStats
from bench.soak_timeline import Sample


def _result() -> SoakResult:
    result = SoakResult(seconds=1200.0, clients=2, max_in_flight=4, max_queue=4)
    result.outcomes = [
        Outcome("valid", 200, 120.0, "real", 1, 1.0),
        Outcome("valid", 200, 80.0, "fake", 2, 2.0),
        Outcome("not_video", 415, 3.0, "unsupported_media_type", None, 3.0),
    ]
    result.stats = {"gateway": {"start": ProcessStats(180.0, 30, 40)}}
    # RSS rising 10 MiB per 600 s after the warm-up: +60 MiB per hour.
    result.warmup_s = 200.0
    result.samples = [
        Sample(t, ProcessStats(180.0 + t / 60.0, 30, 40), None, None, 0, 0)
        for t in range(0, 1201, 100)
    ]
    result.wall_s = 1200.0
    result.live = tally(
        [
            LiveOutcome(0.0, SessionRun(20.0, 100, 0, 100, 99, 1, [40.0, 60.0])),
            LiveOutcome(
                20.0, SessionRun(5.0, 20, 2, 20, 18, 0, [50.0], error="serving_unavailable")
            ),
        ]
    )
    return result


def test_the_tables_are_markdown_with_their_numbers_aligned_right() -> None:
    lines = render(_result(), {"commit": "abc"}).splitlines()
    kinds = lines.index("| kind | 200 | 415 |")
    assert lines[kinds + 1] == "|---|---:|---:|"
    assert "| **all** | 2 | 1 |" in lines
    processes = lines.index("| process | moment | RSS MiB | threads | open fds |")
    assert lines[processes + 1] == "|---|---|---:|---:|---:|"
    assert lines[processes + 2] == "| gateway | start | 180 | 30 | 40 |"
    growth = lines.index("| what | slope per hour | low | high | samples |")
    assert lines[growth + 1] == "|---|---:|---:|---:|---:|"
    assert lines[growth + 2].startswith("| gateway RSS | +60.0 MiB |")
    assert "- latency p50 / p95 / p99: 100 / 118 / 120 ms" in lines
    assert lines[lines.index("## Live sessions") + 2].startswith(
        "- sessions: 2, 1 ended with their summary; ended early, by code: "
        "{'serving_unavailable': 1}"
    )
    assert "- frames: 120 sent, 117 scored, 3 dropped (no credit, or by the gateway)" in lines
    assert "- frame-to-score latency p50 / p95 / max: 50 / 59 / 60 ms" in lines


def test_a_live_session_failing_with_an_undocumented_code_is_a_problem() -> None:
    from bench.soak_result import problems

    result = _result()
    assert problems(result) == []
    failing = SessionRun(3.0, 10, 0, 10, 9, 0, [], error="internal")
    result.live = tally([LiveOutcome(0.0, failing)])
    assert problems(result) == ["1 live sessions failed: {'internal': 1}"]
