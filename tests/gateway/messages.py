"""What an error message sent to a client must never carry."""

from __future__ import annotations

import re

#: Paths, FFmpeg's and gRPC's error texts, TensorFlow's, Python frames.
LEAKS = re.compile(
    r"/|\.video|upload-|Errno|Invalid data|returned -?\d+|Traceback|File \"|"
    r"ipv4:|failed to connect|assert|node |\{\{|debug_error_string",
    re.IGNORECASE,
)


def assert_clean(message: str) -> None:
    """``message`` says something, and nothing of the server's internals."""
    assert message, "an error needs a message"
    assert not LEAKS.search(message), f"message leaks internals: {message!r}"
