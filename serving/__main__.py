"""``python -m serving``: run the model server until SIGINT or SIGTERM."""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType


class _Shutdown(Exception):
    """Raised in the main thread by a signal during start-up."""


def main(argv: Sequence[str] | None = None) -> int:
    """Parse flags, start the server, serve until a signal; return the exit code."""
    logging.basicConfig(
        level=os.environ.get("SERVING_LOG_LEVEL", "INFO").upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from .flags import parse_flags

    flags = parse_flags(argv)

    from .errors import ServingError
    from .server import ModelServer

    try:
        server = ModelServer(flags)
    except ServingError as exc:
        logging.getLogger("serving").error(
            "Failed to start server. Error: %s: %s", exc.code.name, exc.message
        )
        return 255
    starting = True

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger("serving").info("Received %s, shutting down", signal.Signals(signum).name)
        server.request_stop()
        if starting:
            raise _Shutdown

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        server.start()
        starting = False
        server.wait()
    except _Shutdown:
        pass
    except ServingError as exc:
        logging.getLogger("serving").error(
            "Failed to start server. Error: %s: %s", exc.code.name, exc.message
        )
        server.stop(grace_s=0)
        # main.cc returns -1 when the server fails to start.
        return 255
    server.stop()
    return 0


def exit_now(code: int) -> None:
    """End the process with ``code`` once everything is stopped and unloaded.

    What is left after :func:`main` returns is the interpreter's teardown of TensorFlow and
    gRPC, about 2 s of native destructors that write nothing this process owes anyone; logs
    and standard streams are flushed first.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
