"""``python -m tests.fuzz <target|all> [--seconds N | --runs N]``: fuzz, then print the report.

Targets run one after another (``FUZZ_SECONDS`` each by default, 60); the report, a
Markdown table of executions, coverage (libFuzzer's ``cov:`` and ``ft:``) and crashes, is
printed and written to ``<work>/report.md``. Exits 1 when any target crashed.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tests.fuzz.registry import TARGETS
from tests.fuzz.runner import DEFAULT_WORK, names, report, run_target


def main(argv: list[str] | None = None) -> int:
    """Run the chosen targets and report; the exit status says whether any crashed."""
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__)
    parser.add_argument("target", choices=[*TARGETS, "all"])
    parser.add_argument(
        "--seconds",
        type=int,
        default=int(os.environ.get("FUZZ_SECONDS", "60")),
        help="seconds per target (FUZZ_SECONDS, default 60)",
    )
    parser.add_argument("--runs", type=int, help="executions per target instead of a time")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="scratch corpus and logs")
    parser.add_argument(
        "--into-corpus",
        action="store_true",
        help="add new inputs to the committed seeds instead of the scratch folder",
    )
    args = parser.parse_args(argv)
    outcomes = []
    for name in names(args.target):
        outcome = run_target(
            TARGETS[name],
            seconds=None if args.runs else args.seconds,
            runs=args.runs,
            work=args.work,
            into_corpus=args.into_corpus,
        )
        outcomes.append(outcome)
        print(report([outcome]).splitlines()[-1], flush=True)
    text = report(outcomes)
    args.work.mkdir(parents=True, exist_ok=True)
    (args.work / "report.md").write_text(text)
    print(text)
    return 1 if any(o.crashed for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
