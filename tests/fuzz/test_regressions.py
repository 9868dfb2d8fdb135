"""Crashes fuzzing found, each replayed against the fixed parser with the answer it now gives.

The inputs libFuzzer saved are under ``crashes/`` (replayed by ``test_seeds``); these
tests state the expected domain error in the gateway's own terms.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from starlette.requests import Request

from gateway.api.upload import UploadLimits, receive_upload
from gateway.errors import BadRequest


def _request(content_type: bytes, body: bytes) -> Request:
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, object]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    scope = {"type": "http", "method": "POST", "headers": [(b"content-type", content_type)]}
    return Request(scope, receive)


def test_multipart_boundary_over_the_parsers_maximum_is_400(tmp_path: Path) -> None:
    # python-multipart refuses a boundary over 256 bytes when the parser is built; that
    # error used to escape as a 500.
    boundary = b"b" * 300
    request = _request(b"multipart/form-data; boundary=" + boundary, b"--" + boundary + b"--\r\n")
    with pytest.raises(BadRequest, match="malformed multipart body"):
        asyncio.run(
            receive_upload(request, limits=UploadLimits(max_bytes=1024), directory=tmp_path)
        )
    assert not list(tmp_path.iterdir())


def test_a_content_length_of_non_ascii_digits_is_not_taken_for_a_size() -> None:
    import asyncio

    from starlette.requests import Request

    from gateway.api.upload import _check_declared_length

    scope = {"type": "http", "method": "POST", "headers": [(b"content-length", "²".encode())]}
    # Another ASGI server may pass the header through: the check ignores it, not raises.
    asyncio.run(asyncio.to_thread(_check_declared_length, Request(scope), 10))
