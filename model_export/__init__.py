"""Train, evaluate and export deepfake detectors as versioned SavedModels.

One path runs from data to a published version: ingest -> faces -> dataset -> train ->
evaluate -> export -> gate -> publish (atomic rename into ``<base>/<name>/<version>``).
Every exported version honours the wire contract in :mod:`contract`.
"""
