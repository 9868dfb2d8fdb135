"""Property-based tests of the gateway's HTTP API against the OpenAPI document it serves.

Schemathesis reads ``/openapi.json`` from the running HTTPS gateway and, per documented
operation, sends generated requests (valid and invalid parameters, garbage bodies on
the upload route) with the API key. Every answer must be documented: no 5xx, a status
code the operation lists, a body matching the schema of that status. Every operation
documenting a 401 must answer 401 to the same request sent without the key, and a
method no operation of a documented path serves must get 405 with an ``Allow`` header.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import GatewayHandle

pytestmark = pytest.mark.slow

#: Generated cases per operation and generation mode: small, as uploads go through FFmpeg.
MAX_EXAMPLES = 60
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
]
#: Methods each documented path must answer with 405 and Allow, unless it serves them.
UNUSED_METHODS = ("PUT", "PATCH", "DELETE")


@pytest.fixture(scope="module")
def api_schema(gateway: GatewayHandle) -> schemathesis.BaseSchema:
    """The gateway's own OpenAPI document, aimed back at the gateway."""
    schema = schemathesis.openapi.from_url(
        f"{gateway.url}/openapi.json", verify=str(gateway.cafile), timeout=30
    )
    schema.config.update(base_url=gateway.url, headers=gateway.auth(), request_timeout=60)
    return schema


def _explore(
    aggregation: object, call: Callable[[schemathesis.Case], None], max_examples: int
) -> None:
    """Run ``call`` on ``max_examples`` cases drawn from ``aggregation`` (no shrinking)."""

    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=aggregation)
    def run(case: schemathesis.Case) -> None:
        call(case)

    run()


def _status_without_key(
    case: schemathesis.Case, gateway: GatewayHandle, session: requests.Session
) -> int:
    """The status ``case`` gets when sent exactly as generated but without the API key."""
    kwargs = case.as_transport_kwargs(base_url=gateway.url)
    kwargs["headers"] = {
        k: v for k, v in (kwargs.get("headers") or {}).items() if k.lower() != "authorization"
    }
    kwargs.pop("verify", None)
    kwargs.pop("timeout", None)
    response = session.request(**kwargs, verify=str(gateway.cafile), timeout=60)
    return response.status_code


def test_answers_are_documented(
    api_schema: schemathesis.BaseSchema, gateway: GatewayHandle
) -> None:
    """Generated requests, valid and invalid, to every documented operation: no 5xx, and
    status code, content type and body as the document says; the same request without the
    key gets 401 wherever the operation documents a 401."""
    failures: dict[tuple[str, str, str], str] = {}
    cases = 0
    # Kept-alive connections: hundreds of cases need not each pay a TLS handshake. The
    # keyless session never sees the key (it is sent per request, as generated).
    keyless, keyed = requests.Session(), requests.Session()

    for result in api_schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            protected = "401" in operation.definition.raw.get("responses", {})

            def call(
                case: schemathesis.Case, label: str = operation.label, protected: bool = protected
            ) -> None:
                nonlocal cases
                cases += 1
                if protected:
                    status = _status_without_key(case, gateway, keyless)
                    if status != 401:
                        key = (label, "KeyNotEnforced", f"{status} without the API key")
                        failures.setdefault(key, f"query={case.query} media_type={case.media_type}")
                try:
                    case.call_and_validate(session=keyed, checks=CHECKS, verify=str(gateway.cafile))
                except (Failure, FailureGroup) as exc:
                    found = exc.exceptions if isinstance(exc, FailureGroup) else (exc,)
                    for failure in found:
                        key = (label, type(failure).__name__, failure.title)
                        sent = f"query={case.query} media_type={case.media_type}"
                        failures.setdefault(key, f"{failure.message.strip()[:400]}\n    {sent}")

            try:
                _explore(operation.as_strategy(generation_mode=mode), call, MAX_EXAMPLES)
            except Unsatisfiable:
                continue  # nothing to make invalid: the operation takes no input
    keyless.close()
    keyed.close()

    assert cases, "no case was generated"
    report = [
        f"{op}: {kind}: {title}\n    {message}"
        for (op, kind, title), message in sorted(failures.items())
    ]
    assert not failures, f"{len(failures)} distinct failures in {cases} cases:\n" + "\n".join(
        report
    )


def test_unused_methods_are_405_with_allow(
    api_schema: schemathesis.BaseSchema, gateway: GatewayHandle
) -> None:
    """A method a documented path does not serve gets 405 and an Allow header (RFC 9110)."""
    wrong: list[str] = []
    for path, item in api_schema.raw_schema["paths"].items():
        allowed = {m.upper() for m in item if m.upper() in {"GET", "POST", "HEAD", "OPTIONS"}}
        for method in UNUSED_METHODS:
            if method.lower() in item:
                continue  # this path serves it (DELETE /v1/jobs/{job_id})
            response = requests.request(
                method,
                f"{gateway.url}{path}",
                headers=gateway.auth(),
                verify=str(gateway.cafile),
                timeout=30,
            )
            if response.status_code != 405:
                wrong.append(f"{method} {path}: {response.status_code}, expected 405")
            elif "Allow" not in response.headers:
                wrong.append(f"{method} {path}: 405 without an Allow header (serves {allowed})")
    assert not wrong, "\n".join(wrong)


def _protected(api_schema: schemathesis.BaseSchema) -> list[tuple[str, str]]:
    """(method, path) of every operation that documents a 401."""
    raw = api_schema.raw_schema
    return sorted(
        (method.upper(), path)
        for path, item in raw["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "401" in operation.get("responses", {})
    )


def test_protected_routes_need_the_key(
    api_schema: schemathesis.BaseSchema, gateway: GatewayHandle
) -> None:
    """Each operation documenting 401 answers 401 without the key, and not 401 with it."""
    protected = _protected(api_schema)
    assert protected, "no operation documents a 401"
    wrong: list[str] = []
    for method, path in protected:
        url = f"{gateway.url}{path}"
        body = {"data": b"not a video", "headers": {"Content-Type": "video/mp4"}}
        kwargs = body if method == "POST" else {}
        without = requests.request(method, url, verify=str(gateway.cafile), timeout=60, **kwargs)
        if without.status_code != 401:
            wrong.append(f"{method} {path} without key: {without.status_code}")
        elif without.json().get("error", {}).get("code") != "missing_api_key":
            wrong.append(f"{method} {path} without key: body {without.text[:200]}")
        headers = {**kwargs.get("headers", {}), **gateway.auth()}
        with_key = requests.request(
            method,
            url,
            verify=str(gateway.cafile),
            timeout=60,
            **{**kwargs, "headers": headers},
        )
        if with_key.status_code in (401, 403):
            wrong.append(f"{method} {path} with key: {with_key.status_code}")
    assert not wrong, "\n".join(wrong)
