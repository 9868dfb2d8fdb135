"""The error table of ``gateway/errors.py`` is the one the README and the OpenAPI document show."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gateway import errors
from gateway.api import error_responses

REPO = Path(__file__).resolve().parents[2]


def _codes() -> dict[str, int]:
    """Every code the domain errors answer with, and its status."""
    found: dict[str, int] = {}
    pending: list[type[errors.GatewayError]] = [errors.GatewayError]
    while pending:
        cls = pending.pop()
        assert found.setdefault(cls.code, cls.status_code) == cls.status_code, cls
        pending.extend(cls.__subclasses__())
    return found


def _readme_table() -> dict[str, int]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index("| status | code | when |")
    table: dict[str, int] = {}
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        status, codes = line.split("|")[1:3]
        for code in re.findall(r"`([a-z_]+)`", codes):
            table[code] = int(status)
    return table


@pytest.fixture(scope="module")
def openapi() -> dict:
    # A process of its own: the gateway imports Serving's protos without TensorFlow's
    # runtime, which must not leak into the test process.
    code = (
        "import json\n"
        "from gateway.upstream._protos import use_protos_without_tensorflow_runtime as f\n"
        "f()\n"
        "from gateway.api.app import create_app\n"
        "from gateway.settings import Settings\n"
        "print(json.dumps(create_app(Settings()).openapi()))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


def test_every_error_code_is_in_the_readme_with_its_status() -> None:
    table = _readme_table()
    for code, status in _codes().items():
        assert table.get(code) == status, f"README error table: {code} should be {status}"
    for status, code in error_responses.ROUTING_CODES.items():
        assert table.get(code) == status, f"README error table: {code} should be {status}"
    documented = {*_codes(), *error_responses.ROUTING_CODES.values()}
    assert set(table) <= documented, f"README lists codes nobody sends: {set(table) - documented}"


def test_every_error_code_is_in_the_openapi_responses_with_its_status(openapi: dict) -> None:
    seen: dict[str, set[int]] = {}
    for path in openapi["paths"].values():
        for operation in path.values():
            for status, response in operation["responses"].items():
                examples = response.get("content", {}).get("application/json", {})
                for code in examples.get("examples", {}):
                    seen.setdefault(code, set()).add(int(status))
    assert seen == {code: {status} for code, status in _codes().items()}


def test_a_route_documents_the_errors_of_its_dependencies(openapi: dict) -> None:
    detect = openapi["paths"]["/v1/detect"]["post"]["responses"]
    models = openapi["paths"]["/v1/models"]["get"]["responses"]
    for responses in (detect, models):
        for status in ("401", "403", "404", "503", "504"):
            assert status in responses
            assert responses[status]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorResponse"
            }
    assert "Retry-After" in detect["429"]["headers"] and "Retry-After" in detect["503"]["headers"]


def test_every_operation_documents_what_any_route_answers(openapi: dict) -> None:
    # Oversized headers are refused before routing, and any route may fail unexpectedly.
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            for status in ("431", "500"):
                assert status in operation["responses"], f"{method.upper()} {path}: {status}"
    detect = openapi["paths"]["/v1/detect"]["post"]["responses"]
    for status in ("400", "408", "413", "415", "422", "429"):
        assert status in detect
    assert {"overloaded", "rate_limited"} <= set(
        detect["429"]["content"]["application/json"]["examples"]
    )
