"""Typed dependencies: routes take these, tests override them instead of patching."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from .admission import Admission
from .auth import ApiKeyVerifier
from .detection import DetectionPipeline
from .serving_client import ServingClient
from .settings import Settings


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


def require_api_key(request: Request) -> None:
    """Reject the request unless it carries a valid API key."""
    verifier: ApiKeyVerifier = request.app.state.verifier
    verifier.verify(request.headers.get("authorization"))


SettingsDep = Annotated[Settings, Depends(app_settings)]
ClientDep = Annotated[ServingClient, Depends(app_client)]
PipelineDep = Annotated[DetectionPipeline, Depends(app_pipeline)]
AdmissionDep = Annotated[Admission, Depends(app_admission)]
ApiKey = Depends(require_api_key)
