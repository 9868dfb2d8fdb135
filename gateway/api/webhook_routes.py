"""HTTP routes of a job's webhooks: its deliveries, a redelivery, the key's signing secret.

``GET /v1/jobs/{id}/deliveries``, ``POST /v1/jobs/{id}/deliveries/redeliver`` and
``POST /v1/webhook-secret``; the work is in :mod:`gateway.jobs.service`, the delivery
itself in :mod:`gateway.jobs.webhooks`.
"""

from __future__ import annotations

from fastapi import APIRouter

from ..errors import JobNotFound, NoWebhook
from ..jobs.schemas import DeliveryList, DeliveryResponse, WebhookSecret
from .error_responses import openapi_responses
from .jobs_routes import JOBS_ROUTE_ERRORS, JobsDep, Owner

router = APIRouter(tags=["jobs"])

_JOB_ERRORS = openapi_responses(*JOBS_ROUTE_ERRORS, JobNotFound)
_REDELIVER_ERRORS = openapi_responses(*JOBS_ROUTE_ERRORS, JobNotFound, NoWebhook)
_SECRET_ERRORS = openapi_responses(*JOBS_ROUTE_ERRORS)


@router.get("/v1/jobs/{job_id}/deliveries", response_model=DeliveryList, responses=_JOB_ERRORS)
async def list_deliveries(job_id: str, jobs: JobsDep, owner: Owner) -> DeliveryList:
    """The job's webhook deliveries and every attempt (status, error, timing)."""
    found = await jobs.deliveries(owner, job_id)
    return DeliveryList(deliveries=[DeliveryResponse.of(d) for d in found])


@router.post(
    "/v1/jobs/{job_id}/deliveries/redeliver",
    status_code=202,
    response_model=DeliveryResponse,
    responses=_REDELIVER_ERRORS,
)
async def redeliver(job_id: str, jobs: JobsDep, owner: Owner) -> DeliveryResponse:
    """Send the job's last webhook again (same ``webhook-id``, new signature and timestamp)."""
    return DeliveryResponse.of(await jobs.redeliver(owner, job_id))


@router.post(
    "/v1/webhook-secret",
    status_code=201,
    response_model=WebhookSecret,
    tags=["webhooks"],
    responses=_SECRET_ERRORS,
)
async def rotate_webhook_secret(jobs: JobsDep, owner: Owner) -> WebhookSecret:
    """Create (or replace) this API key's webhook signing secret; it is shown only here."""
    return WebhookSecret(secret=await jobs.rotate_secret(owner))
