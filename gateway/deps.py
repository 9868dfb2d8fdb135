"""Typed dependencies: routes take these, tests override them instead of patching."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from .admission import Admission
from .auth import ApiKeyVerifier
from .pipeline import DetectionPipeline
from .serving_client import ServingClient
from .settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_client(request: Request) -> ServingClient:
    return request.app.state.client


def get_pipeline(request: Request) -> DetectionPipeline:
    return request.app.state.pipeline


def get_admission(request: Request) -> Admission:
    return request.app.state.admission


def require_api_key(request: Request) -> None:
    verifier: ApiKeyVerifier = request.app.state.verifier
    verifier.verify(request.headers.get("authorization"))


SettingsDep = Annotated[Settings, Depends(get_settings)]
ClientDep = Annotated[ServingClient, Depends(get_client)]
PipelineDep = Annotated[DetectionPipeline, Depends(get_pipeline)]
AdmissionDep = Annotated[Admission, Depends(get_admission)]
ApiKey = Depends(require_api_key)
