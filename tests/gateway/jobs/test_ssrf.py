"""Callback URLs: only https on allowed ports, resolving only to global addresses."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from gateway.errors import CallbackRefused
from gateway.jobs.ssrf import CallbackPolicy, address_refusal, resolve_callback

POLICY = CallbackPolicy(allowed_ports=frozenset({443, 8443}))


@pytest.mark.parametrize(
    "address",
    [
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "127.0.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd12:3456::1",
        "ff02::1",
        "64:ff9b::a01:203",
        "::ffff:10.0.0.1",
        "::ffff:8.8.8.8",
        "2002:a00:1::1",
        "192.0.2.1",
    ],
)
def test_non_global_addresses_are_refused(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address), POLICY) is not None


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_global_addresses_are_allowed(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address), POLICY) is None


def test_loopback_only_with_the_test_setting() -> None:
    loose = CallbackPolicy(allow_loopback=True)
    assert address_refusal(ipaddress.ip_address("127.0.0.1"), loose) is None
    assert address_refusal(ipaddress.ip_address("10.0.0.1"), loose) is not None


@pytest.mark.parametrize(
    "url",
    [
        "http://8.8.8.8/hook",
        "https://8.8.8.8:22/hook",
        "https://user:pw@8.8.8.8/hook",
        "https://10.0.0.1/hook",
        "https://[::1]/hook",
        "https://localhost/hook",
        "https://name.invalid/hook",
        "ftp://8.8.8.8/",
    ],
)
def test_urls_are_refused(url: str) -> None:
    with pytest.raises(CallbackRefused):
        asyncio.run(resolve_callback(url, POLICY))


def test_a_literal_global_address_on_an_allowed_port_passes() -> None:
    resolved = asyncio.run(resolve_callback("https://8.8.8.8:8443/hook", POLICY))
    assert resolved.port == 8443
    assert [str(a) for a in resolved.addresses] == ["8.8.8.8"]
