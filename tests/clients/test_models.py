"""The SDK's models come from the gateway's own OpenAPI document, and stay in step with it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from deepfake_client import models

REPO = Path(__file__).resolve().parents[2]
CLIENT = REPO / "clients" / "python"
SNAPSHOT = CLIENT / "openapi.json"


def test_the_committed_snapshot_is_the_live_gateways_openapi(live_openapi: dict) -> None:
    committed = json.loads(SNAPSHOT.read_text())
    assert committed == live_openapi, (
        "clients/python/openapi.json differs from the gateway's /openapi.json: run "
        "clients/python/scripts/export_openapi.py, then scripts/generate_models.py"
    )


def test_the_export_script_reproduces_the_snapshot() -> None:
    result = subprocess.run(
        [sys.executable, str(CLIENT / "scripts" / "export_openapi.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_the_models_are_what_the_generator_makes_of_the_snapshot() -> None:
    result = subprocess.run(
        [sys.executable, str(CLIENT / "scripts" / "generate_models.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_every_schema_of_the_document_has_its_model_with_every_property() -> None:
    schemas = json.loads(SNAPSHOT.read_text())["components"]["schemas"]
    for name, schema in schemas.items():
        model = getattr(models, name)
        assert set(schema.get("properties", {})) == set(model.model_fields), name
        required = {n for n, f in model.model_fields.items() if f.is_required()}
        assert required == set(schema.get("required", [])), name


def test_a_newer_gateways_extra_fields_do_not_break_parsing() -> None:
    body = {"code": "x", "message": "y", "hint": "new in a later version"}
    assert models.ErrorDetail.model_validate(body).model_extra == {"hint": "new in a later version"}


def test_the_models_carry_the_interval_and_the_reason_codes() -> None:
    from typing import get_args

    from contract.reasons import REASON_CODES

    fields = models.DetectionResponse.model_fields
    assert "score_interval" in fields and "reasons" in fields
    (item,) = get_args(next(a for a in get_args(fields["reasons"].annotation) if a is not None))
    assert get_args(item) == REASON_CODES
    assert set(models.ScoreInterval.model_fields) == {"low", "high", "level"}
