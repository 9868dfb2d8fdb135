"""A short soak: mixed valid, invalid and hostile uploads well over the admission limit."""

from __future__ import annotations

import pytest

from bench.soak import run_soak
from bench.soak_mix import VALID_KINDS

pytestmark = pytest.mark.slow

SECONDS = 35.0
CLIENTS = 16
#: Open descriptors the gateway may hold above its start once the load is gone.
FD_MARGIN = 4


def test_short_soak_stays_clean() -> None:
    result = run_soak(SECONDS, CLIENTS, hot_swap=True)

    assert result.outcomes, "no request was sent"
    ok = [o for o in result.outcomes if o.kind in VALID_KINDS and o.status == 200]
    assert ok, "no valid upload got a verdict"
    assert not result.undocumented_5xx, [(o.kind, o.status) for o in result.undocumented_5xx]
    assert not result.unparsed, [(o.kind, o.status) for o in result.unparsed[:20]]
    assert not result.failed_valid, [(o.status, o.answer) for o in result.failed_valid[:20]]
    assert not result.temp_files_left, result.temp_files_left
    assert result.versions.get(2), "the version published mid-soak never answered"
    for name, moments in result.stats.items():
        assert moments["settled"].fds <= moments["start"].fds + FD_MARGIN, (name, moments)
