"""The SQL both job store backends run, over the one schema (:mod:`.schema`).

Every statement lives in one of the mixins composed here, so that the two stores cannot
drift apart: :mod:`.sql_jobs` (jobs and idempotency keys), :mod:`.sql_webhooks`
(deliveries and signing secrets), :mod:`.sql_media` (encrypted media in the store), over
:mod:`.sql_base` (transactions and paramstyle). Rows become records in :mod:`.rows`.
"""

from __future__ import annotations

from .sql_jobs import JobSql
from .sql_media import MediaSql
from .sql_webhooks import WebhookSql

__all__ = ["SqlJobStore"]


class SqlJobStore(JobSql, WebhookSql, MediaSql):
    """:class:`~gateway.jobs.store.JobStore` over a DB-API connection; see the backends."""
