"""The gateway: an HTTPS API that turns an uploaded video or image into a verdict by way of Serving.

A request streams the upload to disk, probes it, decodes the sampled frames on a thread,
sends them in batches to TF Serving over gRPC and aggregates the scores into a verdict
(:mod:`gateway.pipeline.detection` orders those stages). The public surface is small:
:func:`create_app` builds the ASGI application from :class:`Settings`, and
``python -m gateway`` serves it; every other module is the package's own business.

Modules, one line each:

- ``__main__``: ``python -m gateway``, the API over HTTPS with settings from the environment
- ``app``: the FastAPI application, wiring settings, the Serving client, pipeline and routes
- ``settings``: the gateway's settings, read once from the environment
- ``deps``: typed dependencies the routes take (and tests override)
- ``routes``: the HTTP routes; ``schemas``: their response models (the OpenAPI document)
- ``errors``: every domain error with its status and code (the one table)
- ``error_responses``: the handlers that render them as JSON, and the routes' documented errors
- ``auth``: API keys, held as SHA-256 hashes and compared in constant time
- ``quotas``: per-key request rate (token bucket) and concurrent requests
- ``admission``: videos processed and waiting, uploads received at once; 429 past them
- ``upload``: the request body streamed to a temporary file within the limits
- ``tempfiles``: temporary uploads a killed gateway left behind
- ``allocator``: glibc's arenas and mmap threshold, fixed at start so freed frames go back
- ``pipeline``: upload file to verdict: probe, decode, budget, keyframes, detection,
  explain, answers, timing, provenance, the response builder, receipts, the shadow (a
  package of its own)
- ``shadow_schemas``: the shadow's agreement as ``GET /v1/models`` shows it;
  ``provenance_schemas``: the upload's content credentials as the answer reports them
- ``upstream``: the only way to Serving: the gRPC client, channels, errors, types, tensors,
  protos and the readers of a version's description (a package of its own)
- ``webui``: the web page at ``/ui``, static files from ``gateway/ui/``
- ``docs``: the ``/docs`` and ``/redoc`` pages under their own Content-Security-Policy
- ``security_headers``: security headers on every response (ASGI middleware)
- ``header_limits``: requests whose request line and headers are too large refused (431)
- ``tls``: the gateway's TLS material, self-signed when none is configured
- ``logs``: JSON log lines carrying the request id, never video content
- ``audit``: one JSON line per detect request, who sent what
- ``receipt_keys``: the Ed25519 keys that sign receipts, generated once and rotated by number
- ``jwks``: ``GET /.well-known/jwks.json``, the public keys receipts are verified with
- ``metrics``: the gateway's Prometheus metrics at ``GET /metrics``
- ``healthcheck``: ``python -m gateway.healthcheck``, exit 0 when ``/healthz`` answers
- ``jobs``: asynchronous detection jobs and signed webhooks (a package of its own)
- ``live``: ``/v1/live``, frames scored as they come over a WebSocket, with rolling verdicts
  (a package of its own, docs/live.md)

This package must not import TensorFlow's runtime (TF Serving's generated protos are
loaded without it, see ``gateway.upstream._protos``), ``model_export`` or ``serving``: it shares
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
    # protos, and ``python -m gateway`` must prepare them (``gateway.upstream._protos``) first.
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "Settings":
        from .settings import Settings

        return Settings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
