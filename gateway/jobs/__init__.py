"""Asynchronous detection jobs with encrypted media at rest and signed webhooks.

Durable jobs without HTTP: nothing here imports FastAPI or Starlette, or the HTTP edge
(:mod:`gateway.api`, where the routes of ``/v1/jobs`` are). This floor imports the
pipeline, the upstream and the ground floor.

Modules, one concern each:

- ``models``: job and delivery records and states
- ``store`` / ``sqlite_store`` / ``postgres_store``: the durable job store, over the one
  ``schema``; ``rows`` turns its rows into records and back
- ``sql``: the statements both backends run, composed from ``sql_base`` (transactions and
  paramstyle), ``sql_jobs`` (jobs and idempotency keys), ``sql_webhooks`` (deliveries and
  signing secrets) and ``sql_media`` (encrypted media kept in the store)
- ``crypto`` / ``media``: per-job data keys and segmented AES-GCM media files
- ``rekey``: after a KEK rotation, what the previous KEKs protect moved under the current one
- ``worker``: leased claims, heartbeats, the detection pipeline, progress; ``shadowing``:
  a succeeded job's plaintext copy handed to the shadow canary
- ``ssrf`` / ``webhooks``: outbound address policy and signed, retried delivery
- ``events``: a job's end as a webhook payload and its delivery row (no I/O), which the
  store writes in the ending transaction and ``webhooks`` sends
- ``fetch``: a job's media URL, fetched under that policy within the upload limits
- ``url_jobs``: jobs from media URLs, their record and worker fetch
- ``service``: all of it assembled; ``schemas``: the jobs' response models (the HTTP
  routes, :mod:`gateway.api.jobs_routes`, answer with them)
- ``standalone``: ``python -m gateway worker``, the workers without HTTP
- ``metrics``: job and webhook metrics on the gateway's registry

Their settings (``GATEWAY_JOB_*``, ``GATEWAY_WEBHOOK_*``) are ``gateway.job_settings.JobSettings``.
"""
