"""Local model server that speaks TensorFlow Serving's gRPC and REST APIs.

Run it as ``python -m serving --port 8500 --model_name deepfake --model_base_path models/deepfake``.
It loads versioned SavedModels the way ``tensorflow_model_server`` does (a TF1
session per version) and answers ``tensorflow_serving.apis`` requests with TF
Serving's semantics, so a client runs unchanged against either.

Modules, from the ports inwards:

* ``grpc_api``, ``rest_api`` — the transports, thin adapters over ``data_plane``;
* ``data_plane`` — Predict, GetModelStatus, GetModelMetadata, ReloadConfig;
* ``core`` (config and labels), ``version_source`` (versions on disk),
  ``manager`` and ``version_state`` (loading, unloading, states);
* ``servable`` (one loaded version), ``warmup``, ``batching`` and
  ``batching_util`` (server-side batching), ``tensors`` (TensorProto <-> numpy);
* ``server`` (assembly from ``flags``), ``config``, ``tls``, ``metrics``,
  ``errors``; ``client`` is a readiness helper for clients;
* ``__main__`` — ``python -m serving``, until SIGINT or SIGTERM.

This package may import ``contract`` but never ``gateway`` or ``model_export``.
Names below are loaded on first use, so ``import serving`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import wait_until_available
    from .data_plane import DataPlane
    from .errors import ServingError
    from .server import ModelServer

__all__ = ["DataPlane", "ModelServer", "ServingError", "wait_until_available"]

_MODULE_OF = {
    "DataPlane": ".data_plane",
    "ModelServer": ".server",
    "ServingError": ".errors",
    "wait_until_available": ".client",
}


def __getattr__(name: str) -> Any:
    # Lazy: the TensorFlow-backed modules cost seconds to import.
    if name in _MODULE_OF:
        return getattr(importlib.import_module(_MODULE_OF[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
