"""Domain errors as HTTP answers: the handlers that render them, the OpenAPI responses.

Every error the gateway sends is ``{"error": {"code", "message"}}``: the domain errors of
:mod:`gateway.errors` with their own status and code, FastAPI's validation and routing
errors, a full disk (507) and anything unexpected (500). :func:`openapi_responses` builds a
route's documented responses from the same classes, so the document lists what is sent.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import DISK_FULL, GatewayError, InsufficientStorage, InvalidParameters
from ..schemas import ErrorResponse

log = logging.getLogger(__name__)

#: Codes of the errors FastAPI raises before any route runs, by status.
ROUTING_CODES = {404: "not_found", 405: "method_not_allowed"}


def _error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    """The JSON body of every error response."""
    return {"error": {"code": code, "message": message}}


def openapi_responses(*errors: type[GatewayError]) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route that may raise ``errors``: one entry per status.

    Each status lists its codes in the description and as named examples, and says so
    when its errors come with ``Retry-After``.
    """
    by_status: dict[int, list[type[GatewayError]]] = {}
    listed: list[type[GatewayError]] = []
    for error in errors:
        for one in (error, *error.companions):
            if one not in listed:
                listed.append(one)
    for error in listed:
        by_status.setdefault(error.status_code, []).append(error)
    responses: dict[int | str, dict[str, Any]] = {}
    for status in sorted(by_status):
        group = by_status[status]
        response: dict[str, Any] = {
            "model": ErrorResponse,
            "description": "; ".join(f"`{e.code}`: {e.summary}" for e in group),
            "content": {
                "application/json": {
                    "examples": {
                        e.code: {"summary": e.summary, "value": _error_body(e.code, e.summary)}
                        for e in group
                    }
                }
            },
        }
        if any(e.retry_after_s is not None for e in group):
            response["headers"] = {
                "Retry-After": {
                    "description": "Seconds to wait before trying again.",
                    "schema": {"type": "integer"},
                }
            }
        responses[status] = response
    return responses


def _response(
    status: int,
    code: str,
    message: str,
    retry_after: int | None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    all_headers = dict(headers or {})
    if retry_after is not None:
        all_headers["Retry-After"] = str(retry_after)
    return JSONResponse(_error_body(code, message), status_code=status, headers=all_headers)


def error_response(exc: GatewayError) -> JSONResponse:
    """The HTTP answer for ``exc``; also usable as an ASGI app by middleware."""
    headers = {"Connection": "close"} if exc.closes_connection else None
    return _response(exc.status_code, exc.code, exc.message, exc.retry_after_s, headers)


def install_error_handlers(app: FastAPI) -> None:
    """Map domain errors, validation errors and stray exceptions to JSON errors."""

    async def on_gateway_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, GatewayError)
        log.info(
            "request failed",
            extra={"code": exc.code, "status": exc.status_code, "path": request.url.path},
        )
        return error_response(exc)

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()))
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
        message = "; ".join(parts) or "invalid request"
        return _response(InvalidParameters.status_code, InvalidParameters.code, message, None)

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = ROUTING_CODES.get(exc.status_code, "http_error")
        # Keeps the headers routing sets, such as ``Allow`` on 405.
        return _response(exc.status_code, code, str(exc.detail), None, exc.headers)

    async def on_os_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, OSError)
        if exc.errno in DISK_FULL:
            # Whatever was being written is already removed by its writer.
            log.warning("disk full", extra={"path": request.url.path, "error": exc.strerror or ""})
            error = InsufficientStorage("no disk space left to store the upload; try again later")
            return _response(error.status_code, error.code, error.message, error.retry_after_s)
        return await on_unexpected(request, exc)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", extra={"path": request.url.path})
        return _response(GatewayError.status_code, GatewayError.code, "internal error", None)

    app.add_exception_handler(GatewayError, on_gateway_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(OSError, on_os_error)
    app.add_exception_handler(Exception, on_unexpected)
