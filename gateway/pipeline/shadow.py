"""Shadow canary: a second version scores sampled detections after their answer is sent.

``GATEWAY_SHADOW_MODEL`` names the shadow (a version number or a label). A sampled
``/v1/detect`` request, or a sampled job, hands its media to :class:`ShadowCanary` once its
own answer is ready (through :func:`hand_over`, both of them); the entry waits in a bounded
queue until the answer has been sent (a job's: until its end is recorded), then one
background worker (``GATEWAY_SHADOW_WORKERS``) scores the same file with the shadow
version and compares the two:

* verdicts differ, or video scores differ by more than ``GATEWAY_SHADOW_SCORE_DELTA``:
  ``disagree``, with a line in ``$GATEWAY_VAR_DIR/shadow/disagreements.jsonl`` and in the log;
* otherwise ``agree``; a shadow run that raises is ``failed``; an entry the full queue (or
  the shutdown) turns away is ``dropped``.

Each outcome is counted in ``gateway_shadow_total{primary,shadow,outcome}`` and in the
totals ``GET /v1/models`` shows. The user's request or job never waits for any of it and
never fails because of it: the hand-off is a non-blocking put, and a shadow run takes no
admission slot (its cost is bounded by the worker count and the sample rate instead).

The canary owns an accepted file and removes it once the shadow run ends, when the entry
is dropped, and at shutdown; :func:`hand_over` removes every file the canary did not accept.
A job's file is a plaintext copy of its encrypted media, moved out of the worker's working
copies first (see :meth:`gateway.jobs.media.MediaStore.release_copy`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .. import metrics
from ..logs import request_id_var
from ..settings import Settings
from ..shadow_schemas import ShadowStatus
from ..upstream.serving_client import ServingClient
from ..upstream.serving_types import ModelRef
from .detection import DetectionPipeline
from .detection_types import DetectionResult, DetectOptions
from .timing import StageTimer

log = logging.getLogger(__name__)

#: Outcomes of one sampled request, the ``outcome`` label of ``gateway_shadow_total``.
AGREE, DISAGREE, FAILED, DROPPED = "agree", "disagree", "failed", "dropped"

#: Longest wait for the user's answer to be sent before the shadow run starts anyway (a
#: failed send never says so).
SEND_GRACE_S = 5.0


def shadow_model_ref(model_name: str, configured: str) -> ModelRef:
    """The shadow as Serving is asked for it: digits are a version, anything else a label."""
    if configured.isdigit():
        return ModelRef(model_name, version=int(configured))
    return ModelRef(model_name, label=configured)


@dataclass(frozen=True)
class Answer:
    """What one version answered for a video: the part the comparison looks at."""

    version: int
    score: float
    verdict: str

    @classmethod
    def of(cls, result: DetectionResult) -> Answer:
        return cls(result.version, result.verdict.score, result.verdict.verdict)


def disagrees(primary: Answer, shadow: Answer, score_delta: float) -> bool:
    """Whether two answers disagree: other verdicts, or scores further apart than the delta."""
    return primary.verdict != shadow.verdict or abs(primary.score - shadow.score) > score_delta


class _QuietTimer(StageTimer):
    """A stage timer that observes nothing: shadow runs stay out of the user's latency
    histograms."""

    def add(self, name: str, seconds: float) -> None:
        self.ms[name] = self.ms.get(name, 0.0) + seconds * 1000.0


@dataclass
class _Entry:
    path: Path
    opts: DetectOptions
    primary: Answer
    request_id: str
    #: The job whose media this is; None for a ``/v1/detect`` upload.
    job_id: str | None = None
    sent: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class _Totals:
    agreements: int = 0
    disagreements: int = 0
    failed: int = 0
    dropped: int = 0


class ShadowCanary:
    """The bounded queue and workers that score sampled uploads with the shadow version."""

    def __init__(
        self,
        pipeline: DetectionPipeline,
        shadow: ModelRef,
        *,
        configured: str,
        sample_rate: float,
        queue_size: int,
        score_delta: float,
        workers: int,
        timeout_s: float,
        log_path: Path,
        own_client: ServingClient | None = None,
        sample: Callable[[], float] = random.random,
    ) -> None:
        """``own_client``: a Serving client for the shadow alone, closed by :meth:`stop`."""
        self.pipeline = pipeline
        self.shadow = shadow
        self.configured = configured
        self.sample_rate = sample_rate
        self.score_delta = score_delta
        self.timeout_s = timeout_s
        self.log_path = log_path
        self._workers_wanted = workers
        self._own_client = own_client
        self._sample = sample
        self._queue: asyncio.Queue[_Entry] = asyncio.Queue(maxsize=queue_size)
        self._workers: list[asyncio.Task[None]] = []
        self._closed = False
        self._totals = _Totals()
        #: The version the shadow last answered with (a label's current version).
        self._last_version: int | None = shadow.version

    def start(self) -> None:
        """Start the background workers (inside the running event loop)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._workers = [
            asyncio.create_task(self._work(), name=f"shadow-{i}")
            for i in range(self._workers_wanted)
        ]

    async def stop(self) -> None:
        """Stop the workers, drop what is queued and remove every file the canary holds."""
        self._closed = True
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        dropped = 0
        while not self._queue.empty():
            entry = self._queue.get_nowait()
            self._count(entry.primary.version, self._shadow_name(), DROPPED)
            _remove(entry.path)
            dropped += 1
        metrics.SHADOW_QUEUED.set(0)
        if dropped:
            log.info("shadow runs dropped at shutdown", extra={"count": dropped})
        if self._own_client is not None:
            await self._own_client.close()

    def offer(
        self,
        path: Path,
        opts: DetectOptions,
        result: DetectionResult,
        *,
        job_id: str | None = None,
    ) -> Callable[[], None] | None:
        """Hand a scored file over for a shadow run, without waiting.

        Returns None when the canary did not take the file (not sampled, the primary is the
        shadow version itself, or the queue is full: ``dropped``); the caller then removes
        it (:func:`hand_over` does). Otherwise the canary owns the file, and the caller calls
        the returned function once its answer has been sent. ``job_id`` names the job in the
        disagreement log.
        """
        if self._closed or self._sample() >= self.sample_rate:
            return None
        primary = Answer.of(result)
        if self.shadow.version is not None and self.shadow.version == primary.version:
            return None  # a version compared with itself says nothing
        entry = _Entry(
            path,
            dataclasses.replace(opts, model=self.shadow, explain=False),
            primary,
            request_id_var.get(),
            job_id,
        )
        try:
            self._queue.put_nowait(entry)
        except asyncio.QueueFull:
            self._count(primary.version, self._shadow_name(), DROPPED)
            log.info("shadow queue full, run dropped", extra={"primary": primary.version})
            return None
        metrics.SHADOW_QUEUED.set(self._queue.qsize())
        return entry.sent.set

    def status(self) -> ShadowStatus:
        """The shadow and its agreement with the answers so far (this process only)."""
        t = self._totals
        compared = t.agreements + t.disagreements
        return ShadowStatus(
            model=self.configured,
            version=self._last_version,
            label=self.shadow.label,
            sample_rate=self.sample_rate,
            score_delta=self.score_delta,
            compared=compared,
            agreements=t.agreements,
            disagreements=t.disagreements,
            failed=t.failed,
            dropped=t.dropped,
            agreement_rate=round(t.agreements / compared, 4) if compared else None,
        )

    async def _work(self) -> None:
        while True:
            entry = await self._queue.get()
            metrics.SHADOW_QUEUED.set(self._queue.qsize())
            token = request_id_var.set(entry.request_id)
            try:
                await self._run(entry)
            except asyncio.CancelledError:
                # Shutdown: the run neither compared nor failed.
                self._count(entry.primary.version, self._shadow_name(), DROPPED)
                raise
            finally:
                request_id_var.reset(token)
                _remove(entry.path)

    async def _run(self, entry: _Entry) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(entry.sent.wait(), SEND_GRACE_S)
        try:
            result = await self.pipeline.detect(
                entry.path,
                entry.opts,
                deadline_s=self.timeout_s,
                timer=_QuietTimer(),
                read_credentials=False,
                count_verdict=False,
            )
        except Exception as exc:  # whatever went wrong, the shadow's failure is only counted
            self._count(entry.primary.version, self._shadow_name(), FAILED)
            log.warning(
                "shadow run failed",
                extra={
                    "job_id": entry.job_id,
                    "primary": entry.primary.version,
                    "shadow": self._shadow_name(),
                    "error": type(exc).__name__,
                    "detail": str(exc)[:200],
                },
            )
            return
        shadow = Answer.of(result)
        self._last_version = shadow.version
        if shadow.version == entry.primary.version:
            return  # a label resolved to the version that answered: nothing to compare
        if not disagrees(entry.primary, shadow, self.score_delta):
            self._count(entry.primary.version, str(shadow.version), AGREE)
            return
        self._count(entry.primary.version, str(shadow.version), DISAGREE)
        record: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "request_id": entry.request_id,
            "primary": dataclasses.asdict(entry.primary),
            "shadow": dataclasses.asdict(shadow),
            "score_delta": round(shadow.score - entry.primary.score, 6),
            "verdict_changed": shadow.verdict != entry.primary.verdict,
        }
        if entry.job_id is not None:
            record["job_id"] = entry.job_id
        log.warning("shadow disagrees", extra={"disagreement": record})
        await asyncio.to_thread(_append_line, self.log_path, record)

    def _shadow_name(self) -> str:
        """The ``shadow`` label of a run that got no answer: the version, or the label."""
        return str(self.shadow.version) if self.shadow.version is not None else self.configured

    def _count(self, primary: int, shadow: str, outcome: str) -> None:
        metrics.SHADOW.labels(primary=str(primary), shadow=shadow, outcome=outcome).inc()
        t = self._totals
        if outcome == AGREE:
            t.agreements += 1
        elif outcome == DISAGREE:
            t.disagreements += 1
        elif outcome == FAILED:
            t.failed += 1
        else:
            t.dropped += 1


