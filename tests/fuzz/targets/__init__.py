"""Fuzz targets, one per parser of client bytes; each module defines ``TestOneInput``.

- ``upload``: the multipart and raw request body (:func:`gateway.api.upload.receive_upload`)
- ``probe``: the source sniffer and container probe (:func:`gateway.pipeline.sources.probe_upload`)
- ``image``: the still-image probe and decoder (:mod:`gateway.pipeline.image`)
- ``provenance``: the content-credentials reader
  (:func:`gateway.pipeline.provenance.read_provenance`)
- ``jobs``: the job routes' query parameters and headers, and the callback URL check
  (:mod:`gateway.api.jobs_routes`, :mod:`gateway.api.params`, :mod:`gateway.jobs.ssrf`)
- ``live``: the live endpoint's text messages and binary frames, images and video chunks
  (:mod:`gateway.api.live.protocol`, :mod:`gateway.api.live.frames`)
"""
