"""The fuzz targets in CI: every committed seed and saved crash in process, and a brief run each.

Replaying is fast and runs with the rest of the suite: a parser change that breaks on a
seed, or brings back a fixed crash, fails here with its traceback. The slow test runs each
target under atheris for a fixed number of executions (not seconds, so that it does the
same work on any machine) and asserts that libFuzzer found nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fuzz.registry import CRASHES, TARGETS
from tests.fuzz.runner import run_target

#: Executions per target in the slow test.
CI_RUNS = 2000


def _test_one_input(name: str) -> Callable[[bytes], None]:
    # In the suite's process TensorFlow may be (or become) loaded for other tests: the
    # targets run on whichever protos are there (the harness uses the gateway's own way).
    return importlib.import_module(TARGETS[name].module).TestOneInput


def _seeds(name: str) -> list[Path]:
    """The committed and generated seeds of target ``name``."""
    return sorted(
        p for folder in TARGETS[name].seed_folders() for p in folder.iterdir() if p.name[0] != "."
    )


def _inputs() -> list[tuple[str, Path]]:
    """(target, file) for every seed, and every saved crash (named ``<target>-...``)."""
    found = [(name, seed) for name in TARGETS for seed in _seeds(name)]
    for crash in sorted(CRASHES.glob("*-*")):
        found.append((crash.name.split("-", 1)[0], crash))
    return found


@pytest.mark.parametrize("name", list(TARGETS))
def test_every_target_has_seeds(name: str) -> None:
    assert _seeds(name), f"no seeds for {name}"


@pytest.mark.parametrize(
    ("name", "path"), _inputs(), ids=[f"{n}:{p.parent.name}/{p.name}" for n, p in _inputs()]
)
def test_input_replays(name: str, path: Path) -> None:
    _test_one_input(name)(path.read_bytes())


@pytest.mark.slow
@pytest.mark.parametrize("name", list(TARGETS))
def test_target_fuzzes_without_a_crash(name: str, tmp_path: Path) -> None:
    outcome = run_target(TARGETS[name], runs=CI_RUNS, work=tmp_path, crashes=tmp_path / "crashes")
    assert not outcome.crashed, outcome.log.read_text()[-4000:]
    assert outcome.executions >= CI_RUNS and outcome.cov > 0
