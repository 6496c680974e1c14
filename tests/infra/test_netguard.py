"""SSRF guard: non-public addresses are refused after DNS resolution and on redirects."""

from __future__ import annotations

import ipaddress
import socket

import httpx
import pytest

from aigc.infra.netguard import (
    DEFAULT_POLICY,
    AddressPolicy,
    UnsafeURL,
    guarded_client,
)
from tests.engine.stub_openai import REDIRECT_TO, StubServer

REFUSED = [
    "http://127.0.0.1:8000/v1",
    "http://10.0.0.1/v1",
    "http://169.254.169.254/latest/meta-data",
    "http://100.100.100.200/latest/meta-data",  # Alibaba Cloud metadata
    "http://192.168.1.1/",
    "http://172.16.5.4/",
    "http://0.0.0.0:8000/",
    "http://[::1]:8000/",
    "http://[::ffff:10.0.0.1]/",
    "http://[fe80::1]/",
    "http://localhost:8000/v1",  # a name resolving to loopback
    "http://2130706433/",  # 127.0.0.1 written as one number
    "http://0x7f.1/",
    "ftp://example.com/",
    "file:///etc/passwd",
    "http://[x]/",  # urlsplit raises ValueError on it: a KB URL like it was a 500
]


@pytest.mark.parametrize("url", REFUSED)
def test_non_public_addresses_refused(url: str) -> None:
    with pytest.raises(UnsafeURL):
        DEFAULT_POLICY.check_url(url)


def test_public_address_passes() -> None:
    assert DEFAULT_POLICY.check_url("https://8.8.8.8/v1") == [ipaddress.ip_address("8.8.8.8")]


def test_client_refuses_at_connect_time() -> None:
    with guarded_client() as client, pytest.raises(httpx.ConnectError, match="not public"):
        client.get("http://127.0.0.1:9/")


def test_redirect_to_metadata_refused() -> None:
    # A policy that lets the loopback stub through, to show the redirect hop is checked too.
    policy = AddressPolicy(allowed=(ipaddress.ip_network("127.0.0.0/8"),))
    with (
        StubServer() as stub,
        guarded_client(policy, follow_redirects=True) as client,
        pytest.raises(httpx.ConnectError, match=r"169\.254\.169\.254 is not public"),
    ):
        client.post(f"{stub.base_url}/chat/completions", json={"model": "redirect"})
    assert REDIRECT_TO.startswith("http://169.254.169.254")


# --- the rule: only globally reachable addresses (is_global, with its 3.11 quirks settled) ----

NOT_GLOBAL = [
    "192.0.2.2",  # TEST-NET-1: fetched and stored by the attack run
    "192.0.2.255",
    "198.51.100.7",  # TEST-NET-2
    "203.0.113.9",  # TEST-NET-3
    "198.18.0.1",  # benchmarking 198.18.0.0/15
    "198.19.255.254",
    "100.64.0.1",  # CGNAT 100.64.0.0/10
    "100.127.255.254",
    "0.0.0.0",
    "0.1.2.3",  # "this network" 0.0.0.0/8
    "240.0.0.1",  # reserved 240.0.0.0/4
    "250.1.2.3",
    "255.255.255.255",
    "192.0.0.1",  # IETF assignments 192.0.0.0/24
    "192.0.0.9",  # "global" to Python 3.11's is_global: refused all the same
    "192.0.0.10",
    "192.0.0.170",
    "192.88.99.1",  # 6to4 relay anycast (deprecated)
    "224.0.0.1",  # multicast (is_global says True)
    "233.252.0.1",
    "239.255.255.250",
    "127.0.0.1",
    "10.1.2.3",
    "172.31.0.1",
    "192.168.0.1",
    "169.254.169.254",
    "::",
    "::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:192.0.2.2",
    "::ffff:100.64.0.1",
    "::127.0.0.1",  # IPv4-compatible (deprecated; is_global says True)
    "::8.8.8.8",
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::c000:202",  # NAT64 of 192.0.2.2
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "64:ff9b:1::808:808",  # local-use NAT64 (RFC 8215)
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:c000:202::1",  # 6to4 of 192.0.2.2
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    "2001::1",
    "2001:1::1",  # 2001::/23: all of it, whatever the Python version
    "2001:4:112::1",
    "2001:20::1",
    "2001:db8::1",  # documentation
    "3fff::1",  # documentation (RFC 9637)
    "5f00::1",  # SRv6 SIDs
    "100::1",  # discard-only
    "fc00::1",  # unique local fc00::/7
    "fd00:ec2::254",  # AWS metadata over IPv6
    "fe80::1",  # link-local
    "fec0::1",  # site-local (deprecated; is_global says True)
    "ff02::1",  # multicast
    "ff0e::1",
]
GLOBAL = ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "2001:4860:4860::8888", "64:ff9b::808:808"]


@pytest.mark.parametrize("address", NOT_GLOBAL)
def test_every_non_global_address_is_refused(address: str) -> None:
    with pytest.raises(UnsafeURL, match="not public"):
        DEFAULT_POLICY.check_address(address)


@pytest.mark.parametrize("address", GLOBAL)
def test_global_addresses_pass(address: str) -> None:
    # Classification only: nothing is sent anywhere.
    assert DEFAULT_POLICY.check_address(address)


def test_every_resolved_address_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    # A name with one public and one TEST-NET address is refused (no traffic: DNS is mocked).
    def fake_dns(host: str, port: int, **_: object) -> list[tuple[object, ...]]:
        assert host == "mixed.example"
        return [(2, 1, 6, "", ("8.8.8.8", port)), (2, 1, 6, "", ("192.0.2.2", port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_dns)
    with pytest.raises(UnsafeURL, match=r"192\.0\.2\.2 is not public"):
        DEFAULT_POLICY.check_url("https://mixed.example/v1")


def test_client_refuses_reserved_address_at_connect_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # The name resolves to TEST-NET-1 only when the connection is made: refused there, before
    # any socket is opened.
    opened: list[object] = []
    monkeypatch.setattr(socket, "getaddrinfo", lambda h, p, **_: [(2, 1, 6, "", ("192.0.2.2", p))])
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: opened.append(a))
    with guarded_client() as client, pytest.raises(httpx.ConnectError, match="not public"):
        client.get("http://rebinding.example:8700/")
    assert opened == []


def test_operator_allowed_networks_open_on_purpose() -> None:
    policy = AddressPolicy(allowed=(ipaddress.ip_network("192.0.2.0/24"),))
    assert policy.check_address("192.0.2.2") == ipaddress.ip_address("192.0.2.2")
    assert policy.check_address("::ffff:192.0.2.2") == ipaddress.ip_address("192.0.2.2")
    with pytest.raises(UnsafeURL):
        policy.check_address("198.51.100.7")
