"""`make serve`: both programs come up, answer, and all stop on SIGTERM or SIGINT to make."""

from __future__ import annotations

import os
import re
import select
import signal
import ssl
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from stack.processes import free_port
from tests.conftest import MODEL_NAME, REPO

pytestmark = pytest.mark.slow


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _read_until(proc: subprocess.Popen, pattern: str, timeout_s: float) -> str:
    """Read make's output until ``pattern`` shows (raw reads: no buffer hides lines from select)."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    seen = ""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk and proc.poll() is not None:
                break
            seen += chunk.decode(errors="replace")
            if re.search(pattern, seen):
                return seen
    raise AssertionError(f"{pattern!r} not printed within {timeout_s} s:\n{seen}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_make_serve_prints_a_working_curl_and_stops_cleanly(
    model_base: Path, tmp_path: Path, make_clip, sig: int
) -> None:
    port, serving_port = free_port(), free_port()
    env = {
        **os.environ,
        "MODEL_BASE_PATH": str(model_base),
        "MODEL_NAME": MODEL_NAME,
        "GATEWAY_PORT": str(port),
        "SERVING_PORT": str(serving_port),
        "GATEWAY_VAR_DIR": str(tmp_path / "var"),
    }
    for key in ("GATEWAY_API_KEYS", "SERVING_TARGET", "GATEWAY_TLS_CERT", "GATEWAY_TLS_KEY"):
        env.pop(key, None)
    make = subprocess.Popen(
        ["make", "--no-print-directory", "serve"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # our own group, so SIGINT reaches only make
    )
    try:
        out = _read_until(make, r"Ctrl-C stops both", 180)
        key = re.search(r"API key:\s+(\S+)", out).group(1)
        assert key == (tmp_path / "var" / "api_key").read_text().strip()
        assert f"https://localhost:{port}" in out
        assert "curl --cacert" in out
        processes = _descendants(make.pid)
        assert len(processes) >= 3  # launcher, Serving, gateway

        clip = make_clip(frames=10)
        cafile = tmp_path / "var" / "tls" / "cert.pem"
        ctx = ssl.create_default_context(cafile=str(cafile))
        with httpx.Client(verify=ctx, timeout=60) as client:
            response = client.post(
                f"https://localhost:{port}/v1/detect",
                headers={"Authorization": f"Bearer {key}"},
                files={"video": ("clip.mp4", clip.read_bytes(), "video/mp4")},
            )
            assert response.status_code == 200, response.text
            # The page `make serve` names answers at that address, under its own policy.
            page_url = re.search(r"Web page:\s+(\S+)", out).group(1)
            page = client.get(page_url)
        assert page.status_code == 200 and "<html" in page.text.lower(), page.status_code
        assert "script-src 'self'" in page.headers["content-security-policy"]

        if sig == signal.SIGINT:
            os.killpg(make.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        else:
            make.send_signal(signal.SIGTERM)  # only to make itself
        make.wait(30)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(_alive(p) for p in processes):
            time.sleep(0.2)
        assert not [p for p in processes if _alive(p)], "processes left behind"
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
