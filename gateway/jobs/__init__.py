"""Asynchronous detection jobs with encrypted media at rest and signed webhooks.

Modules, one concern each:

- ``models``: job and delivery records and states
- ``store`` / ``sql`` / ``sqlite_store`` / ``postgres_store``: the durable job store, over
  the one ``schema``; ``rows`` turns its rows into records and back
- ``crypto`` / ``media``: per-job data keys and segmented AES-GCM media files
- ``params``: detection parameters shared with ``/v1/detect``
- ``worker``: leased claims, heartbeats, the detection pipeline, progress
- ``ssrf`` / ``webhooks``: outbound address policy and signed, retried delivery
- ``fetch``: a job's media URL, fetched under that policy within the upload limits
- ``service``: all of it assembled; ``routes`` / ``schemas``: the HTTP API
- ``settings``: ``GATEWAY_JOB_*`` and ``GATEWAY_WEBHOOK_*``
"""
