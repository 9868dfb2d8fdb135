"""The FastAPI application: wiring of settings, Serving client, detection pipeline and routes."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import metrics
from ..admission import Admission, ReceiveLimit
from ..job_settings import JobSettings
from ..jobs.service import JobService
from ..logs import request_id_var
from ..pipeline.detection import DetectionPipeline
from ..pipeline.responses import detection_response
from ..pipeline.shadow import shadow_canary_from
from ..receipt_keys import ReceiptKeys
from ..settings import Settings
from ..upstream.serving_client import ServingClient
from .audit import AuditLog
from .auth import ApiKeyVerifier
from .docs import docs_router
from .error_responses import install_error_handlers
from .header_limits import HeaderLimits
from .jobs_manifest import router as manifest_router
from .jobs_replay import router as replay_router
from .jobs_routes import router as jobs_router
from .jwks import jwks_router
from .live.route import LiveStreams
from .live.route import router as live_router
from .quotas import KeyQuotas
from .routes import router
from .security_headers import SecurityHeaders
from .webhook_routes import router as webhook_router
from .webui import ui_router

log = logging.getLogger("gateway.access")


class RequestContext:
    """Request id (``X-Request-ID``), per-route metrics and one access log line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = (
            incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex
        )
        token = request_id_var.set(request_id)
        status = 500
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            path = route.path if isinstance(route, APIRoute) else "unmatched"
            metrics.REQUESTS.labels(route=path, method=scope["method"], status=str(status)).inc()
            metrics.REQUEST_SECONDS.labels(route=path).observe(elapsed)
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "route": path,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 1),
                },
            )
            request_id_var.reset(token)


def create_app(settings: Settings, job_settings: JobSettings | None = None) -> FastAPI:
    """Build the gateway application for ``settings`` (``job_settings``: ``settings.jobs``)."""
    job_settings = job_settings or settings.jobs

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.client = ServingClient.from_settings(settings)
        app.state.pipeline = DetectionPipeline.from_settings(
            settings, app.state.client, admission=app.state.admission
        )
        # The first start makes the receipt key, before any answer needs it.
        app.state.receipt_keys.signing_key()
        app.state.shadow = shadow_canary_from(settings, app.state.pipeline)
        if app.state.shadow is not None:
            app.state.shadow.start()
        app.state.jobs = JobService(settings, job_settings)
        # In-process job workers share the admission limits of synchronous requests.
        app.state.jobs.start(
            app.state.pipeline,
            app.state.admission,
            partial(detection_response, receipt_keys=app.state.receipt_keys),
            workers=job_settings.workers,
            shadow=app.state.shadow,
        )
        try:
            yield
        finally:
            if app.state.shadow is not None:
                await app.state.shadow.stop()
            await app.state.jobs.stop()
            await app.state.client.close()

    app = FastAPI(
        title="Deepfake detection API",
        version="1",
        summary="Upload a video, get a verdict with per-face, per-frame evidence.",
        lifespan=lifespan,
        # Served by ``docs`` with a Content-Security-Policy of their own.
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=lambda route: (
            f"{route.tags[0]}-{route.name}" if route.tags else route.name
        ),
    )
    app.state.settings = settings
    app.state.verifier = ApiKeyVerifier.from_config(settings.api_keys, settings.api_key_file)
    app.state.admission = Admission(settings.max_in_flight, settings.max_queue)
    app.state.receiving = ReceiveLimit(settings.max_receiving)
    app.state.quotas = KeyQuotas(settings.rate_limit_per_min, settings.max_in_flight_per_key)
    app.state.receipt_keys = ReceiptKeys(settings.receipt_keys_path)
    app.state.live_streams = LiveStreams(settings.live_streams_per_key)
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(jobs_router)
    app.include_router(webhook_router)
    app.include_router(replay_router)
    app.include_router(manifest_router)
    app.include_router(docs_router(app))
    app.include_router(ui_router())
    app.include_router(jwks_router())
    app.include_router(live_router)
    # Outermost last: security headers on everything, then request id and access log,
    # then the audit line (which sees 431s too), then the header size check.
    app.add_middleware(HeaderLimits, max_bytes=settings.max_header_bytes)
    app.add_middleware(AuditLog)
    app.add_middleware(RequestContext)
    app.add_middleware(SecurityHeaders)
    return app
