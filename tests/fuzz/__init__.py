"""Coverage-guided fuzzing (atheris, libFuzzer) of every gateway parser that reads a client's bytes.

- ``targets``: one module per parser, each a ``TestOneInput(data: bytes)``
- ``registry``: the targets by name, with what each instruments and its libFuzzer limits
- ``harness``: runs one target under atheris (``python -m tests.fuzz.harness <target> ...``)
- ``runner``: runs targets in subprocesses for a time or a number of runs, and reports
- ``__main__``: ``python -m tests.fuzz <target|all> --seconds N``, the runner's command line
- ``make_seeds``: the seeds: text ones committed under ``corpus/<target>/``, binary media
  ones made on first use under ``var/fuzz/seeds/<target>/``
- ``test_seeds``: every target over its seeds in process, and briefly under atheris (slow)
"""
