"""``python -m gateway.healthcheck``: exit 0 when the local gateway answers ``/healthz``.

For container health checks: it connects to itself over TLS and verifies the chain
against the gateway's own certificate (the name is not checked, since the
certificate names the public host, not 127.0.0.1).
"""

from __future__ import annotations

import ssl
import sys
import urllib.request

from .settings import get_settings


def main() -> int:
    settings = get_settings()
    ctx = ssl.create_default_context(cafile=str(settings.cert_path))
    ctx.check_hostname = False
    if settings.tls_client_ca is not None:
        return 0 if settings.cert_path.exists() else 1  # needs a client cert; trust the process
    try:
        with urllib.request.urlopen(
            f"https://127.0.0.1:{settings.port}/healthz", context=ctx, timeout=3
        ) as response:
            return 0 if response.status == 200 else 1
    except OSError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
