"""Start, watch and stop the local stack's processes (also used by the tests)."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask Linux to SIGTERM this process when its parent dies (no orphans after ``kill make``)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


#: Run as ``python -S -c _ORPHAN_GUARD PARENT_PID COMMAND...``: arms the parent-death signal,
#: then becomes COMMAND (the signal survives the exec). Arming it in the child between fork
#: and exec (``preexec_fn``) would make ``subprocess`` use ``fork()``, whose atfork handlers
#: can deadlock a parent with gRPC threads (seen: a test process hung in gRPC's pre-fork
#: handler); without ``preexec_fn`` it spawns with ``vfork``, which runs no such handlers.
_ORPHAN_GUARD = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit(1)  # the parent died before the signal was armed\n"
    "os.execvp(sys.argv[2], sys.argv[2:])\n"
)


def dying_with_parent(args: Sequence[str]) -> list[str]:
    """``args`` wrapped so that the process gets SIGTERM when its parent (the thread that
    started it) dies; unchanged off Linux."""
    if not sys.platform.startswith("linux"):
        return list(args)
    return [sys.executable, "-S", "-c", _ORPHAN_GUARD, str(os.getpid()), *args]


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ManagedProcess:
    """A child process with its output in a log file."""

    def __init__(
        self,
        name: str,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        log_path: Path | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.args = list(args)
        self.log_path = log_path
        self._log = open(log_path, "ab") if log_path is not None else None  # noqa: SIM115
        self.proc = subprocess.Popen(
            dying_with_parent(self.args),
            env={**os.environ, **(env or {})},
            cwd=cwd,
            stdout=self._log if self._log else None,
            stderr=subprocess.STDOUT if self._log else None,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout_s: float = 15.0, sig: int = signal.SIGTERM) -> int:
        """Signal the process, wait, and kill it if it does not exit in time."""
        if self.alive():
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None
        return int(self.proc.returncode)


def serving_command(
    port: int, model_name: str, base_path: Path, extra: Sequence[str] = ()
) -> list[str]:
    """``python -m serving`` with TF Serving's flags."""
    return [
        sys.executable,
        "-m",
        "serving",
        f"--port={port}",
        f"--model_name={model_name}",
        f"--model_base_path={base_path}",
        *extra,
    ]


def gateway_command() -> list[str]:
    return [sys.executable, "-m", "gateway"]


def wait_https(
    url: str,
    cafile: Path,
    *,
    timeout_s: float,
    proc: ManagedProcess | None = None,
    client_cert: tuple[Path, Path] | None = None,
) -> None:
    """Poll ``url`` (verifying TLS against ``cafile``) until it answers 200."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{proc.name} exited early:\n{proc.log_tail()}")
        if cafile.exists():
            try:
                ctx = ssl.create_default_context(cafile=str(cafile))
                if client_cert is not None:
                    ctx.load_cert_chain(*client_cert)
                with urllib.request.urlopen(url, context=ctx, timeout=2) as response:
                    if response.status == 200:
                        return
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}"
            except (OSError, ssl.SSLError) as exc:
                last = str(exc)
        # A refused connection costs little; every start (tests start many) waits less.
        time.sleep(0.05)
    tail = proc.log_tail() if proc is not None else ""
    raise TimeoutError(f"{url} not ready after {timeout_s:.0f} s ({last})\n{tail}")
