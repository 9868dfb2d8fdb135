"""Train, evaluate and export deepfake detectors as versioned SavedModels.

One path runs from data to a published version: ingest -> faces -> dataset -> train ->
evaluate -> export -> gate -> publish (atomic rename into ``<base>/<name>/<version>``).
Every exported version honours the wire contract in :mod:`contract` and is checked through
the TF1 session TF Serving restores it with before it is published.

Modules, by stage:

* command line: ``cli`` (parse and dispatch, one module per command), ``__main__``
  (``python -m model_export``), ``paths`` (``MODEL_BASE_PATH``, ``MODEL_NAME``);
* data: ``datasets`` (labelled videos, the group split), ``manipulations`` (each clip's
  kind of manipulation), ``video_io``, ``demo_data`` (synthetic demo clips), ``face_cache``
  (face crops extracted once), ``augment``, ``self_blend`` (self-blended training images);
* training: ``training_run`` (one run from videos to a version, for ``train`` and ``demo``),
  ``demo`` (the demo's settings of that run), ``train`` (frame classifiers), ``finetune``
  (pretrained backbones in stages), ``backbones`` (EfficientNet-Lite and its shipped
  weights), ``sequence`` (CNN+GRU), ``models``, ``mesonet`` (published MesoNet weights),
  ``tuning``;
* measuring: ``roc`` (ROC-AUC, thresholds, accuracy figures), ``evaluate`` (a version on
  labelled videos, threshold calibration), ``evaluate_report`` (the ``evaluate`` command's
  run into its report directory), ``calibration`` (Platt scaling),
  ``operating_points`` (the named thresholds a caller may choose), ``protocol``
  (leave-one-source-out evaluation), ``reliability`` (reliability diagram, ECE, Brier and
  log-loss at the deployment prior), ``robustness`` (scores of re-encoded and transformed
  clips against the originals; the copies come from :mod:`contract.reencode`),
  ``report_plots`` (an evaluation's ROC and confusion-matrix PNGs), ``gate``;
* export: ``preprocess``, ``export`` (whole frames), ``face_export`` (in-graph faces, with
  ``faces/``), ``explain`` (the in-graph Grad-CAM signature), ``sequence_export``,
  ``audio_features`` (the in-graph log-mel spectrogram of an audio-visual member),
  ``av_member`` (a tiny audio-visual member trained on ``av_demo_data``'s synthetic
  talking clips with sound, exported with ``classify_audio``), ``audio_io`` (a clip's
  waveform, by the decode the gateway runs),
  ``warmup``, ``savedmodel`` (the TF1 session loader), ``publish`` (version info and atomic
  publishing), ``digest`` (the SHA-256 of a version's files it reports about itself);
* ensembles: ``ensemble`` (build and publish one), ``ensemble_members`` (versions and
  ``arch:weights`` specs), ``ensemble_combination`` (the weighted logit rule),
  ``ensemble_graph`` (the exported graph), ``ensemble_fit`` (weights and threshold from
  validation videos), ``track_member_versions`` (published track members, as embedded),
  ``track_scoring`` (labelled videos as the gateway sees them for track members),
  ``member_fit`` (how a track member's score joins the video score);
* the talking-head member: ``motion_features`` (a face track's motion, in the graph),
  ``motion_member`` (its logistic model, export and publishing), ``motion_protocol`` (its
  out-of-fold figures, alone and joined), ``motion_training`` (the ``train-motion`` run);
* the default model: ``default_model`` (what ``make serve`` publishes when nothing is),
  ``default_download`` (the bounded, sha256-checked download), ``default_fit`` (fitting its
  shipped calibration).

This package is the offline side of the service: it imports :mod:`contract` but never
``gateway`` or ``serving`` (nor do they import it), so the three deploy independently.
"""
