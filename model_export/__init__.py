"""Train, evaluate and export deepfake detectors as versioned SavedModels.

One path runs from data to a published version: ingest -> faces -> dataset -> train ->
evaluate -> export -> gate -> publish (atomic rename into ``<base>/<name>/<version>``).
Every exported version honours the wire contract in :mod:`contract` and is checked through
the TF1 session TF Serving restores it with before it is published.

Modules, by stage:

* command line: ``cli`` (parse and dispatch), ``paths`` (``MODEL_BASE_PATH``, ``MODEL_NAME``);
* data: ``datasets`` (labelled videos, the group split), ``video_io``, ``demo_data``
  (synthetic demo clips), ``face_cache`` (face crops extracted once), ``augment``;
* training: ``training_run`` (one run from videos to a version, for ``train`` and ``demo``),
  ``demo`` (the demo's settings of that run), ``train`` (frame classifiers), ``sequence``
  (CNN+GRU), ``models``, ``mesonet`` (published MesoNet weights), ``tuning``;
* measuring: ``roc`` (ROC-AUC, thresholds, accuracy figures), ``evaluate`` (a version on
  labelled videos, threshold calibration), ``gate``;
* export: ``preprocess``, ``export`` (whole frames), ``face_export`` (in-graph faces, with
  ``faces/``), ``sequence_export``, ``warmup``, ``savedmodel`` (the TF1 session loader),
  ``publish`` (version info and atomic publishing).

This package is the offline side of the service: it imports :mod:`contract` but never
``gateway`` or ``serving`` (nor do they import it), so the three deploy independently.
"""
