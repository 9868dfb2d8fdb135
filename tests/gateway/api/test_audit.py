"""One audit line per detect request: who sent what, and what came of it; never the content."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.conftest import wait_for

pytestmark = pytest.mark.slow


def _audit(gateway, request_id: str) -> list[dict]:  # type: ignore[no-untyped-def]
    """The audit records of ``request_id``, once its record is in the log (written just
    after the answer)."""

    def records() -> list[dict]:
        lines = (gateway.var_dir / "gateway.log").read_text().splitlines()
        parsed = [json.loads(line) for line in lines if line.startswith("{")]
        return [
            r
            for r in parsed
            if r.get("logger") == "gateway.audit" and r["request_id"] == request_id
        ]

    wait_for(lambda: bool(records()), f"the audit record of {request_id}")
    return records()


def test_audit_line_names_key_upload_and_verdict(gateway, make_clip) -> None:
    data = make_clip(frames=10).read_bytes()
    with gateway.client() as client:
        response = client.post(
            "/v1/detect",
            headers={**gateway.auth(), "Content-Type": "video/mp4", "X-Request-ID": "audit-ok"},
            content=data,
        )
    assert response.status_code == 200, response.text
    (record,) = _audit(gateway, "audit-ok")
    assert record["key_id"] == hashlib.sha256(gateway.api_key.encode()).hexdigest()[:12]
    assert record["client"].startswith("127.0.0.1")
    assert record["upload_bytes"] == len(data)
    assert record["sha256"] == hashlib.sha256(data).hexdigest()
    assert record["status"] == 200
    assert record["verdict"] == response.json()["verdict"]
    assert record["score"] == response.json()["score"]
    assert record["model_version"] == 1
    text = (gateway.var_dir / "gateway.log").read_text()
    assert gateway.api_key not in text


def test_audit_line_for_a_refused_request(gateway) -> None:
    with gateway.client() as client:
        client.post(
            "/v1/detect",
            headers={"Content-Type": "video/mp4", "X-Request-ID": "audit-nokey"},
            content=b"\0" * 10,
        )
        client.post(
            "/v1/detect",
            headers={**gateway.auth(), "Content-Type": "video/mp4", "X-Request-ID": "audit-bad"},
            content=b"\0" * 10,
        )
    (nokey,) = _audit(gateway, "audit-nokey")
    assert nokey["status"] == 401 and nokey["error"] == "missing_api_key"
    assert nokey["key_id"] is None
    (bad,) = _audit(gateway, "audit-bad")
    assert bad["status"] == 415 and bad["error"] == "invalid_video"
    assert bad["upload_bytes"] == 10
    assert bad["sha256"] == hashlib.sha256(b"\0" * 10).hexdigest()
