"""A job's verdict as a C2PA manifest signed by the real gateway, read back by c2pa itself."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest
from deepfake_client import AsyncClient, Client, errors

from gateway.api.jobs_manifest import MEDIA_TYPE, VERDICT_LABEL, sniff_media_type
from gateway.pipeline.provenance import c2pa_settings
from tests.conftest import GatewayHandle, ServingHandle
from tests.content_credentials import SigningCredentials, flip_media_bytes, make_credentials

pytestmark = pytest.mark.slow


def _finished_job(client: httpx.Client, clip: Path) -> dict:
    accepted = client.post(
        "/v1/jobs", headers={"Content-Type": "video/mp4"}, content=clip.read_bytes()
    )
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["id"]
    deadline = time.monotonic() + 60
    while (job := client.get(f"/v1/jobs/{job_id}").json())["status"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    assert job["status"] == "succeeded", job
    return job


def _read(media: Path, sidecar: bytes, anchors_pem: str) -> tuple[dict, str]:
    import c2pa

    context = c2pa.Context.from_dict(c2pa_settings(anchors_pem))
    with (
        open(media, "rb") as stream,
        c2pa.Reader("video/mp4", stream, manifest_data=sidecar, context=context) as reader,
    ):
        return json.loads(reader.json()), reader.get_validation_state()


@pytest.fixture
def credentials(tmp_path: Path) -> tuple[SigningCredentials, dict[str, str]]:
    """A test CA's signing certificate, and the settings that sign with it."""
    made = make_credentials("Verdict Signer", organization="Detection Service")
    cert, key = tmp_path / "sign.pem", tmp_path / "sign.key"
    cert.write_bytes(made.chain_pem)
    key.write_bytes(made.key_pem)
    return made, {"GATEWAY_C2PA_SIGN_CERT": str(cert), "GATEWAY_C2PA_SIGN_KEY": str(key)}


def test_a_kept_job_verdict_is_a_signed_manifest_of_its_media(
    serving: ServingHandle, gateway_factory, make_clip, tmp_path: Path, credentials
) -> None:
    credentials, env = credentials
    gw = gateway_factory(serving.target, GATEWAY_JOB_KEEP_MEDIA="true", **env)
    clip = make_clip(frames=8, width=160, height=120)
    with gw.client(headers=gw.auth()) as client:
        job = _finished_job(client, clip)
        answer = client.get(f"/v1/jobs/{job['id']}/manifest")
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == MEDIA_TYPE
        # Only the owner's key sees it.
        other = client.get(
            f"/v1/jobs/{job['id']}/manifest", headers={"Authorization": "Bearer nope"}
        )
        assert other.status_code in (401, 403)
        missing = client.get("/v1/jobs/nope/manifest")
        assert (missing.status_code, missing.json()["error"]["code"]) == (404, "job_not_found")

    store, state = _read(clip, answer.content, credentials.ca_pem.decode())
    assert state == "Trusted", store.get("validation_results")
    manifest = store["manifests"][store["active_manifest"]]
    (verdict,) = [a["data"] for a in manifest["assertions"] if a["label"] == VERDICT_LABEL]
    result = job["result"]
    assert (verdict["verdict"], verdict["score"]) == (result["verdict"], result["score"])
    assert verdict["threshold"] == result["threshold"]
    assert verdict["model"]["name"] == result["model"]["name"]
    assert verdict["model"]["version"] == result["model"]["version"]
    assert verdict["receipt"] == result["receipt"]
    assert verdict["media"]["sha256"] == job["input"]["sha256"]
    assert verdict["job_id"] == job["id"]
    assert manifest["signature_info"]["common_name"] == "Verdict Signer"

    # The SDK downloads one too (signed anew: its signing time differs).
    with Client(gw.url, api_key=gw.api_key, ca_cert=gw.cafile) as sdk:
        sidecar = sdk.jobs.manifest(job["id"])
    again, state = _read(clip, sidecar, credentials.ca_pem.decode())
    assert state == "Trusted"
    (verdict_again,) = [
        a["data"]
        for a in again["manifests"][again["active_manifest"]]["assertions"]
        if a["label"] == VERDICT_LABEL
    ]
    assert verdict_again["score"] == result["score"]

    # The manifest is bound to these bytes: other bytes fail its hash.
    changed = flip_media_bytes(clip, tmp_path / "changed.mp4")
    _, state = _read(changed, answer.content, credentials.ca_pem.decode())
    assert state == "Invalid"


def test_without_the_setting_there_is_no_manifest(gateway: GatewayHandle, make_clip) -> None:
    with gateway.client(headers=gateway.auth()) as client:
        job = _finished_job(client, make_clip(frames=4))
        answer = client.get(f"/v1/jobs/{job['id']}/manifest")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "manifest_unavailable"
    with (
        Client(gateway.url, api_key=gateway.api_key, ca_cert=gateway.cafile) as sdk,
        pytest.raises(errors.ManifestUnavailable),
    ):
        sdk.jobs.manifest(job["id"])

    async def download() -> bytes:
        async with AsyncClient(
            gateway.url, api_key=gateway.api_key, ca_cert=gateway.cafile
        ) as client:
            return await client.jobs.manifest(job["id"])

    with pytest.raises(errors.ManifestUnavailable):
        asyncio.run(download())


def test_media_not_kept_is_gone(
    serving: ServingHandle, gateway_factory, make_clip, credentials
) -> None:
    gw = gateway_factory(serving.target, **credentials[1])
    with gw.client(headers=gw.auth()) as client:
        job = _finished_job(client, make_clip(frames=4))
        answer = client.get(f"/v1/jobs/{job['id']}/manifest")
    assert (answer.status_code, answer.json()["error"]["code"]) == (410, "job_media_gone")


def test_only_formats_c2pa_binds_to_are_signed() -> None:
    assert sniff_media_type(b"\xff\xd8\xff\xe0" + bytes(8)) == "image/jpeg"
    assert sniff_media_type(b"\x89PNG\r\n\x1a\n" + bytes(4)) == "image/png"
    assert sniff_media_type(b"RIFF\0\0\0\0WEBP") == "image/webp"
    assert sniff_media_type(b"\0\0\0\x18ftypisom") == "video/mp4"
    assert sniff_media_type(b"\0\0\0\x14ftypqt  ") == "video/quicktime"
    assert sniff_media_type(b"\x1aE\xdf\xa3" + bytes(8)) is None  # WebM
