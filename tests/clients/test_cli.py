"""The installed ``deepfake`` command, run as a subprocess against the real gateway."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from deepfake_client import webhooks

from tests.clients.conftest import DEEPFAKE, cli_env, gateway_has_jobs
from tests.conftest import GatewayHandle

OTHER = {"real": "fake", "fake": "real", "inconclusive": "fake"}
#: The commands that call the gateway, so take the connection options.
GATEWAY_COMMANDS = [
    "detect",
    "models",
    "jobs create",
    "jobs submit-url",
    "jobs get",
    "jobs wait",
    "jobs list",
    "jobs cancel",
    "jobs delete",
    "watch",
]


def test_detect_prints_a_table(deepfake, make_clip) -> None:
    clip = make_clip("street.mp4")
    run = deepfake("detect", str(clip), "--frames", "4")
    assert run.returncode == 0, run.stderr
    for column in ("verdict", "score", "threshold", "model", "tracks", "street.mp4"):
        assert column in run.stdout
    assert "deepfake v1" in run.stdout


def test_detect_robustness_shows_each_copy_beside_the_upload(deepfake, make_clip) -> None:
    clip = make_clip("hand.mp4", width=160, height=120)
    run = deepfake("detect", str(clip), "--frames", "4", "--robustness")
    assert run.returncode == 0, run.stderr
    assert "hand.mp4: robustness" in run.stdout and "verdicts flip" in run.stdout
    for copy in ("as uploaded", "crf23", "crf30", "crf38", "half", "mirror"):
        assert copy in run.stdout
    as_json = deepfake("detect", "--json", str(clip), "--frames", "4", "--robustness")
    probe = json.loads(as_json.stdout)[0]["result"]["robustness"]
    assert [t["name"] for t in probe["transforms"]] == ["crf23", "crf30", "crf38", "half", "mirror"]


def test_detect_json_and_fail_on_give_scripts_what_they_need(deepfake, make_clip) -> None:
    clips = [make_clip("a.mp4"), make_clip("b.mp4", seed=3)]
    run = deepfake("detect", "--json", *map(str, clips), "--frames", "4")
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert [Path(item["file"]).name for item in out] == ["a.mp4", "b.mp4"]
    verdicts = {item["result"]["verdict"] for item in out}
    assert verdicts <= {"real", "fake", "inconclusive"}
    found = next(iter(verdicts))
    hit = deepfake("detect", "--json", "--fail-on", found, *map(str, clips), "--frames", "4")
    assert hit.returncode == 1, hit.stderr
    absent = {"real", "fake", "inconclusive"} - verdicts
    if absent:
        miss = deepfake("detect", "--fail-on", absent.pop(), *map(str, clips), "--frames", "4")
        assert miss.returncode == 0, miss.stderr


def test_errors_exit_2_with_the_code(deepfake, gateway: GatewayHandle, tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"no video here" * 100)
    run = deepfake("detect", "--json", str(junk))
    assert run.returncode == 2
    assert json.loads(run.stdout)[0]["error"]["code"] == "invalid_video"
    bad_key = deepfake("models", env=cli_env(gateway, DEEPFAKE_API_KEY="wrong"))
    assert bad_key.returncode == 2 and "invalid_api_key" in bad_key.stderr


def test_usage_errors_exit_2(deepfake) -> None:
    assert deepfake("detect").returncode == 2
    assert deepfake("detect", "/no/such/file.mp4").returncode == 2
    assert deepfake("detect", "--fail-on", "maybe", "x").returncode == 2


def _flags(gateway: GatewayHandle) -> list[str]:
    """The connection options that reach ``gateway``."""
    return ["--url", gateway.url, "--api-key", gateway.api_key, "--ca-cert", str(gateway.cafile)]


def _wrong_env(gateway: GatewayHandle) -> dict[str, str]:
    """An environment whose connection variables do not reach ``gateway``."""
    env = cli_env(gateway, DEEPFAKE_URL="https://localhost:1", DEEPFAKE_API_KEY="wrong")
    env.pop("DEEPFAKE_CA_CERT")
    return env


def test_flags_override_the_environment(deepfake, gateway: GatewayHandle) -> None:
    run = deepfake(*_flags(gateway), "models", "--json", env=_wrong_env(gateway))
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["versions"][0]["state"] == "AVAILABLE"


def test_flags_after_the_command_name(deepfake, gateway: GatewayHandle, make_clip) -> None:
    env = _wrong_env(gateway)
    clip = str(make_clip())
    detected = deepfake("detect", clip, "--json", "--frames", "4", *_flags(gateway), env=env)
    assert detected.returncode == 0, detected.stderr
    assert json.loads(detected.stdout)[0]["result"]["verdict"] in ("real", "fake", "inconclusive")
    listed = deepfake("models", "--json", *_flags(gateway), env=env)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["versions"][0]["state"] == "AVAILABLE"
    jobs = deepfake("jobs", "list", "--json", *_flags(gateway), env=env)
    assert jobs.returncode == 0, jobs.stderr
    assert isinstance(json.loads(jobs.stdout), list)


def test_a_flag_after_the_command_name_wins(deepfake, gateway: GatewayHandle) -> None:
    wrong_before = ["--url", "https://localhost:1", "--api-key", "wrong"]
    right_after = deepfake(*wrong_before, "models", "--json", *_flags(gateway))
    assert right_after.returncode == 0, right_after.stderr
    wrong_after = deepfake(*_flags(gateway), "models", "--api-key", "wrong")
    assert wrong_after.returncode == 2 and "invalid_api_key" in wrong_after.stderr
    # Each setting on its own: the URL and CA from before the name, the key from after it.
    before = ["--url", gateway.url, "--ca-cert", str(gateway.cafile)]
    mixed = deepfake(*before, "models", "--api-key", gateway.api_key, env=_wrong_env(gateway))
    assert mixed.returncode == 0, mixed.stderr


@pytest.mark.parametrize("command", GATEWAY_COMMANDS)
def test_every_gateway_command_lists_the_connection_options(command: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEEPFAKE_")}
    run = subprocess.run(
        [str(DEEPFAKE), *command.split(), "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    text = " ".join(run.stdout.split())  # the help wraps lines
    for option, variable in [
        ("--url", "DEEPFAKE_URL"),
        ("--api-key", "DEEPFAKE_API_KEY"),
        ("--ca-cert", "DEEPFAKE_CA_CERT"),
    ]:
        assert f"{option} <" in text and f"env var: {variable}" in text, text
    assert "the one after wins" in text, text


def test_models_prints_the_versions(deepfake) -> None:
    run = deepfake("models")
    assert run.returncode == 0, run.stderr
    assert "AVAILABLE" in run.stdout and "0.5000" in run.stdout


def test_webhook_verify(deepfake, tmp_path: Path) -> None:
    secret = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
    body = b'{"type":"job.succeeded","data":{"id":"job_9"}}'
    stamp = int(time.time())
    headers = tmp_path / "headers.txt"
    headers.write_text(
        f"webhook-id: msg_9\nwebhook-timestamp: {stamp}\n"
        f"webhook-signature: {webhooks.sign('msg_9', stamp, body, secret)}\n"
    )
    (tmp_path / "body.json").write_bytes(body)
    args = ["--headers-file", str(headers), "--body-file", str(tmp_path / "body.json")]
    ok = deepfake("webhook", "verify", "--secret", secret, *args)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["data"]["id"] == "job_9"
    (tmp_path / "body.json").write_bytes(body + b" ")
    bad = deepfake("webhook", "verify", "--secret", secret, *args)
    assert bad.returncode == 1 and "no matching signature" in bad.stderr


def test_jobs_create_wait_get_delete(deepfake, gateway: GatewayHandle, live_openapi, make_clip):
    if not gateway_has_jobs(live_openapi):
        pytest.fail("the gateway under test has no /v1/jobs in its OpenAPI document")
    run = deepfake("jobs", "create", "--wait", "--json", str(make_clip()), "--frames", "4")
    assert run.returncode == 0, run.stderr
    job = json.loads(run.stdout)
    assert job["state"] == "succeeded" and job["result"]["verdict"]
    got = deepfake("jobs", "get", "--json", job["id"])
    assert got.returncode == 0 and json.loads(got.stdout)["id"] == job["id"]
    assert job["id"] in deepfake("jobs", "list").stdout
    assert deepfake("jobs", "delete", job["id"]).returncode == 0
    assert deepfake("jobs", "get", job["id"]).returncode == 2
