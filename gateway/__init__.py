"""The gateway: an HTTPS API that turns an uploaded video into a verdict by way of Serving.

A request streams the upload to disk, probes it, decodes the sampled frames on a thread,
sends them in batches to TF Serving over gRPC and aggregates the scores into a verdict
(:mod:`gateway.detection` orders those stages). The public surface is small:
:func:`create_app` builds the ASGI application from :class:`Settings`, and
``python -m gateway`` serves it; every other module is the package's own business.

This package must not import TensorFlow's runtime (TF Serving's generated protos are
loaded without it, see ``gateway._protos``), ``model_export`` or ``serving``: it shares
only :mod:`contract` with them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app
    from .settings import Settings

__all__ = ["Settings", "create_app"]


def __getattr__(name: str) -> Any:
    # Imported on first use, not with the package: ``gateway.app`` loads TF Serving's
    # protos, and ``python -m gateway`` must prepare them (``gateway._protos``) first.
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "Settings":
        from .settings import Settings

        return Settings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
