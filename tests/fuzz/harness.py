"""Run one fuzz target under atheris: ``python -m tests.fuzz.harness <target> [libFuzzer args]``.

The target's module is imported with atheris's instrumentation of the packages the
registry names, so libFuzzer is guided by the coverage of the parser's Python code; the
rest of the arguments are libFuzzer's own (``-runs``, ``-max_total_time``, ``-timeout``,
``-rss_limit_mb``, ``-artifact_prefix``, corpus directories).
"""

from __future__ import annotations

import importlib
import logging
import sys

import atheris

from gateway._protos import use_protos_without_tensorflow_runtime
from tests.fuzz.registry import TARGETS


def main(argv: list[str]) -> None:
    """Fuzz the target named by ``argv[1]`` with libFuzzer's arguments ``argv[2:]``."""
    target = TARGETS[argv[1]]
    # As the gateway process starts: TF Serving's protos without TensorFlow's runtime.
    use_protos_without_tensorflow_runtime()
    # The parsers log every refusal; millions of lines would drown libFuzzer's report.
    logging.disable(logging.CRITICAL)
    with atheris.instrument_imports(include=list(target.instrument)):
        module = importlib.import_module(target.module)
    atheris.Setup([argv[0], *argv[2:]], module.TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
