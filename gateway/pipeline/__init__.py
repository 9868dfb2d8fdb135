"""Upload file to verdict: probe, decode, budget, keyframes, scores, explanations, the answer.

:mod:`gateway.pipeline.detection` orders the stages. This floor imports the upstream
(:mod:`gateway.upstream`, to reach Serving) and the ground floor, never jobs or the HTTP
edge, so the sync route and the job worker run the same pipeline.

Modules, one line each:

- ``detection``: the pipeline's named, timed stages, in order, and hot swaps mid-video
- ``robustness``: the stability probe: re-encoded, downscaled and mirrored copies scored again
- ``detection_types``: what one detection takes and gives: options, progress, result
- ``params``: what a caller may choose about one detection (``/v1/detect`` and ``/v1/jobs``
  alike), its options, and the request hash and metadata rules jobs keep
- ``pipeline_config``: what the settings fix for every detection (sizes, batches, limits)
- ``sources``: an upload told apart by its bytes as a still image or a video, the one seam
  between the file and the pipeline's probe and decode stages
- ``probe``: is the upload a video within the limits, and what it holds
- ``image``: still images (JPEG, PNG, WebP) probed and decoded into one upright RGB frame
- ``video``: which frames to analyse, decoded upright in RGB at the size to send
- ``decoder``: the decode thread and its bridge to asyncio
- ``budget``: what decoding one upload may cost (CPU time, pixels, wall-clock time)
- ``audio``: the upload's first audio stream resampled to the contract's rate, within bounds
- ``audio_member``: the audio stage: the track decoded beside the video, scored by a
  version's audio-visual member (``classify_audio``), and the answer's ``audio`` block
- ``motion_member``: the motion stage: the longest face track scored by a version's
  talking-head member (``classify_motion``), and the answer's ``motion`` block
- ``track_members``: what the two track members share: the faces they are sent, how their
  answer reads and the order their scores join the verdict (talking-head, then audio)
- ``keyframes``: faces detected on a few sampled frames and followed on the others
- ``answers``: Serving's answers read into per-frame and per-face results and thresholds
- ``sequence_head``: which aggregation decides, and a sequence head scoring the tracks
- ``explain``: where in each face the version saw a fake, as small PNG images
- ``provenance``: the upload's C2PA manifest store, read and summarised
- ``timing``: how long each named stage of one request took
- ``responses``: a pipeline result as the answer's body (sync and jobs alike), with its receipt
- ``receipts``: each answer's signed receipt (a compact JWS over the media's hash and the answer)
- ``timeline_svg``: a detection result's timeline as an SVG image
- ``shadow``: a second version scores sampled detections after their answer, for comparison
"""
