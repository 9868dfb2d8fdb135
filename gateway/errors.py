"""Domain errors of the gateway and the one place that maps them to HTTP.

Exception tree::

    GatewayError                      500 internal
    ├── AuthError
    │   ├── MissingApiKey             401 missing_api_key
    │   └── InvalidApiKey             403 invalid_api_key
    ├── RequestError
    │   ├── BadRequest                400 bad_request
    │   ├── MissingVideo              422 missing_video
    │   ├── UploadTooLarge            413 upload_too_large
    │   ├── UnsupportedMediaType      415 unsupported_media_type
    │   ├── InvalidVideo              415 invalid_video
    │   ├── VideoLimitExceeded        422 video_limit_exceeded
    │   ├── AggregationUnavailable    422 aggregation_unavailable
    │   ├── ClientDisconnected        499 client_disconnected
    │   ├── JobNotFound               404 job_not_found
    │   ├── JobNotCancelable          409 job_not_cancelable
    │   ├── IdempotencyMismatch       422 idempotency_mismatch
    │   ├── CallbackRefused           422 callback_refused
    │   ├── WebhookSecretMissing      422 webhook_secret_missing
    │   └── NoWebhook                 409 no_webhook
    ├── Overloaded                    429 overloaded (Retry-After)
    ├── JobError                      (how a job ended, in its ``error``)
    │   ├── JobCanceled               409 canceled
    │   └── WorkerLost                500 worker_lost
    └── ServingError
        ├── ModelNotFound             404 model_not_found
        ├── ServingUnavailable        503 serving_unavailable (Retry-After)
        ├── ServingTimeout            504 serving_timeout
        └── InferenceFailed           502 inference_failed

Route code raises these; :func:`install_error_handlers` turns every one of them
(and FastAPI's own validation errors) into ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class GatewayError(Exception):
    """Base of every error the gateway reports to a client."""

    status_code = 500
    code = "internal"
    retry_after_s: int | None = None

    def __init__(self, message: str, *, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if retry_after_s is not None:
            self.retry_after_s = retry_after_s


class AuthError(GatewayError):
    """The request is not authenticated."""


class MissingApiKey(AuthError):
    status_code = 401
    code = "missing_api_key"


class InvalidApiKey(AuthError):
    status_code = 403
    code = "invalid_api_key"


class RequestError(GatewayError):
    """The client sent something the gateway cannot process."""

    status_code = 400
    code = "bad_request"


class BadRequest(RequestError):
    pass


class AggregationUnavailable(RequestError):
    """The aggregation asked for needs something the answering version lacks."""

    status_code = 422
    code = "aggregation_unavailable"


class MissingVideo(RequestError):
    status_code = 422
    code = "missing_video"


class UploadTooLarge(RequestError):
    status_code = 413
    code = "upload_too_large"


class UnsupportedMediaType(RequestError):
    status_code = 415
    code = "unsupported_media_type"


class InvalidVideo(RequestError):
    status_code = 415
    code = "invalid_video"


class VideoLimitExceeded(RequestError):
    status_code = 422
    code = "video_limit_exceeded"


class ClientDisconnected(RequestError):
    # Never seen by the client; used to abort work and clean up.
    status_code = 499
    code = "client_disconnected"


class Overloaded(GatewayError):
    status_code = 429
    code = "overloaded"
    retry_after_s = 1


class ServingError(GatewayError):
    """Serving could not answer."""


class ModelNotFound(ServingError):
    status_code = 404
    code = "model_not_found"


class ServingUnavailable(ServingError):
    status_code = 503
    code = "serving_unavailable"
    retry_after_s = 2


class ServingTimeout(ServingError):
    status_code = 504
    code = "serving_timeout"


class InferenceFailed(ServingError):
    status_code = 502
    code = "inference_failed"


class JobNotFound(RequestError):
    """No such job for this API key (another key's jobs are not found either)."""

    status_code = 404
    code = "job_not_found"


class JobNotCancelable(RequestError):
    status_code = 409
    code = "job_not_cancelable"


class IdempotencyMismatch(RequestError):
    """The Idempotency-Key was used before for a different request."""

    status_code = 422
    code = "idempotency_mismatch"


class CallbackRefused(RequestError):
    """The callback URL is not https on an allowed port, or resolves to a non-global address."""

    status_code = 422
    code = "callback_refused"


class WebhookSecretMissing(RequestError):
    status_code = 422
    code = "webhook_secret_missing"


class NoWebhook(RequestError):
    """Redelivery asked for a job that sent no webhook."""

    status_code = 409
    code = "no_webhook"


class JobError(GatewayError):
    """Why a job ended without a result (never raised to a client of the sync API)."""


class JobCanceled(JobError):
    status_code = 409
    code = "canceled"


class WorkerLost(JobError):
    """The job's worker stopped (crashed, killed) more often than the retry limit allows."""

    code = "worker_lost"


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    """The JSON body of every error response."""
    return {"error": {"code": code, "message": message}}


def _response(status: int, code: str, message: str, retry_after: int | None) -> JSONResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Map domain errors, validation errors and stray exceptions to JSON errors."""

    async def on_gateway_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, GatewayError)
        log.info(
            "request failed",
            extra={"code": exc.code, "status": exc.status_code, "path": request.url.path},
        )
        return _response(exc.status_code, exc.code, exc.message, exc.retry_after_s)

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()))
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
        return _response(422, "validation_error", "; ".join(parts) or "invalid request", None)

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _response(exc.status_code, code, str(exc.detail), None)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", extra={"path": request.url.path})
        return _response(500, "internal", "internal error", None)

    app.add_exception_handler(GatewayError, on_gateway_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
