"""The stack's child processes: spawned without fork handlers, gone with their parent."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

from stack.processes import ManagedProcess

PRINT_ENV_AND_ARGS = "import os, sys; print(os.environ['PROBE'], sys.argv[1:])"
#: Set while a test wants to know whether a fork happened in this process.
_forks: list[int] | None = None


def _record_fork() -> None:
    if _forks is not None:
        _forks.append(os.getpid())


os.register_at_fork(before=_record_fork)


def test_children_are_spawned_without_running_fork_handlers(tmp_path: Path) -> None:
    """A ``fork()`` runs every atfork handler of the parent (gRPC's can deadlock); the
    spawn must not fork."""
    global _forks
    _forks = []
    try:
        child = ManagedProcess(
            "probe",
            [sys.executable, "-c", PRINT_ENV_AND_ARGS, "a b"],
            env={"PROBE": "through"},
            log_path=tmp_path / "probe.log",
        )
        assert child.proc.wait(30) == 0
    finally:
        forks, _forks = _forks, None
    assert forks == []
    # The command, its arguments and its environment arrive unchanged.
    assert child.log_tail() == "through ['a b']"
    child.stop()


def test_a_child_gets_sigterm_when_the_thread_that_started_it_ends(tmp_path: Path) -> None:
    started: list[ManagedProcess] = []

    def start() -> None:
        started.append(
            ManagedProcess(
                "sleeper",
                [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(120)"],
                log_path=tmp_path / "sleeper.log",
            )
        )
        # Running: the signal is armed before the command starts.
        while "up" not in started[0].log_tail():
            time.sleep(0.01)

    thread = threading.Thread(target=start)
    thread.start()
    thread.join(30)
    (child,) = started
    assert child.proc.wait(30) == -signal.SIGTERM
    child.stop()
