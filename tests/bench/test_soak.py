"""A short soak: every input kind at once (uploads, jobs, live sessions), well over the
admission limit, with a hot swap and Serving and the job store restarted."""

from __future__ import annotations

import pytest

from bench.soak import run_soak
from bench.soak_mix import VALID_KINDS
from bench.soak_result import problems

pytestmark = pytest.mark.slow

SECONDS = 35.0
CLIENTS = 16
#: Open descriptors the gateway may hold above its start once the load is gone.
FD_MARGIN = 4


def test_short_soak_stays_clean() -> None:
    result = run_soak(SECONDS, CLIENTS, hot_swap=True, restarts=True, job_clients=2)

    assert result.outcomes, "no request was sent"
    for kind in VALID_KINDS:
        assert any(o.kind == kind and o.status == 200 for o in result.outcomes), kind
    assert not result.undocumented_5xx, [(o.kind, o.status) for o in result.undocumented_5xx]
    assert not result.unparsed, [(o.kind, o.status) for o in result.unparsed[:20]]
    assert not result.failed_valid, [(o.status, o.answer) for o in result.failed_valid[:20]]
    assert not result.temp_files_left, result.temp_files_left
    assert result.versions.get(2), "the version published mid-soak never answered"
    # Every job accepted ended, each announced by exactly one webhook message.
    jobs = result.jobs
    assert jobs is not None and sum(jobs.final.values()) > 0, jobs
    assert jobs.final["succeeded"] > 0, jobs
    # Live sessions streamed beside the uploads, each ended with its summary or a
    # documented code, and their frames were scored.
    live = result.live
    assert live is not None and live.completed > 0 and live.frames_scored > 0, live
    assert live.undocumented == {}, live
    assert problems(result) == []
    assert len(result.samples) >= 10
    for name, moments in result.stats.items():
        assert moments["settled"].fds <= moments["start"].fds + FD_MARGIN, (name, moments)
