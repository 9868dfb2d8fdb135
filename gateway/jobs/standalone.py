"""``python -m gateway worker``: job workers, webhook delivery and housekeeping, no HTTP.

It reads the gateway's settings. With ``GATEWAY_JOB_WORKERS=0`` (the gateway then runs
no workers of its own) it runs ``GATEWAY_MAX_IN_FLIGHT`` jobs at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from functools import partial

from ..admission import Admission
from ..job_settings import JobSettings
from ..pipeline.detection import DetectionPipeline
from ..pipeline.responses import detection_response
from ..pipeline.shadow import shadow_canary_from
from ..receipt_keys import ReceiptKeys
from ..settings import Settings
from ..upstream.serving_client import ServingClient
from .service import JobService

log = logging.getLogger(__name__)


async def run_worker(settings: Settings, job_settings: JobSettings) -> None:
    """Work on jobs until SIGTERM or SIGINT."""
    client = ServingClient.from_settings(settings)
    jobs = JobService(settings, job_settings)
    slots = job_settings.workers or settings.max_in_flight
    admission = Admission(settings.max_in_flight, settings.max_queue)
    pipeline = DetectionPipeline.from_settings(settings, client, admission=admission)
    # Jobs run here are shadowed as the gateway's own would be (GATEWAY_SHADOW_*).
    shadow = shadow_canary_from(settings, pipeline)
    if shadow is not None:
        shadow.start()
    jobs.start(
        pipeline,
        admission,
        # Results are signed with the gateway's keys: the same GATEWAY_RECEIPT_KEYS_DIR.
        partial(detection_response, receipt_keys=ReceiptKeys(settings.receipt_keys_path)),
        workers=slots,
        shadow=shadow,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "worker process started",
        extra={"slots": slots, "store": job_settings.store.split("://")[0]},
    )
    try:
        await stop.wait()
    finally:
        log.info("worker process stopping")
        if shadow is not None:
            await shadow.stop()
        with contextlib.suppress(Exception):
            await jobs.stop()
        await client.close()
