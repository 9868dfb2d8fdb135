"""The content-credentials reader: :func:`gateway.pipeline.provenance.read_provenance` on a file.

Called as the pipeline's reader thread calls it, with the media type the gateway sniffs
and its default validation size limit. It documents that it never raises for what the file
holds, so any exception is a crash; a read past the gateway's time limit
(``GATEWAY_C2PA_TIMEOUT_S``) is a hang, caught by libFuzzer's ``-timeout``.
"""

from __future__ import annotations

from gateway.pipeline.provenance import MAX_ITEMS, MAX_TEXT, read_provenance
from gateway.pipeline.sources import upload_media_type
from gateway.provenance_schemas import Provenance
from tests.fuzz.support import gateway_default, scratch_file

MAX_VERIFY_BYTES = gateway_default("c2pa_max_verify_bytes")


def TestOneInput(data: bytes) -> None:
    """Read the content credentials of ``data`` as an upload."""
    path = scratch_file(data)
    result = read_provenance(path, upload_media_type(path), max_verify_bytes=MAX_VERIFY_BYTES)
    assert isinstance(result, Provenance)
    # The manifest is the uploader's: what is reported of it stays bounded.
    for text in (result.signer, result.claim_generator, result.signed_at, result.error):
        assert text is None or len(text) <= MAX_TEXT
    for items in (result.digital_source_types, result.validation_errors):
        assert len(items) <= MAX_ITEMS and all(len(i) <= MAX_TEXT for i in items)
