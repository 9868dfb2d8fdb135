"""``python -m gateway``: serve the API over HTTPS with the settings from the environment.

``python -m gateway worker`` runs only job workers (see :mod:`gateway.jobs.standalone`);
``python -m gateway rotate-receipt-key`` makes a new receipt signing key, which running
gateways sign with from their next answer on (see :mod:`gateway.receipt_keys`).
"""

from __future__ import annotations

from .upstream._protos import use_protos_without_tensorflow_runtime

# Before anything imports the TF Serving protos (see _protos for why).
use_protos_without_tensorflow_runtime()

import asyncio  # noqa: E402
import logging  # noqa: E402
import ssl  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import uvicorn  # noqa: E402

from . import logs  # noqa: E402
from .allocator import tune_allocator  # noqa: E402
from .api.app import create_app  # noqa: E402
from .settings import get_settings  # noqa: E402
from .tempfiles import sweep_stale_uploads  # noqa: E402
from .tls import ensure_self_signed, server_context  # noqa: E402

log = logging.getLogger("gateway")


class _TlsConfig(uvicorn.Config):
    """uvicorn's Config with our SSL context: TLS 1.2+ only, optional client certificates."""

    def __init__(self, *args: object, ssl_context: ssl.SSLContext, **kwargs: object) -> None:
        self._ctx = ssl_context
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def load(self) -> None:
        super().load()
        self.ssl = self._ctx


def main() -> None:
    started = time.time()
    settings = get_settings()
    logs.configure(settings.log_level)
    # Before any thread allocates: the arenas are fixed when threads first need them.
    tune_allocator()
    if sys.argv[1:] == ["worker"]:
        from .jobs.standalone import run_worker

        asyncio.run(run_worker(settings, settings.jobs))
        return
    if sys.argv[1:] == ["rotate-receipt-key"]:
        from .receipt_keys import rotate_receipt_key

        kid = rotate_receipt_key(settings.receipt_keys_path)
        log.info("receipt key rotated", extra={"kid": kid})
        sys.stdout.write(f"{kid}\n")
        return
    if sys.argv[1:]:
        sys.exit(
            "usage: python -m gateway [worker | rotate-receipt-key]; "
            f"unknown arguments {sys.argv[1:]}"
        )
    # Uploads a killed process could not remove; those of this process come later.
    sweep_stale_uploads(settings.var_dir / "uploads", older_than=started)
    generate = settings.tls_cert is None and settings.tls_key is None
    if generate and ensure_self_signed(settings.cert_path, settings.key_path):
        log.info("generated a self-signed certificate", extra={"cert": str(settings.cert_path)})
    ctx = server_context(settings.cert_path, settings.key_path, settings.tls_client_ca)
    app = create_app(settings)
    config = _TlsConfig(
        app,
        ssl_context=ctx,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
        # h11 is the parser whose buffer limit applies; it caps what a client can make
        # the gateway hold before the headers are complete (the 431 check is below it).
        http="h11",
        h11_max_incomplete_event_size=2 * settings.max_header_bytes,
        # /v1/live: a message past twice the frame limit is refused by the protocol (1009);
        # a client that reads nothing misses its pongs and is closed (docs/live.md).
        ws="websockets-sansio",
        ws_max_size=2 * settings.live_max_frame_bytes,
        ws_ping_interval=settings.live_idle_seconds,
        ws_ping_timeout=settings.live_idle_seconds,
        # Frames are JPEG, PNG or WebP: compressing them again costs CPU for nothing.
        ws_per_message_deflate=False,
        # A placeholder so uvicorn's own SSL setup runs; the context above replaces it.
        ssl_certfile=str(settings.cert_path),
        ssl_keyfile=str(settings.key_path),
    )
    log.info("gateway starting", extra={"host": settings.host, "port": settings.port})
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
