"""The shadow canary's queue, outcomes and file ownership, with a stand-in pipeline.

The same behaviour through a real gateway and Serving is in ``tests/e2e/test_shadow.py``.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from gateway.errors import ModelNotFound
from gateway.pipeline.shadow import Answer, ShadowCanary, disagrees, hand_over, shadow_model_ref
from gateway.upstream.serving_types import ModelRef


def result(version: int, score: float, verdict: str) -> SimpleNamespace:
    """What the canary reads of a pipeline result."""
    return SimpleNamespace(version=version, verdict=SimpleNamespace(score=score, verdict=verdict))


class StandInPipeline:
    """Answers each shadow run with the next of ``answers`` once ``go`` is set."""

    def __init__(self, answers: list[object]) -> None:
        self.answers = answers
        self.go = asyncio.Event()
        self.started = 0

    async def detect(self, path: Path, opts: object, **kwargs: object) -> object:
        assert path.exists(), "the file must live until the shadow run ends"
        # A second opinion: no content credentials, no verdict in the user's metric.
        assert kwargs["read_credentials"] is False and kwargs["count_verdict"] is False
        self.started += 1
        await self.go.wait()
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def canary(pipeline: StandInPipeline, tmp_path: Path, **kwargs: object) -> ShadowCanary:
    options: dict[str, object] = {
        "configured": "2",
        "sample_rate": 1.0,
        "queue_size": 2,
        "score_delta": 0.1,
        "workers": 1,
        "timeout_s": 30.0,
        "log_path": tmp_path / "shadow" / "disagreements.jsonl",
        **kwargs,
    }
    return ShadowCanary(pipeline, ModelRef("deepfake", version=2), **options)  # type: ignore[arg-type]


def upload(tmp_path: Path, n: int) -> Path:
    path = tmp_path / f"upload-{n:08d}.video"
    path.write_bytes(b"x")
    return path


OPTS = SimpleNamespace()


@pytest.fixture(autouse=True)
def _replaceable_options(monkeypatch: pytest.MonkeyPatch) -> None:
    # The stand-in options are no dataclass: the shadow's copy of them is the same object.
    monkeypatch.setattr("gateway.pipeline.shadow.dataclasses.replace", lambda opts, **_: opts)


def test_verdicts_or_scores_apart_disagree() -> None:
    a = Answer(1, 0.40, "real")
    assert not disagrees(a, Answer(2, 0.45, "real"), 0.1)
    assert disagrees(a, Answer(2, 0.45, "fake"), 0.1)
    assert disagrees(a, Answer(2, 0.55, "real"), 0.1)


def test_digits_name_a_version_and_anything_else_a_label() -> None:
    assert shadow_model_ref("m", "3") == ModelRef("m", version=3)
    assert shadow_model_ref("m", "canary") == ModelRef("m", label="canary")


def test_outcomes_are_counted_and_disagreements_logged(tmp_path: Path) -> None:
    asyncio.run(_outcomes_are_counted_and_disagreements_logged(tmp_path))


async def _outcomes_are_counted_and_disagreements_logged(tmp_path: Path) -> None:
    pipeline = StandInPipeline(
        [result(2, 0.42, "real"), result(2, 0.9, "fake"), ModelNotFound("unloaded")]
    )
    shadow = canary(pipeline, tmp_path, queue_size=4)
    shadow.start()
    files = [upload(tmp_path, n) for n in range(3)]
    for path in files:
        sent = shadow.offer(path, OPTS, result(1, 0.4, "real"))  # type: ignore[arg-type]
        assert sent is not None
        sent()
    pipeline.go.set()
    while shadow.status().compared + shadow.status().failed < 3:
        await asyncio.sleep(0.01)
    await shadow.stop()
    status = shadow.status()
    assert (status.agreements, status.disagreements, status.failed) == (1, 1, 1)
    assert status.agreement_rate == 0.5
    assert not any(p.exists() for p in files)
    lines = [json.loads(x) for x in shadow.log_path.read_text().splitlines()]
    assert len(lines) == 1
    assert lines[0]["primary"] == {"version": 1, "score": 0.4, "verdict": "real"}
    assert lines[0]["shadow"] == {"version": 2, "score": 0.9, "verdict": "fake"}
    assert lines[0]["verdict_changed"] is True


def test_a_full_queue_drops_and_shutdown_removes_every_file(tmp_path: Path) -> None:
    asyncio.run(_a_full_queue_drops_and_shutdown_removes_every_file(tmp_path))


async def _a_full_queue_drops_and_shutdown_removes_every_file(tmp_path: Path) -> None:
    pipeline = StandInPipeline([])  # never answers: ``go`` is never set
    shadow = canary(pipeline, tmp_path, queue_size=2)
    shadow.start()
    taken = []
    first = upload(tmp_path, 0)
    sent = shadow.offer(first, OPTS, result(1, 0.4, "real"))  # type: ignore[arg-type]
    assert sent is not None
    sent()
    while pipeline.started == 0:
        await asyncio.sleep(0.01)
    taken.append(first)
    refused = []
    for n in range(1, 6):
        path = upload(tmp_path, n)
        if shadow.offer(path, OPTS, result(1, 0.4, "real")) is None:  # type: ignore[arg-type]
            refused.append(path)
        else:
            taken.append(path)
    # One running, two queued, the rest dropped; the caller keeps (and removes) those files.
    assert len(taken) == 3 and len(refused) == 3
    assert all(p.exists() for p in refused)
    assert shadow.status().dropped == 3
    await shadow.stop()
    assert not any(p.exists() for p in taken)
    assert shadow.status().dropped == 6
    assert shadow.offer(upload(tmp_path, 9), OPTS, result(1, 0.4, "real")) is None  # type: ignore[arg-type]


def test_unsampled_and_same_version_requests_are_not_taken(tmp_path: Path) -> None:
    asyncio.run(_unsampled_and_same_version_requests_are_not_taken(tmp_path))


async def _unsampled_and_same_version_requests_are_not_taken(tmp_path: Path) -> None:
    shadow = canary(StandInPipeline([]), tmp_path, sample_rate=0.5, sample=lambda: 0.7)
    assert shadow.offer(upload(tmp_path, 0), OPTS, result(1, 0.4, "real")) is None  # type: ignore[arg-type]
    same = canary(StandInPipeline([]), tmp_path)
    assert same.offer(upload(tmp_path, 1), OPTS, result(2, 0.4, "real")) is None  # type: ignore[arg-type]
    assert shadow.status().dropped == same.status().dropped == 0


def test_hand_over_removes_every_file_the_canary_does_not_take(tmp_path: Path) -> None:
    asyncio.run(_hand_over_removes_every_file_the_canary_does_not_take(tmp_path))


async def _hand_over_removes_every_file_the_canary_does_not_take(tmp_path: Path) -> None:
    # No canary at all, an unsampled request, and a full queue: the file is gone each time.
    alone = upload(tmp_path, 0)
    assert hand_over(None, alone, OPTS, result(1, 0.4, "real")) is None  # type: ignore[arg-type]
    assert not alone.exists()
    unsampled = canary(StandInPipeline([]), tmp_path, sample_rate=0.5, sample=lambda: 0.7)
    path = upload(tmp_path, 1)
    assert hand_over(unsampled, path, OPTS, result(1, 0.4, "real")) is None  # type: ignore[arg-type]
    assert not path.exists()
    full = canary(StandInPipeline([]), tmp_path, queue_size=1)  # not started: nothing runs
    kept = upload(tmp_path, 2)
    assert hand_over(full, kept, OPTS, result(1, 0.4, "real")) is not None  # type: ignore[arg-type]
    dropped = upload(tmp_path, 3)
    assert hand_over(full, dropped, OPTS, result(1, 0.4, "real")) is None  # type: ignore[arg-type]
    assert kept.exists() and not dropped.exists()
    assert full.status().dropped == 1
    await full.stop()
    assert not kept.exists()


def test_a_jobs_disagreement_names_the_job(tmp_path: Path) -> None:
    asyncio.run(_a_jobs_disagreement_names_the_job(tmp_path))


async def _a_jobs_disagreement_names_the_job(tmp_path: Path) -> None:
    pipeline = StandInPipeline([result(2, 0.9, "fake"), result(2, 0.9, "fake")])
    pipeline.go.set()
    shadow = canary(pipeline, tmp_path)
    shadow.start()
    for n, job_id in enumerate(["a" * 32, None]):
        sent = hand_over(shadow, upload(tmp_path, n), OPTS, result(1, 0.4, "real"), job_id=job_id)  # type: ignore[arg-type]
        assert sent is not None
        sent()
    while shadow.status().compared < 2:
        await asyncio.sleep(0.01)
    await shadow.stop()
    lines = [json.loads(x) for x in shadow.log_path.read_text().splitlines()]
    # A job's line carries its id; a /v1/detect request's has none to carry.
    assert sorted(x.get("job_id", "") for x in lines) == ["", "a" * 32]
