"""The one error type of the server, and its constructors.

Exception tree::

    Exception
    └── ServingError        a request or a load failed with a TF Serving status
                            (``code``: grpc.StatusCode, ``message``: TF Serving's text)

Every failure a client can see is a ``ServingError``; the gRPC adapter turns it
into the RPC status and the REST adapter into the HTTP status TF Serving maps
that code to. Config-file problems are ``serving.config.ConfigError`` until the
server start-up wraps them as INVALID_ARGUMENT.
"""

from __future__ import annotations

import grpc


class ServingError(Exception):
    """A request failed with a TF Serving status code and message."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"ServingError({self.code.name}, {self.message!r})"


def invalid_argument(message: str) -> ServingError:
    """Shortcut for INVALID_ARGUMENT."""
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def not_found(message: str) -> ServingError:
    """Shortcut for NOT_FOUND."""
    return ServingError(grpc.StatusCode.NOT_FOUND, message)


def code_from_value(value: int) -> grpc.StatusCode:
    """Map a numeric canonical status code (TF's error codes are gRPC's) to grpc.StatusCode."""
    for code in grpc.StatusCode:
        if code.value[0] == value:
            return code
    return grpc.StatusCode.UNKNOWN


def from_exception(exc: BaseException) -> ServingError:
    """Turn any exception into a status, keeping TensorFlow's code when it has one."""
    if isinstance(exc, ServingError):
        return exc
    code = getattr(exc, "error_code", None)
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    if isinstance(code, int):
        return ServingError(code_from_value(code), message)
    return ServingError(grpc.StatusCode.UNKNOWN, message)
