"""Typed dependencies: routes take these, tests override them instead of patching."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ..admission import Admission, ReceiveLimit
from ..pipeline.detection import DetectionPipeline
from ..pipeline.shadow import ShadowCanary
from ..receipt_keys import ReceiptKeys
from ..settings import Settings
from ..upstream.serving_client import ServingClient
from .audit import audit_record
from .auth import ApiKeyVerifier
from .quotas import KeyQuotas


def app_settings(request: Request) -> Settings:
    """The settings the application was built with."""
    return request.app.state.settings


def app_client(request: Request) -> ServingClient:
    """The application's one Serving client."""
    return request.app.state.client


def app_pipeline(request: Request) -> DetectionPipeline:
    """The application's detection pipeline."""
    return request.app.state.pipeline


def app_admission(request: Request) -> Admission:
    """The application's admission control."""
    return request.app.state.admission


def api_key_id(request: Request) -> str:
    """The id of the request's valid API key; reject the request without one."""
    verifier: ApiKeyVerifier = request.app.state.verifier
    record = audit_record(request)
    found = verifier.verify(request.headers.get("authorization"))
    if record is not None:
        record.key_id = found
    return found


def require_api_key(key: Annotated[str, Depends(api_key_id)]) -> None:
    """Reject the request unless it carries a valid API key.

    The check is :func:`api_key_id`'s; FastAPI runs it once per request even when a
    route also asks for the key id.
    """


def app_receiving(request: Request) -> ReceiveLimit:
    """The application's limit on uploads received at once."""
    return request.app.state.receiving


def app_quotas(request: Request) -> KeyQuotas:
    """The application's per-key quotas."""
    return request.app.state.quotas


def app_receipt_keys(request: Request) -> ReceiptKeys:
    """The application's receipt signing keys."""
    return request.app.state.receipt_keys


def app_shadow(request: Request) -> ShadowCanary | None:
    """The application's shadow canary; None without ``GATEWAY_SHADOW_MODEL``."""
    return getattr(request.app.state, "shadow", None)


SettingsDep = Annotated[Settings, Depends(app_settings)]
ClientDep = Annotated[ServingClient, Depends(app_client)]
PipelineDep = Annotated[DetectionPipeline, Depends(app_pipeline)]
AdmissionDep = Annotated[Admission, Depends(app_admission)]
ApiKey = Depends(require_api_key)
KeyIdDep = Annotated[str, Depends(api_key_id)]
ReceivingDep = Annotated[ReceiveLimit, Depends(app_receiving)]
QuotasDep = Annotated[KeyQuotas, Depends(app_quotas)]
ReceiptKeysDep = Annotated[ReceiptKeys, Depends(app_receipt_keys)]
ShadowDep = Annotated[ShadowCanary | None, Depends(app_shadow)]
