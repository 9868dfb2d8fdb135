"""Faults the gateway survives, produced for real: Serving gone, hanging or failing, disk full."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from stack.processes import ManagedProcess, free_port, serving_command
from tests.conftest import MODEL_NAME, REPO

pytestmark = pytest.mark.slow

#: Long enough for gRPC's reconnect backoff to grow well past the gateway's own retries.
OUTAGE_S = 15.0


def _start_serving_on(port: int, model_dir: Path, log_path: Path) -> ManagedProcess:
    return ManagedProcess(
        "serving", serving_command(port, MODEL_NAME, model_dir), log_path=log_path, cwd=REPO
    )


def _wait_listening(port: int, timeout_s: float) -> float:
    """Poll until something accepts TCP connections on ``port``; the time it first did."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return time.monotonic()
        except OSError:
            time.sleep(0.02)
    raise AssertionError(f"nothing listening on {port} after {timeout_s} s")


def test_recovers_within_2s_of_serving_listening(
    gateway_factory, model_base, make_clip, tmp_path, record_property
) -> None:
    port = free_port()
    serving = _start_serving_on(port, model_base / MODEL_NAME, tmp_path / "serving-1.log")
    _wait_listening(port, 120)
    gw = gateway_factory(f"127.0.0.1:{port}")
    clip = make_clip(frames=4, width=64, height=64)
    assert gw.detect(clip).status_code == 200
    serving.stop()
    # Clients keep asking during the outage; each failure is a 503 with Retry-After.
    outage_end = time.monotonic() + OUTAGE_S
    while time.monotonic() < outage_end:
        response = gw.detect(clip)
        assert response.status_code == 503, response.text
        assert int(response.headers["retry-after"]) > 0
        time.sleep(1.0)
    serving = _start_serving_on(port, model_base / MODEL_NAME, tmp_path / "serving-2.log")
    try:
        listening = _wait_listening(port, 120)
        while True:
            response = gw.detect(clip)
            recovered = time.monotonic() - listening
            if response.status_code == 200 or recovered > 30:
                break
            time.sleep(0.1)
        assert response.status_code == 200, response.text
        record_property("recovery_s", round(recovered, 2))
        assert recovered < 2.0, f"200 again only {recovered:.1f} s after Serving listened"
    finally:
        serving.stop()
