"""SSRF guard: non-public addresses are refused after DNS resolution and on redirects."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from aigc.infra.netguard import (
    BLOCKED_NETWORKS,
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
    loopback = ipaddress.ip_network("127.0.0.0/8")
    policy = AddressPolicy(blocked=tuple(n for n in BLOCKED_NETWORKS if n != loopback))
    with (
        StubServer() as stub,
        guarded_client(policy, follow_redirects=True) as client,
        pytest.raises(httpx.ConnectError, match=r"169\.254\.169\.254 is not public"),
    ):
        client.post(f"{stub.base_url}/chat/completions", json={"model": "redirect"})
    assert REDIRECT_TO.startswith("http://169.254.169.254")
