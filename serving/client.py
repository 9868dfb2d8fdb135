"""Readiness helper for clients of TF Serving or this server; imports only grpc and protos."""

from __future__ import annotations

import time

import grpc
from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

_AVAILABLE = get_model_status_pb2.ModelVersionStatus.State.Value("AVAILABLE")
#: Reconnect backoff of the waiting channel. gRPC's default (1 s, growing by 1.6x per
#: failure) made a wait that began before the server listened notice it seconds late.
_RECONNECT_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 250),
)


def available_version(channel: grpc.Channel, model_name: str, timeout_s: float = 5.0) -> int | None:
    """Return the highest AVAILABLE version of ``model_name``, or None if none is."""
    stub = model_service_pb2_grpc.ModelServiceStub(channel)
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = model_name
    response = stub.GetModelStatus(request, timeout=timeout_s)
    versions = [s.version for s in response.model_version_status if s.state == _AVAILABLE]
    return max(versions) if versions else None


def wait_until_available(
    target: str,
    model_name: str,
    timeout_s: float,
    credentials: grpc.ChannelCredentials | None = None,
    poll_interval_s: float = 0.2,
) -> int:
    """Poll GetModelStatus on ``target`` until ``model_name`` has an AVAILABLE version.

    Returns that version (the highest one AVAILABLE). Raises TimeoutError after
    ``timeout_s`` with the last error seen.
    """
    deadline = time.monotonic() + timeout_s
    last_error = "no answer yet"
    if credentials is None:
        channel = grpc.insecure_channel(target, options=_RECONNECT_OPTIONS)
    else:
        channel = grpc.secure_channel(target, credentials, options=_RECONNECT_OPTIONS)
    with channel:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"{model_name} at {target} not AVAILABLE after {timeout_s:.1f}s: {last_error}"
                )
            try:
                version = available_version(channel, model_name, timeout_s=min(remaining, 5.0))
            except grpc.RpcError as exc:
                last_error = f"{exc.code().name}: {exc.details()}"
            else:
                if version is not None:
                    return version
                last_error = "no version AVAILABLE"
            time.sleep(min(poll_interval_s, max(0.0, deadline - time.monotonic())))
