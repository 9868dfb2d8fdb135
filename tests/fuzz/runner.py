"""Run fuzz targets under atheris in subprocesses, each for a time or a number of runs, and report.

Each target runs as ``python -m tests.fuzz.harness <target>`` with libFuzzer's limits from
:mod:`tests.fuzz.registry` (``-timeout`` per input, ``-rss_limit_mb``, ``-max_len``). New
corpus entries go to a scratch folder (the committed seeds are only read, unless
``into_corpus``); an input that crashes, hangs or runs out of memory is written by
libFuzzer under ``tests/fuzz/crashes/``. libFuzzer's own output is kept beside the scratch
corpus, and its figures (executions, ``cov:`` and ``ft:``) are read from it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.fuzz.registry import CRASHES, TARGETS, Target

REPO = Path(__file__).resolve().parents[2]
#: Scratch space for new corpus entries and logs (``var/`` is never committed).
DEFAULT_WORK = REPO / "var" / "fuzz"
_COVERAGE = re.compile(r"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+)", re.MULTILINE)
_EXECUTED = re.compile(r"stat::number_of_executed_units: (\d+)")
_ARTIFACT = re.compile(r"Test unit written to (\S+)")
_FAILURE = re.compile(r"ERROR: libFuzzer: (.+)|=== Uncaught Python exception: ===")


@dataclass(frozen=True)
class Outcome:
    """What one target's run reached."""

    target: str
    seconds: float
    executions: int
    cov: int
    ft: int
    exit_code: int
    #: What went wrong, in libFuzzer's words (None: no crash).
    failure: str | None
    #: Inputs libFuzzer saved for the failure.
    artifacts: tuple[str, ...]
    log: Path

    @property
    def crashed(self) -> bool:
        return self.failure is not None or self.exit_code != 0


def command(
    target: Target,
    *,
    seconds: int | None,
    runs: int | None,
    work: Path,
    into_corpus: bool,
    crashes: Path = CRASHES,
) -> list[str]:
    """The harness command line that fuzzes ``target`` for ``seconds`` or ``runs``, saving
    failing inputs under ``crashes``."""
    scratch = work / target.name / "corpus"
    scratch.mkdir(parents=True, exist_ok=True)
    crashes.mkdir(parents=True, exist_ok=True)
    # libFuzzer writes new inputs into the first folder it is given.
    seeds = target.seed_folders()
    folders = [*seeds, scratch] if into_corpus else [scratch, *seeds]
    args = [
        sys.executable,
        "-m",
        "tests.fuzz.harness",
        target.name,
        f"-timeout={target.timeout_s}",
        f"-rss_limit_mb={target.rss_limit_mb}",
        f"-max_len={target.max_len}",
        f"-artifact_prefix={crashes}/{target.name}-",
        "-print_final_stats=1",
    ]
    if runs is not None:
        args.append(f"-runs={runs}")
    if seconds is not None:
        args.append(f"-max_total_time={seconds}")
    return [*args, *map(str, folders)]


def parse(target: str, text: str, seconds: float, exit_code: int, log: Path) -> Outcome:
    """The figures of one run from libFuzzer's output ``text``."""
    coverage = _COVERAGE.findall(text)
    executed = _EXECUTED.findall(text)
    failure = _FAILURE.search(text)
    return Outcome(
        target=target,
        seconds=seconds,
        executions=int(executed[-1]) if executed else int(coverage[-1][0]) if coverage else 0,
        cov=max((int(c[1]) for c in coverage), default=0),
        ft=max((int(c[2]) for c in coverage), default=0),
        exit_code=exit_code,
        failure=(failure.group(1) or "uncaught Python exception") if failure else None,
        artifacts=tuple(_ARTIFACT.findall(text)),
        log=log,
    )


def run_target(
    target: Target,
    *,
    seconds: int | None = None,
    runs: int | None = None,
    work: Path = DEFAULT_WORK,
    into_corpus: bool = False,
    crashes: Path = CRASHES,
) -> Outcome:
    """Fuzz ``target`` in a subprocess until ``seconds`` or ``runs`` (or a crash)."""
    args = command(
        target, seconds=seconds, runs=runs, work=work, into_corpus=into_corpus, crashes=crashes
    )
    log = work / target.name / "libfuzzer.log"
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    started = time.monotonic()
    with log.open("w") as out:
        # The wall-clock bound is libFuzzer's; this one only stops a harness that hangs
        # before libFuzzer starts, or in a native call no -timeout can interrupt.
        limit = (seconds or 0) + 120 + (runs or 0) * target.timeout_s
        try:
            code = subprocess.run(
                args, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=limit
            ).returncode
        except subprocess.TimeoutExpired:
            code = -9
    elapsed = time.monotonic() - started
    return parse(target.name, log.read_text(errors="replace"), elapsed, code, log)


def report(outcomes: list[Outcome]) -> str:
    """A Markdown table of ``outcomes``."""
    lines = [
        "| target | seconds | executions | exec/s | cov | ft | result |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for o in outcomes:
        rate = o.executions / o.seconds if o.seconds else 0.0
        result = "no crash"
        if o.crashed:
            saved = ", ".join(o.artifacts) or f"see {o.log}"
            result = f"**{o.failure or f'exit {o.exit_code}'}**: {saved}"
        lines.append(
            f"| {o.target} | {o.seconds:.0f} | {o.executions:,} | {rate:,.0f} | {o.cov} | "
            f"{o.ft} | {result} |"
        )
    return "\n".join(lines) + "\n"


def names(choice: str) -> list[str]:
    """The targets ``choice`` stands for: one name, or ``all``."""
    if choice == "all":
        return list(TARGETS)
    if choice not in TARGETS:
        raise ValueError(f"unknown target {choice!r}: one of {', '.join(TARGETS)} or all")
    return [choice]
