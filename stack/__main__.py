"""``python -m stack`` (``make serve``): local Serving + HTTPS gateway until Ctrl-C."""

from __future__ import annotations

import logging
import signal
import sys
import time

from gateway.api.auth import load_or_create_key
from gateway.settings import Settings
from gateway.tls import ensure_self_signed
from model_export.paths import model_base_path

from .processes import (
    ManagedProcess,
    die_with_parent,
    gateway_command,
    serving_command,
    wait_https,
)

log = logging.getLogger("stack")
READY_TIMEOUT_S = 180.0


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    die_with_parent()
    settings = Settings()
    base = model_base_path() / settings.model_name
    logs_dir = settings.var_dir / "logs"
    logs_dir.mkdir(parents=True, exist_ok=True)
    api_key = None
    if not settings.api_keys:
        api_key = load_or_create_key(settings.api_key_file)
    if settings.tls_cert is None and settings.tls_key is None:
        ensure_self_signed(settings.cert_path, settings.key_path)

    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    serving = ManagedProcess(
        "serving",
        serving_command(settings.serving_port, settings.model_name, base),
        log_path=logs_dir / "serving.log",
    )
    gateway = ManagedProcess("gateway", gateway_command(), log_path=logs_dir / "gateway.log")
    children = [gateway, serving]
    host = "localhost" if settings.host in ("127.0.0.1", "0.0.0.0", "::") else settings.host
    url = f"https://{host}:{settings.port}"
    try:
        log.info("waiting for Serving and the gateway (logs in %s)", logs_dir)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not stopping:
            try:
                wait_https(f"{url}/readyz", settings.cert_path, timeout_s=2.0, proc=gateway)
                break
            except TimeoutError:
                if not serving.alive():
                    raise RuntimeError(f"serving exited early:\n{serving.log_tail()}") from None
                if time.monotonic() > deadline:
                    raise
        if not stopping:
            key_text = api_key or "<one of GATEWAY_API_KEYS>"
            print(
                f"\nDeepfake detection API ready at {url}\n"
                f"  API key:   {key_text}\n"
                f"  TLS cert:  {settings.cert_path}\n"
                f"  Docs:      {url}/docs\n"
                f"  Web page:  {url}/ui\n"
                f"\nTry it:\n"
                f"  curl --cacert {settings.cert_path} -H 'Authorization: Bearer {key_text}' \\\n"
                f"       -F video=@path/to/clip.mp4 {url}/v1/detect\n"
                f"\nCtrl-C stops both.\n",
                flush=True,
            )
        while not stopping:
            for child in children:
                if not child.alive():
                    log.error(
                        "%s exited (%s):\n%s", child.name, child.proc.returncode, child.log_tail()
                    )
                    stopping = True
            time.sleep(0.2)
        return 0
    except (RuntimeError, TimeoutError) as exc:
        log.error("%s", exc)
        return 1
    finally:
        for child in children:
            code = child.stop()
            log.info("%s stopped (exit %s)", child.name, code)


if __name__ == "__main__":
    sys.exit(main())
