"""Benchmarks: ``python -m bench`` (``make bench``) times a video's way to a verdict.

Modules, one line each:

- ``__main__``: the benchmark run, from the clips to the written report
- ``clips``: the deterministic H.264 clips measured, and a few labelled real ones
- ``service``: the local Serving and HTTPS gateway as subprocesses, and their clients
- ``settings``: the gateway's sampling settings, read the way the gateway reads them
- ``naive``: the in-process pipelines the service is compared with
- ``decode``: ways to decode the sampled frames, timed side by side
- ``measurements``: what one run measured, per clip and in all, and its statistics
- ``report``: the Markdown report, its sections in order, and its summary lines
- ``report_frames``: the sections on the clips, the frames, the decoders and the scores
- ``report_latency``: the sections on one video at a time: latency, CPU time, stages
- ``report_load``: the sections on the service under load: throughput and peak memory
- ``markdown``: the reports' tables and milliseconds
- ``face_aware``: the service with a face-aware version (MesoInception-4)
- ``face_figures``: the face-aware run's CPU split and its gap to the machine's limit
- ``face_report``: the face-aware sections of the report and their summary lines
- ``gpu_estimate``: a GPU host on paper, from measured CPU costs and published figures
- ``mtcnn_pipeline``: the face-aware pipeline written with the well-known packages
- ``face_detector``: the in-graph MTCNN timed against the ``mtcnn`` package on CPU
- ``face_reference``: the in-graph detector's faces checked against the ``mtcnn`` package's
- ``face_recall``: the keyframe schedule against detection on every frame
- ``receipts``: what signing one answer's receipt costs, in process
- ``track_members``: what each member of a version costs per video, in process
- ``inputs``: a still image against a 10-s clip, and the live part, on one gateway
- ``live``: ``/v1/live`` sessions at 5 frames/s timed: one stream's latency, then a ramp
- ``report_inputs``: the report's section on the still image and live streams, its summary lines
- ``soak``: ``python -m bench.soak``, sustained mixed load on the local service
- ``soak_mix``: the soak's valid, invalid and hostile requests and their bodies
- ``soak_jobs``: the soak's jobs (uploads and media URLs) and how they and their webhooks ended
- ``soak_live``: the soak's live sessions on ``/v1/live``, back to back, and how they ended
- ``soak_stack``: the soak's Serving, gateway and PostgreSQL, each restartable under load
- ``soak_timeline``: what the soak samples every ten seconds, and the growth rates after warm-up
- ``soak_result``: what one soak measured, and what of it counts as a problem
- ``soak_plot``: the soak's plot of RSS and latency over time, events marked
- ``soak_report``: the soak's report, its one-line summary, and where they are written
"""
