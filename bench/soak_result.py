"""What one soak measured: every request's outcome, the samples, the events, the jobs'
tally, and what of it counts as a problem."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from bench.soak_jobs import JobTally
from bench.soak_live import LiveTally
from bench.soak_mix import VALID_KINDS
from bench.soak_stack import ProcessStats
from bench.soak_timeline import Sample

#: Statuses a 5xx may have and still be documented (Serving unreachable, deadline).
DOCUMENTED_5XX = frozenset({503, 504})
#: Status 0: no HTTP answer (connection closed or reset before the response).
NO_ANSWER = 0
#: After Serving is AVAILABLE again, the gateway may answer 503 this much longer (its
#: channel reconnects at most a second apart).
OUTAGE_GRACE_S = 3.0


@dataclass(frozen=True)
class Outcome:
    """One request as the client saw it."""

    kind: str
    status: int
    latency_ms: float
    #: ``error.code`` of an error answer, ``verdict`` of a 200, else ``None`` (not JSON, or
    #: JSON of neither shape).
    answer: str | None
    version: int | None
    start_s: float


@dataclass
class SoakResult:
    """Everything one soak measured."""

    seconds: float
    clients: int
    max_in_flight: int
    max_queue: int
    outcomes: list[Outcome] = field(default_factory=list)
    #: Per process (``gateway``, ``serving``): ``start`` (after warm-up; Serving's again
    #: after its restart), ``end`` (as the load stops), ``settled`` (clients gone, a few
    #: seconds later).
    stats: dict[str, dict[str, ProcessStats]] = field(default_factory=dict)
    temp_files_left: list[str] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    #: (seconds into the load, what happened): hot swaps and restarts.
    events: list[tuple[float, str]] = field(default_factory=list)
    #: (from, to) seconds into the load while Serving was being restarted.
    outages: list[tuple[float, float]] = field(default_factory=list)
    swap_at_s: float | None = None
    swap_seen_after_s: float | None = None
    serving_restarted_at_s: float = 0.0
    jobs: JobTally | None = None
    live: LiveTally | None = None
    job_store: str = "sqlite"
    warmup_s: float = 0.0
    wall_s: float = 0.0
    #: ``time.monotonic()`` as the load started (outcomes' ``start_s`` are on that clock).
    t0: float = 0.0

    def by_kind_status(self) -> Counter[tuple[str, int]]:
        return Counter((o.kind, o.status) for o in self.outcomes)

    @property
    def undocumented_5xx(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status >= 500 and o.status not in DOCUMENTED_5XX]

    @property
    def unparsed(self) -> list[Outcome]:
        """Answers that are neither an error with a code nor a verdict."""
        return [o for o in self.outcomes if o.status != NO_ANSWER and o.answer is None]

    @property
    def no_answer(self) -> Counter[str]:
        return Counter(o.kind for o in self.outcomes if o.status == NO_ANSWER)

    def during_outage(self, o: Outcome) -> bool:
        """Whether request ``o`` overlapped a Serving restart (its grace included)."""
        begin = o.start_s - self.t0
        end = begin + o.latency_ms / 1000.0
        return any(begin <= hi + OUTAGE_GRACE_S and end >= lo for lo, hi in self.outages)

    @property
    def failed_valid(self) -> list[Outcome]:
        """Valid uploads answered neither 200 nor 429 (admission), nor 503 while Serving
        was restarted, or not answered."""
        return [
            o
            for o in self.outcomes
            if o.kind in VALID_KINDS
            and o.status not in (200, 429)
            and not (o.status == 503 and self.during_outage(o))
        ]

    def valid_latency_ms(self, q: float) -> float:
        values = [o.latency_ms for o in self.outcomes if o.kind in VALID_KINDS and o.status == 200]
        return float(np.percentile(values, q)) if values else float("nan")

    @property
    def versions(self) -> Counter[int]:
        return Counter(o.version for o in self.outcomes if o.version is not None)


def problems(result: SoakResult) -> list[str]:
    """What the soak found wrong, one line each (none: it held)."""
    checks: list[tuple[int, str]] = [
        (len(result.undocumented_5xx), "undocumented 5xx"),
        (len(result.failed_valid), "valid uploads failed"),
        (len(result.temp_files_left), "upload temp files left"),
        (len(result.unparsed), "answers neither an error code nor a verdict"),
    ]
    jobs = result.jobs
    if jobs is not None:
        checks += [
            (len(jobs.lost), f"jobs lost: {jobs.lost[:5]}"),
            (len(jobs.announced_twice), "jobs announced by two webhook messages"),
            (len(jobs.unannounced), "ended jobs without a webhook"),
            (len(jobs.wrong_status), "webhooks with another status than the job's"),
            (jobs.failed_without_code, "failed jobs without an error code"),
        ]
    live = result.live
    if live is not None:
        checks += [
            (sum(live.undocumented.values()), f"live sessions failed: {live.undocumented}"),
            (int(live.sessions == 0), "no live session ran"),
        ]
    return [f"{count} {what}" for count, what in checks if count]
