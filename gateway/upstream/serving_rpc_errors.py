"""Serving's gRPC failures as the gateway's domain errors, with fixed client-facing text."""

from __future__ import annotations

import logging

import grpc

from ..errors import (
    InferenceFailed,
    ModelNotFound,
    ServingTimeout,
    ServingUnavailable,
    UpstreamError,
)
from .serving_types import ModelRef

log = logging.getLogger(__name__)


def map_rpc_error(exc: grpc.aio.AioRpcError, model: ModelRef) -> UpstreamError:
    """The domain error for a failed call; Serving's own text goes to the log only.

    Serving's details name graph nodes, file paths and library internals: what the client
    reads is a fixed message built from what it asked for.
    """
    code, details = exc.code(), exc.details() or ""
    # A version without model_info answers so on every request: nothing to warn about.
    log.log(
        logging.DEBUG if is_missing_signature(exc) else logging.WARNING,
        "Serving call failed",
        extra={"grpc_code": code.name, "details": details, "model": describe(model)},
    )
    if code == grpc.StatusCode.NOT_FOUND:
        return ModelNotFound(f"Serving has no {describe(model)}")
    if code == grpc.StatusCode.INVALID_ARGUMENT and "label" in details.lower():
        return ModelNotFound(f"Serving has no {describe(model)}")
    if code == grpc.StatusCode.FAILED_PRECONDITION and model.label is not None:
        return ModelNotFound(f"the version behind label {model.label!r} is unavailable")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return ServingTimeout("Serving did not answer before the deadline")
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED):
        return ServingUnavailable("Serving is unavailable or overloaded; try again later")
    if code == grpc.StatusCode.CANCELLED:
        # Not the gateway's doing (its own cancellation raises CancelledError, not this):
        # Serving shutting down cancels the calls still running when its grace period ends.
        return ServingUnavailable("Serving stopped before it answered; try again later")
    return InferenceFailed(f"Serving failed to run {describe(model)} ({code.name})")


def describe(model: ModelRef) -> str:
    """``model 'x' version 3`` / ``label 'stable'``: what a request asked for, for messages."""
    if model.version is not None:
        return f"model {model.name!r} version {model.version}"
    if model.label is not None:
        return f"model {model.name!r} label {model.label!r}"
    return f"model {model.name!r}"


def is_missing_signature(exc: BaseException | None) -> bool:
    """Serving's answer to a signature the version lacks.

    TF Serving: FAILED_PRECONDITION 'Serving signature key "x" not found.'
    (servables/tensorflow/predict_util.cc); some versions say INVALID_ARGUMENT.
    """
    if not isinstance(exc, grpc.aio.AioRpcError):
        return False
    details = (exc.details() or "").lower()
    return (
        exc.code() in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.INVALID_ARGUMENT)
        and "signature" in details
        and "not found" in details
    )
