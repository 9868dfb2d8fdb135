"""The gRPC channels to Serving: their options, TLS and reconnection backoff."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

#: Large enough for the biggest frame batch we send (64 x 640 x 640 x 3 uint8 = 79 MB).
DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024
#: gRPC waits this long at most between attempts to reconnect to a Serving that went
#: away. Its default (120 s, growing by 1.6x per failure) left the gateway answering 503
#: for many seconds after Serving was back; one attempt a second per target is cheap.
RECONNECT_BACKOFF_MAX_MS = 1000
RECONNECT_BACKOFF_INITIAL_MS = 100


@dataclass(frozen=True)
class TlsConfig:
    """TLS (and, with a client certificate, mutual TLS) to Serving."""

    root_ca: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None

    def credentials(self) -> grpc.ChannelCredentials:
        """gRPC channel credentials from the PEM files."""

        def read(p: Path | None) -> bytes | None:
            return p.read_bytes() if p is not None else None

        return grpc.ssl_channel_credentials(
            root_certificates=read(self.root_ca),
            private_key=read(self.client_key),
            certificate_chain=read(self.client_cert),
        )


@dataclass
class ClientOptions:
    """Deadlines, retries, message size and TLS of the channels to Serving."""

    timeout_s: float = 30.0
    retries: int = 2
    #: Shortest time between two resolutions of a DNS target (new replicas show up after it).
    dns_min_interval_s: float = 30.0
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    tls: TlsConfig | None = None


def channel_options(options: ClientOptions) -> list[tuple[str, object]]:
    """The gRPC arguments every channel to Serving is made with."""
    return [
        ("grpc.max_receive_message_length", options.max_message_bytes),
        ("grpc.max_send_message_length", options.max_message_bytes),
        # A DNS name that resolves to several Serving hosts is balanced by gRPC itself.
        ("grpc.lb_policy_name", "round_robin"),
        ("grpc.enable_retries", 0),
        ("grpc.initial_reconnect_backoff_ms", RECONNECT_BACKOFF_INITIAL_MS),
        ("grpc.max_reconnect_backoff_ms", RECONNECT_BACKOFF_MAX_MS),
        (
            "grpc.dns_min_time_between_resolutions_ms",
            round(options.dns_min_interval_s * 1000),
        ),
    ]


def open_channel(target: str, options: ClientOptions) -> grpc.aio.Channel:
    """An async channel to ``target``, over TLS when ``options.tls`` is set."""
    arguments = channel_options(options)
    if options.tls is not None:
        return grpc.aio.secure_channel(target, options.tls.credentials(), options=arguments)
    return grpc.aio.insecure_channel(target, options=arguments)