def hand_over(
    shadow: ShadowCanary | None,
    path: Path,
    opts: DetectOptions,
    result: DetectionResult,
    *,
    job_id: str | None = None,
) -> Callable[[], None] | None:
    """Offer a scored file to the shadow canary, or remove it: either way the caller no
    longer owns ``path``.

    Returns what to call once the answer is out (sent, or the job's end recorded) when the
    canary took the file; None when the file was removed (no shadow, not sampled, dropped).
    """
    taken = shadow.offer(path, opts, result, job_id=job_id) if shadow is not None else None
    if taken is None:
        _remove(path)
    return taken


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


def _append_line(path: Path, record: dict[str, object]) -> None:
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(record, sort_keys=True) + "\n")


def shadow_canary_from(settings: Settings, pipeline: DetectionPipeline) -> ShadowCanary | None:
    """The canary ``settings`` describe (``GATEWAY_SHADOW_*``); None without a shadow.

    The shadow scores through ``pipeline``'s client, or through a client of its own when
    ``GATEWAY_SHADOW_SERVING_TARGET`` names other Serving hosts.
    """
    if settings.shadow_model is None:
        return None
    own_client = None
    if settings.shadow_serving_targets:
        own_client = ServingClient.from_settings(settings, settings.shadow_serving_targets)
    # Decoded on one thread: a shadow run's CPU is the users' answers' loss.
    shadow_pipeline = pipeline.with_client(own_client or pipeline.client, threaded_decode=False)
    return ShadowCanary(
        shadow_pipeline,
        shadow_model_ref(settings.model_name, settings.shadow_model),
        configured=settings.shadow_model,
        sample_rate=settings.shadow_sample_rate,
        queue_size=settings.shadow_queue,
        score_delta=settings.shadow_score_delta,
        workers=settings.shadow_workers,
        timeout_s=settings.request_timeout_s,
        log_path=settings.var_dir / "shadow" / "disagreements.jsonl",
        own_client=own_client,
    )
