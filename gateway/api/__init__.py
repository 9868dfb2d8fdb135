"""The HTTP edge: the FastAPI application, its routes, dependencies, pages and middleware.

The top floor: the only part of the gateway that imports FastAPI or Starlette, and the
only one that may import every other floor (the pipeline, jobs, upstream, ground).

Modules, one line each:

- ``app``: the FastAPI application, wiring settings, the Serving client, pipeline and routes
- ``deps``: typed dependencies the routes take (and tests override)
- ``routes``: the HTTP routes of ``/v1/detect``, ``/v1/models`` and the health checks
- ``params``: the detection query parameters ``/v1/detect`` and ``/v1/jobs`` both take
- ``jobs_routes``: the HTTP routes of asynchronous jobs (``/v1/jobs``)
- ``jobs_url_request``: a job from a media URL, its JSON body on ``POST /v1/jobs``
- ``jobs_replay``: ``POST /v1/jobs/{id}/replay``, a job's kept media scored by another version
- ``jobs_manifest``: a succeeded job's verdict as a C2PA manifest signed by the gateway,
  bound to its kept media
- ``error_responses``: the handlers that render domain errors as JSON, and the routes'
  documented errors
- ``auth``: API keys, held as SHA-256 hashes and compared in constant time
- ``quotas``: per-key request rate (token bucket) and concurrent requests
- ``audit``: one JSON line per detect request, who sent what
- ``upload``: the request body streamed to a temporary file within the limits
- ``jwks``: ``GET /.well-known/jwks.json``, the public keys receipts are verified with
- ``webhook_routes``: the HTTP routes of a job's webhooks (deliveries, redelivery) and
  ``/v1/webhook-secret``
- ``webui``: the web page at ``/ui``, static files from ``gateway/api/ui/``
- ``docs``: the ``/docs`` and ``/redoc`` pages under their own Content-Security-Policy
- ``security_headers``: security headers on every response (ASGI middleware)
- ``header_limits``: requests whose request line and headers are too large refused (431)
- ``live``: ``/v1/live``, frames scored as they come over a WebSocket, with rolling verdicts
  (a package of its own, docs/live.md)
- ``ui``: the web page's static files (HTML, JavaScript, CSS)
"""
