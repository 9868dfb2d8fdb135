"""The gateway: an HTTPS API that turns an uploaded video or image into a verdict by way of Serving.

A request streams the upload to disk, probes it, decodes the sampled frames on a thread,
sends them in batches to TF Serving over gRPC and aggregates the scores into a verdict
(:mod:`gateway.pipeline.detection` orders those stages). The public surface is small:
:func:`create_app` builds the ASGI application from :class:`Settings`, and
``python -m gateway`` serves it; every other module is the package's own business.

The gateway is four rooms over a ground floor, each a package whose name says what it is;
a module imports its own floor and those below, never one above (``tests/test_import_graph.py``):

- ``api``: the HTTP edge (floor 4): the FastAPI application, routes, dependencies, pages,
  headers, uploads, auth, quotas, audit, the request parameters, the jobs' routes and
  ``/v1/live``; the only room that imports FastAPI or Starlette
- ``jobs``: durable jobs (floor 3): store, SQL, backends, media, crypto, SSRF, service,
  worker, webhooks and their events, without HTTP
- ``pipeline``: upload file to verdict (floor 2): probe, decode, budget, keyframes,
  detection, explain, answers, timing, provenance, the response builder, the shadow
- ``upstream``: the only way to Serving (floor 1): the gRPC client, channels, errors,
  types, tensors, protos and the readers of a version's description

The ground floor, the modules of this package itself (floor 0), imports no room:

- ``settings``: the gateway's settings, read once from the environment;
  ``job_settings``: the jobs' and webhooks' (``settings.jobs``)
- ``errors``: every domain error with its status and code (the one table)
- ``schemas``: the answers' response models (the OpenAPI document);
  ``version_schemas``: the versions ``GET /v1/models`` lists, with their operating points;
  ``shadow_schemas``: the shadow's agreement as ``GET /v1/models`` shows it;
  ``provenance_schemas``: the upload's content credentials as the answer reports them;
  ``audio_schemas``: the upload's audio track and its member's score, as the answer says them;
  ``motion_schemas``: the talking-head member's score and combination, as they are reported
- ``metrics``: the gateway's Prometheus metrics at ``GET /metrics``
- ``logs``: JSON log lines carrying the request id, never video content
- ``tls``: the gateway's TLS material, self-signed when none is configured
- ``tempfiles``: temporary uploads a killed gateway left behind
- ``admission``: videos processed and waiting, uploads received at once; 429 past them
- ``receipt_keys``: the Ed25519 keys that sign receipts, generated once and rotated by number
- ``allocator``: glibc's arenas and mmap threshold, fixed at start so freed frames go back
- ``healthcheck``: ``python -m gateway.healthcheck``, exit 0 when ``/healthz`` answers

Above them all is the door, which may import every floor: this package itself
(:func:`create_app` and :class:`Settings`, imported on first use) and

- ``__main__``: ``python -m gateway``, the API over HTTPS with settings from the environment
  (or ``python -m gateway worker``, the job workers without HTTP)

This package must not import TensorFlow's runtime (TF Serving's generated protos are
loaded without it, see ``gateway.upstream._protos``), ``model_export`` or ``serving``: it
shares only :mod:`contract` with them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api.app import create_app
    from .settings import Settings

__all__ = ["Settings", "create_app"]


def __getattr__(name: str) -> Any:
    # Imported on first use, not with the package: ``gateway.api.app`` loads TF Serving's
    # protos, and ``python -m gateway`` must prepare them (``gateway.upstream._protos``) first.
    if name == "create_app":
        from .api.app import create_app

        return create_app
    if name == "Settings":
        from .settings import Settings

        return Settings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
