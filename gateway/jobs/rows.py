"""Rows of the job store's tables and the records they hold, both ways.

Column lists are in table order; JSON columns are text in both backends.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .models import Delivery, DeliveryState, Job, JobStatus

JOB_COLUMNS = [
    "id",
    "owner",
    "status",
    "created_at",
    "updated_at",
    "started_at",
    "finished_at",
    "expires_at",
    "params",
    "callback_url",
    "metadata",
    "request_id",
    "input_size",
    "input_sha256",
    "input_duration_s",
    "model_version",
    "progress",
    "result",
    "error",
    "attempts",
    "lease_owner",
    "lease_expires",
    "cancel_requested",
    "wrapped_key",
]
JSON_JOB = {"params", "metadata", "progress", "result", "error"}
DELIVERY_COLUMNS = [
    "id",
    "job_id",
    "owner",
    "message_id",
    "event",
    "url",
    "payload",
    "state",
    "created_at",
    "updated_at",
    "next_attempt_at",
    "attempts",
    "last_status",
    "last_error",
    "log",
    "lease_expires",
]


def job_row(job: Job) -> list[Any]:
    values = []
    for name in JOB_COLUMNS:
        value = getattr(job, name)
        if name in JSON_JOB:
            value = None if value is None else json.dumps(value)
        elif name == "status":
            value = str(value)
        elif name == "cancel_requested":
            value = int(value)
        values.append(value)
    return values


def job_from_row(row: Sequence[Any]) -> Job:
    data = dict(zip(JOB_COLUMNS, row, strict=True))
    for name in JSON_JOB:
        if data[name] is not None:
            data[name] = json.loads(data[name])
    data["status"] = JobStatus(data["status"])
    data["cancel_requested"] = bool(data["cancel_requested"])
    if data["wrapped_key"] is not None:
        data["wrapped_key"] = bytes(data["wrapped_key"])
    return Job(**data)


def delivery_row(d: Delivery) -> list[Any]:
    values = []
    for name in DELIVERY_COLUMNS:
        value = getattr(d, name)
        if name == "log":
            value = json.dumps(value)
        elif name == "state":
            value = str(value)
        values.append(value)
    return values


def delivery_from_row(row: Sequence[Any]) -> Delivery:
    data = dict(zip(DELIVERY_COLUMNS, row, strict=True))
    data["log"] = json.loads(data["log"])
    data["state"] = DeliveryState(data["state"])
    return Delivery(**data)


JOB_SELECT = f"SELECT {', '.join(JOB_COLUMNS)} FROM jobs"
DELIVERY_SELECT = f"SELECT {', '.join(DELIVERY_COLUMNS)} FROM deliveries"
