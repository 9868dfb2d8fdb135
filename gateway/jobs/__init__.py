"""Asynchronous detection jobs with encrypted media at rest and signed webhooks.

Modules, one concern each:

- ``models``: job and delivery records and states
- ``store`` / ``sqlite_store`` / ``postgres_store``: the durable job store, over the one
  ``schema``; ``rows`` turns its rows into records and back
- ``sql``: the statements both backends run, composed from ``sql_base`` (transactions and
  paramstyle), ``sql_jobs`` (jobs and idempotency keys), ``sql_webhooks`` (deliveries and
  signing secrets) and ``sql_media`` (encrypted media kept in the store)
- ``crypto`` / ``media``: per-job data keys and segmented AES-GCM media files
- ``rekey``: after a KEK rotation, what the previous KEKs protect moved under the current one
- ``params``: the detection query parameters shared with ``/v1/detect`` (what they are
  parsed into is :mod:`gateway.pipeline.params`)
- ``worker``: leased claims, heartbeats, the detection pipeline, progress; ``shadowing``:
  a succeeded job's plaintext copy handed to the shadow canary
- ``ssrf`` / ``webhooks``: outbound address policy and signed, retried delivery
- ``events``: a job's end as a webhook payload and its delivery row (no I/O), which the
  store writes in the ending transaction and ``webhooks`` sends
- ``fetch``: a job's media URL, fetched under that policy within the upload limits
- ``url_jobs`` / ``url_request``: jobs from media URLs, their record and worker fetch, and
  their JSON body on ``POST /v1/jobs``
- ``service``: all of it assembled; ``routes`` / ``schemas``: the HTTP API
- ``replay``: a succeeded job's kept media scored again by another version
- ``manifest``: a succeeded job's verdict as a C2PA manifest signed by the gateway, bound
  to its kept media
- ``standalone``: ``python -m gateway worker``, the workers without HTTP
- ``metrics``: job and webhook metrics on the gateway's registry

Their settings (``GATEWAY_JOB_*``, ``GATEWAY_WEBHOOK_*``) are ``gateway.settings.JobSettings``.
"""
