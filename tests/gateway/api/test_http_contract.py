"""What the gateway answers is what its OpenAPI document says, down to the headers."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

pytestmark = pytest.mark.slow


def test_model_version_with_label_is_a_documented_422(gateway) -> None:
    with gateway.client() as client:
        response = client.post(
            "/v1/detect",
            params={"model_version": 1, "model_label": "stable"},
            headers={**gateway.auth(), "Content-Type": "video/mp4"},
            content=b"\0" * 100,
        )
        document = client.get("/openapi.json").json()
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"
    documented = document["paths"]["/v1/detect"]["post"]["responses"]["422"]
    assert "validation_error" in documented["content"]["application/json"]["examples"]


def test_405_carries_allow(gateway) -> None:
    with gateway.client() as client:
        response = client.delete("/v1/detect", headers=gateway.auth())
        get_only = client.post("/v1/models", headers=gateway.auth())
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert response.headers["allow"] == "POST"
    assert get_only.status_code == 405
    assert get_only.headers["allow"] == "GET"


def test_oversized_headers_get_431(gateway) -> None:
    with gateway.client() as client:
        big = client.get("/healthz", headers={"X-Pad": "a" * 10_000})
        ok = client.get("/healthz", headers={"X-Pad": "a" * 1000})
    assert big.status_code == 431
    assert big.json()["error"]["code"] == "headers_too_large"
    assert ok.status_code == 200


_API_CSP = "default-src 'none'; frame-ancestors 'none'"


def test_security_headers_on_every_answer(gateway) -> None:
    with gateway.client() as client:
        answers = [
            client.get("/healthz"),
            client.get("/v1/models"),  # 401
            client.get("/nowhere"),  # 404
            client.post("/v1/detect", headers={**gateway.auth(), "Content-Type": "text/plain"}),
        ]
    for response in answers:
        assert response.headers["strict-transport-security"].startswith("max-age=")
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["content-security-policy"] == _API_CSP


def _sha256_source(text: str) -> str:
    return f"'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'"


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_allow_only_their_own_scripts(gateway, page: str) -> None:
    with gateway.client() as client:
        response = client.get(page)
    assert response.status_code == 200
    policy = response.headers["content-security-policy"].split("; ")
    csp = {d.split(" ", 1)[0]: d.split(" ")[1:] for d in policy}
    scripts = csp["script-src"]
    assert "'unsafe-inline'" not in scripts and "*" not in scripts
    external = re.findall(r'<script src="([^"]+)"', response.text)
    inline = re.findall(r"<script>(.*?)</script>", response.text, re.S)
    assert external
    assert sorted(scripts) == sorted([*external, *map(_sha256_source, inline)])
    assert csp["frame-ancestors"] == ["'none'"]
    assert response.headers["x-content-type-options"] == "nosniff"
