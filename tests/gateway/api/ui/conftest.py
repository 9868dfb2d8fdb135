"""A real headless Chromium (Debian's ``chromium``) for the web page's tests.

The browser trusts exactly the test gateway's certificate (its public key's SHA-256 in
``--ignore-certificate-errors-spki-list``), not every certificate; it runs in a process
group of its own, killed with its renderers on teardown.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.conftest import GatewayHandle
from tests.gateway.api.ui.cdp import Cdp

#: Browser window (and screenshot) width in CSS pixels.
VIEWPORT = (1280, 900)


def spki_sha256(cert_pem: Path) -> str:
    """Base64 SHA-256 of the certificate's SubjectPublicKeyInfo, as Chromium pins it."""
    cert = x509.load_pem_x509_certificate(cert_pem.read_bytes())
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@dataclass
class Browser:
    process: subprocess.Popen[bytes]
    port: int
    profile: Path

    def new_page(self) -> Cdp:
        """A fresh tab, as a DevTools session."""
        with httpx.Client(trust_env=False, timeout=10) as client:
            target = client.put(f"http://127.0.0.1:{self.port}/json/new?about:blank").json()
        return Cdp(target["webSocketDebuggerUrl"])

    def new_sized_page(self, domains: tuple[str, ...] = ("Page", "Runtime", "Log")) -> Cdp:
        """A fresh tab with ``domains`` enabled and the viewport at :data:`VIEWPORT`."""
        page = self.new_page()
        for domain in domains:
            page.call(f"{domain}.enable")
        page.call(
            "Emulation.setDeviceMetricsOverride",
            width=VIEWPORT[0], height=VIEWPORT[1], deviceScaleFactor=1, mobile=False,
        )  # fmt: skip
        return page


#: Seconds one start may take before it counts as hung (a cold first start on a loaded
#: 2-core machine takes a few seconds; a hang never ends).
START_TIMEOUT_S = 60.0
#: Starts tried, each with a fresh profile, before the fixture fails with what it saw.
START_ATTEMPTS = 2
_LISTENING = re.compile(rb"DevTools listening on ws://[^:/]+:(\d+)/")


def _browser_env(profile: Path) -> dict[str, str]:
    """The browser's environment: a home of its own, and no D-Bus to wait on.

    Chromium asks D-Bus (system bus, session bus, the secret service) on its main thread
    at start; a bus that exists but never answers holds it for the calls' timeouts. The
    test browser needs none of it, so both buses point at a path that refuses at once.
    """
    for name in ("home", "config", "cache"):
        (profile / name).mkdir(exist_ok=True)
    env = dict(os.environ)
    nowhere = f"unix:path={profile / 'no-bus'}"
    env.update(
        HOME=str(profile / "home"),
        XDG_CONFIG_HOME=str(profile / "config"),
        XDG_CACHE_HOME=str(profile / "cache"),
        DBUS_SESSION_BUS_ADDRESS=nowhere,
        DBUS_SYSTEM_BUS_ADDRESS=nowhere,
    )
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    return env


def _wait_port(profile: Path, log_path: Path, proc: subprocess.Popen[bytes]) -> int | None:
    """The DevTools port once Chromium has told it (file or log line); None on timeout."""
    # Chromium writes the port it chose (--remote-debugging-port=0) into the profile and
    # prints it; either one is enough.
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if marker.exists() and (lines := marker.read_text().splitlines()):
            return int(lines[0])
        if found := _LISTENING.search(log_path.read_bytes()):
            return int(found.group(1))
        if proc.poll() is not None:
            raise AssertionError(
                f"chromium exited with {proc.returncode} before listening\n"
                + _diagnosis(log_path, [])
            )
        time.sleep(0.1)
    return None


def _diagnosis(log_path: Path, group: list[int]) -> str:
    """What a failed start left: the log's tail and where each process of the group waits."""
    lines = log_path.read_bytes().decode(errors="replace").splitlines()
    report = ["chromium log (last 40 lines):", *lines[-40:]]
    for pid in group:
        proc_dir = Path("/proc") / str(pid)
        with contextlib.suppress(OSError):
            cmd = (proc_dir / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            state = (proc_dir / "stat").read_text().rsplit(")", 1)[1].split()[0]
            waits = sorted(
                {(task / "wchan").read_text() or "-" for task in (proc_dir / "task").iterdir()}
            )
            report.append(f"pid {pid} {cmd} state {state}, threads wait in {', '.join(waits)}")
    return "\n".join(report)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the browser, then kill what is left of its process group (renderers, GPU)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=5)


def _alive_in_group(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that still run (zombies waiting for a reaper do not)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid pgrp ...": comm may hold spaces, so split after ")".
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive


def _args(binary: str, profile: Path, spki: str, extra: Sequence[str] = ()) -> list[str]:
    """Chromium's command line: headless, trusting one key, quiet, on an ephemeral port;
    ``extra`` flags (a fake camera, say) before the first page."""
    args = [
        binary,
        "--headless=new",
        "--remote-debugging-port=0",
        "--remote-debugging-address=127.0.0.1",
        f"--user-data-dir={profile}",
        f"--ignore-certificate-errors-spki-list={spki}",
        f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-breakpad",
        # No keyring: the secret service is one more D-Bus conversation at start.
        "--password-store=basic",
        "--hide-scrollbars",
        "--mute-audio",
        *extra,
        "about:blank",
    ]
    if os.geteuid() == 0:
        args.insert(1, "--no-sandbox")  # Chromium's sandbox refuses to run as root
    return args


@contextlib.contextmanager
def chromium(gateway: GatewayHandle, extra_args: Sequence[str] = ()) -> Iterator[Browser]:
    """Headless Chromium trusting ``gateway``'s certificate (only that one), started with
    ``extra_args`` too; stopped with every process of its group on leaving."""
    binary = shutil.which("chromium")
    if binary is None:
        # Never skipped: `make test` installs it (make chromium).
        pytest.fail("chromium not found: run `make chromium` first", pytrace=False)
    failures = []
    for _attempt in range(START_ATTEMPTS):
        profile = Path(tempfile.mkdtemp(prefix="ui-chromium-"))
        log_path = profile / "chromium.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                _args(binary, profile, spki_sha256(gateway.cafile), extra_args),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_browser_env(profile),
                start_new_session=True,
            )
        try:
            port = _wait_port(profile, log_path, proc)
        except BaseException:
            _stop(proc)
            shutil.rmtree(profile, ignore_errors=True)
            raise
        if port is not None:
            break
        failures.append(
            f"no DevTools port in {START_TIMEOUT_S:.0f} s\n"
            + _diagnosis(log_path, _alive_in_group(proc.pid))
        )
        _stop(proc)
        shutil.rmtree(profile, ignore_errors=True)
    else:
        raise AssertionError(
            f"chromium did not start in {START_ATTEMPTS} attempts:\n" + "\n\n".join(failures)
        )
    try:
        yield Browser(proc, port, profile)
    finally:
        _stop(proc)
        shutil.rmtree(profile, ignore_errors=True)
    deadline = time.monotonic() + 5
    while (left := _alive_in_group(proc.pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"chromium processes left running: {left}"


@pytest.fixture(scope="module")
def browser(gateway: GatewayHandle) -> Iterator[Browser]:
    """Headless Chromium trusting the test gateway's certificate (only that one)."""
    with chromium(gateway) as started:
        yield started
