"""Outbound URL policy: only globally routable addresses; for callbacks, https on an allowed port.

A callback is checked when the job is submitted and again before every delivery, and the
delivery connects to an address this check returned (the IP is pinned), so a second DNS
answer cannot point the request at an internal service. A job's media URL is fetched under
the same address rule (:func:`resolve_checked_sync`, :mod:`.fetch`), at every redirect.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import CallbackRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Long enough for callback URLs with tokens; short enough to fit the request header limit.
MAX_URL_LENGTH = 400

# Besides what ``is_global`` already excludes: ranges that embed or translate to IPv4
# addresses (which may be private) and ones some Python versions call global.
_REFUSED_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "100.64.0.0/10",  # carrier-grade NAT
        "64:ff9b::/96",  # NAT64
        "64:ff9b:1::/48",  # local-use NAT64
        "::ffff:0:0/96",  # IPv4-mapped
        "::/96",  # IPv4-compatible (deprecated)
        "2002::/16",  # 6to4
        "2001::/32",  # Teredo
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
    )
)
_LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


@dataclass(frozen=True)
class CallbackPolicy:
    """What a callback URL may be."""

    allowed_ports: frozenset[int] = frozenset({443})
    #: Tests only: also allow 127.0.0.0/8 and ::1.
    allow_loopback: bool = False


@dataclass(frozen=True)
class ResolvedCallback:
    """A checked callback: connect to ``addresses[0]`` but speak to ``host``."""

    url: str
    host: str
    port: int
    addresses: tuple[IPAddress, ...]


def address_refusal(address: IPAddress, policy: CallbackPolicy) -> str | None:
    """Why ``address`` may not be called back, or None when it may."""
    if policy.allow_loopback and any(address in net for net in _LOOPBACK):
        return None
    if address.is_multicast:
        return "multicast"
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_private:
        return "private"
    for net in _REFUSED_NETWORKS:
        if address.version == net.version and address in net:
            return f"in {net}"
    if address.is_reserved or not address.is_global:
        return "not globally routable"
    return None


def check_url(url: str, policy: CallbackPolicy) -> tuple[str, int]:
    """The host and port of ``url`` if its form is acceptable; :class:`CallbackRefused` if not."""
    if len(url) > MAX_URL_LENGTH:
        raise CallbackRefused(f"callback_url is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port or 443
    except ValueError as exc:
        raise CallbackRefused(f"callback_url is not a valid URL: {exc}") from exc
    if parts.scheme != "https":
        raise CallbackRefused("callback_url must be an https:// URL")
    if not parts.hostname:
        raise CallbackRefused("callback_url has no host")
    if parts.username is not None or parts.password is not None:
        raise CallbackRefused("callback_url must not carry credentials")
    if parts.fragment:
        raise CallbackRefused("callback_url must not have a fragment")
    if port not in policy.allowed_ports:
        allowed = ", ".join(str(p) for p in sorted(policy.allowed_ports))
        raise CallbackRefused(f"callback_url port {port} is not allowed (allowed: {allowed})")
    return parts.hostname, port


class HostUnresolved(Exception):
    """The host does not resolve, or resolves to no address."""


class AddressRefused(Exception):
    """The host resolves to an address the policy refuses (``address``, ``reason``)."""

    def __init__(self, host: str, address: IPAddress, reason: str) -> None:
        super().__init__(f"{host!r} resolves to {address}, which is {reason}")
        self.host, self.address, self.reason = host, address, reason


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _addresses(host: str, infos: list[tuple]) -> tuple[IPAddress, ...]:  # type: ignore[type-arg]
    found: list[IPAddress] = []
    for info in infos:
        # Strip an IPv6 zone id ("fe80::1%eth0"); the address is refused either way.
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    if not found:
        raise HostUnresolved(f"{host!r} has no address")
    return tuple(found)


def check_addresses(host: str, addresses: tuple[IPAddress, ...], policy: CallbackPolicy) -> None:
    """Refuse (:class:`AddressRefused`) when any of ``host``'s addresses is not allowed.

    Every address is checked, not only the first: a client may connect to any of them.
    """
    for address in addresses:
        reason = address_refusal(address, policy)
        if reason is not None:
            raise AddressRefused(host, address, reason)


async def resolve_checked(host: str, port: int, policy: CallbackPolicy) -> tuple[IPAddress, ...]:
    """Every address of ``host``, all of them allowed by ``policy``; the ones to connect to."""
    literal = _literal(host)
    if literal is not None:
        addresses: tuple[IPAddress, ...] = (literal,)
    else:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise HostUnresolved(f"{host!r} does not resolve: {exc}") from exc
        addresses = _addresses(host, infos)
    check_addresses(host, addresses, policy)
    return addresses


def resolve_checked_sync(host: str, port: int, policy: CallbackPolicy) -> tuple[IPAddress, ...]:
    """:func:`resolve_checked` for code running on a thread of its own."""
    literal = _literal(host)
    if literal is not None:
        addresses: tuple[IPAddress, ...] = (literal,)
    else:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise HostUnresolved(f"{host!r} does not resolve: {exc}") from exc
        addresses = _addresses(host, infos)
    check_addresses(host, addresses, policy)
    return addresses


async def resolve_callback(url: str, policy: CallbackPolicy) -> ResolvedCallback:
    """Check ``url`` and every address its host resolves to; refuse if any is not global."""
    host, port = check_url(url, policy)
    try:
        addresses = await resolve_checked(host, port, policy)
    except HostUnresolved as exc:
        raise CallbackRefused(f"callback host {exc}") from exc
    except AddressRefused as exc:
        raise CallbackRefused(
            f"callback host {exc}; only globally routable addresses are called back"
        ) from exc
    return ResolvedCallback(url=url, host=host, port=port, addresses=addresses)
