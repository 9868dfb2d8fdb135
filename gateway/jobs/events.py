"""A job's events as webhook payloads: what a delivery announces, with no I/O.

The store writes a delivery row in the transaction that ends a job (:func:`build_delivery`),
the deliverer (:mod:`gateway.jobs.webhooks`) sends it; both need the payload, and neither
the store nor the payload needs the sending.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from .models import Delivery, DeliveryState, Job

#: Payloads stay well below what receivers accept without streaming.
MAX_PAYLOAD_BYTES = 20 * 1024


def job_links(job_id: str) -> dict[str, str]:
    """Relative links of a job's resources."""
    base = f"/v1/jobs/{job_id}"
    return {
        "self": base,
        "events": f"{base}/events",
        "deliveries": f"{base}/deliveries",
    }


def payload_for(job: Job, now: float) -> str:
    """The thin JSON body announcing how ``job`` ended (no timeline, no media)."""
    result = job.result or {}
    data = {
        "id": job.id,
        "status": str(job.status),
        "verdict": result.get("verdict"),
        "score": result.get("score"),
        "threshold": result.get("threshold"),
        "model_version": job.model_version,
        "error": job.error,
        "metadata": job.metadata,
        "links": job_links(job.id),
    }
    body = json.dumps(
        {
            "type": f"job.{job.status}",
            "timestamp": datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z"),
            "data": data,
        },
        separators=(",", ":"),
    )
    if len(body.encode()) > MAX_PAYLOAD_BYTES:
        raise ValueError("webhook payload over its size limit")
    return body


def build_delivery(job: Job, now: float, message_id: str | None = None) -> Delivery:
    """A pending delivery of ``job``'s end to its callback URL, due now."""
    assert job.callback_url is not None
    return Delivery(
        id=uuid.uuid4().hex,
        job_id=job.id,
        owner=job.owner,
        message_id=message_id or f"msg_{uuid.uuid4().hex}",
        event=f"job.{job.status}",
        url=job.callback_url,
        payload=payload_for(job, now),
        state=DeliveryState.PENDING,
        created_at=now,
        updated_at=now,
        next_attempt_at=now,
    )
