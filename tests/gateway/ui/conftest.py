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
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.conftest import GatewayHandle
from tests.gateway.ui.cdp import Cdp

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


def _wait_port(profile: Path, proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> int:
    # Chromium writes the port it chose (--remote-debugging-port=0) into the profile.
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"chromium exited with {proc.returncode}")
        if marker.exists() and (lines := marker.read_text().splitlines()):
            return int(lines[0])
        time.sleep(0.1)
    raise AssertionError(f"chromium wrote no DevToolsActivePort in {timeout_s} s")


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


@pytest.fixture(scope="module")
def browser(gateway: GatewayHandle) -> Iterator[Browser]:
    """Headless Chromium trusting the test gateway's certificate (only that one)."""
    binary = shutil.which("chromium")
    if binary is None:
        # Never skipped: `make test` installs it (make chromium).
        pytest.fail("chromium not found: run `make chromium` first", pytrace=False)
    profile = Path(tempfile.mkdtemp(prefix="ui-chromium-"))
    args = [
        binary,
        "--headless=new",
        "--remote-debugging-port=0",
        "--remote-debugging-address=127.0.0.1",
        f"--user-data-dir={profile}",
        f"--ignore-certificate-errors-spki-list={spki_sha256(gateway.cafile)}",
        f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--mute-audio",
        "about:blank",
    ]
    if os.geteuid() == 0:
        args.insert(1, "--no-sandbox")  # Chromium's sandbox refuses to run as root
    log = (profile / "chromium.log").open("wb")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        port = _wait_port(profile, proc)
        yield Browser(proc, port, profile)
    finally:
        _stop(proc)
        log.close()
        shutil.rmtree(profile, ignore_errors=True)
    deadline = time.monotonic() + 5
    while (left := _alive_in_group(proc.pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"chromium processes left running: {left}"
