"""Replaying a job with another version, through the real gateway, Serving, SDK and CLI."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from deepfake_client import Client
from deepfake_client.errors import JobMediaGone, JobNotFound

from tests.clients.conftest import DEEPFAKE, cli_env
from tests.conftest import MODEL_NAME, GatewayHandle, start_serving, wait_for
from tests.tiny_model import export_tiny_model

pytestmark = pytest.mark.slow


@pytest.fixture
def two_versions(tmp_path: Path):
    """A Serving process with versions 1 and 2 of two different tiny models."""
    base = tmp_path / "models"
    export_tiny_model(base, MODEL_NAME, version=1, seed=1)
    export_tiny_model(base, MODEL_NAME, version=2, seed=2)
    config = tmp_path / "models.config"
    config.write_text(
        "model_config_list {\n  config {\n"
        f'    name: "{MODEL_NAME}"\n    base_path: "{base / MODEL_NAME}"\n'
        '    model_platform: "tensorflow"\n'
        "    model_version_policy { specific { versions: 1 versions: 2 } }\n  }\n}\n"
    )
    serving = start_serving(
        base / MODEL_NAME, tmp_path / "serving.log", extra=(f"--model_config_file={config}",)
    )
    yield serving
    serving.process.stop()


def sdk(gw: GatewayHandle) -> Client:
    return Client(gw.url, api_key=gw.api_key, ca_cert=gw.cafile)


def finished_job(client: Client, clip: Path, expiring: bool = False) -> str:
    job = client.jobs.create(clip, model_version=1, frames=4)
    ended = client.jobs.wait(job.id, timeout=120, raise_on_failure=False)
    assert ended.state in (("succeeded", "expired") if expiring else ("succeeded",)), ended
    return job.id


def test_a_kept_job_is_replayed_with_another_version_in_the_sdk_and_the_cli(
    two_versions, gateway_factory, make_clip
) -> None:
    gw = gateway_factory(two_versions.target, GATEWAY_JOB_KEEP_MEDIA="true")
    clip = make_clip(frames=8, width=160, height=120)
    with sdk(gw) as client:
        job_id = finished_job(client, clip)
        job = client.jobs.get(job_id)
        replay = client.jobs.replay(job_id, 2)
        assert replay.job_id == job_id
        assert replay.original == job.result
        assert (replay.original.model.version, replay.replay.model.version) == (1, 2)
        diff = replay.difference
        assert diff.score_delta == pytest.approx(replay.replay.score - replay.original.score, 1e-3)
        assert diff.score_delta != 0  # two seeds never score a clip alike
        assert diff.verdict_changed == (replay.replay.verdict != replay.original.verdict)
        assert [t.id for t in diff.tracks] == [t.id for t in replay.original.tracks]
        assert [p.t_s for p in diff.timeline] == [p.t_s for p in replay.original.timeline]
        for point, then, now in zip(
            diff.timeline, replay.original.timeline, replay.replay.timeline, strict=True
        ):
            assert (point.original, point.replay) == (then.score, now.score)
            assert point.delta == pytest.approx(now.score - then.score, abs=1e-3)
        # The job itself is unchanged, and may be replayed again.
        assert client.jobs.get(job_id).result == job.result
        assert client.jobs.replay(job_id, 1).difference.score_delta == 0
        with pytest.raises(JobNotFound):
            client.jobs.replay("nope", 2)

    result = subprocess.run(
        [str(DEEPFAKE), "jobs", "replay", job_id, "--model-version", "2"],
        env=cli_env(gw),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert f"Job {job_id}: version 1 -> 2" in result.stdout
    for row in ("verdict", "score", "track 0", "t="):
        assert row in result.stdout
    # No decrypted copy is left; the stored media goes with the job.
    assert not [p for p in (gw.var_dir / "uploads").iterdir()]
    media = gw.var_dir / "jobs" / "media"
    assert (media / f"{job_id}.enc").exists()
    with sdk(gw) as client:
        client.jobs.delete(job_id)
    assert not (media / f"{job_id}.enc").exists()


def test_media_not_kept_or_expired_is_gone(two_versions, gateway_factory, make_clip) -> None:
    clip = make_clip(frames=8, width=160, height=120)
    not_kept = gateway_factory(two_versions.target)
    with sdk(not_kept) as client:
        job_id = finished_job(client, clip)
        with pytest.raises(JobMediaGone) as info:
            client.jobs.replay(job_id, 2)
        assert info.value.status == 410 and "not kept" in str(info.value)

    expiring = gateway_factory(
        two_versions.target, GATEWAY_JOB_KEEP_MEDIA="true", GATEWAY_JOB_RETENTION="1"
    )
    with sdk(expiring) as client:
        job_id = finished_job(client, clip, expiring=True)
        wait_for(lambda: client.jobs.get(job_id).state == "expired", "the job expired")
        with pytest.raises(JobMediaGone) as info:
            client.jobs.replay(job_id, 2)
        assert "expired" in str(info.value)
    assert not os.listdir(expiring.var_dir / "jobs" / "media" / "work")
    assert not (expiring.var_dir / "jobs" / "media" / f"{job_id}.enc").exists()
