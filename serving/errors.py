"""The error type that carries a gRPC status code through the server."""

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
