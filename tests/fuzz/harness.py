"""Run one fuzz target under atheris: ``python -m tests.fuzz.harness <target> [libFuzzer args]``.

The target's module is imported with atheris's instrumentation of the packages the
registry names, so libFuzzer is guided by the coverage of the parser's Python code; the
rest of the arguments are libFuzzer's own (``-runs``, ``-max_total_time``, ``-timeout``,
``-rss_limit_mb``, ``-artifact_prefix``, corpus directories).
"""

from __future__ import annotations

import importlib
import logging
import resource
import sys

import atheris

from gateway.upstream._protos import use_protos_without_tensorflow_runtime
from tests.fuzz.registry import TARGETS


def _inherited_peak_mb() -> int:
    """The peak RSS this process reports before doing anything: Linux keeps a parent's
    high-water mark across fork and exec, so a harness started by a large process (the test
    suite) starts with that process's peak as its own."""
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with open("/proc/self/status") as status:
        own_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    return max(0, peak_kb - own_kb) // 1024


def _with_own_rss_limit(args: list[str]) -> list[str]:
    """``-rss_limit_mb=N`` raised by the inherited peak: libFuzzer compares the peak RSS the
    process reports, so without it a harness started by a large process is out of memory
    at its first check whatever it does. The limit then bounds this process's own growth."""
    inherited = _inherited_peak_mb()
    out = []
    for arg in args:
        if arg.startswith("-rss_limit_mb="):
            limit = int(arg.split("=", 1)[1])
            arg = f"-rss_limit_mb={limit + inherited}" if limit > 0 else arg
        out.append(arg)
    return out


def main(argv: list[str]) -> None:
    """Fuzz the target named by ``argv[1]`` with libFuzzer's arguments ``argv[2:]``."""
    args = _with_own_rss_limit(argv[2:])
    target = TARGETS[argv[1]]
    # As the gateway process starts: TF Serving's protos without TensorFlow's runtime.
    use_protos_without_tensorflow_runtime()
    # The parsers log every refusal; millions of lines would drown libFuzzer's report.
    logging.disable(logging.CRITICAL)
    with atheris.instrument_imports(include=list(target.instrument)):
        module = importlib.import_module(target.module)
    atheris.Setup([argv[0], *args], module.TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
