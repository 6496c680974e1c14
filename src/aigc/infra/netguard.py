"""Outbound-request guard against SSRF: where a URL given by a tenant may point.

A URL is safe when its scheme is http(s) and *every* address its host resolves to is public:
not loopback, private, link-local (cloud metadata lives there: 169.254.169.254), CGNAT
(Alibaba Cloud's metadata is 100.100.100.200), multicast, reserved or unspecified. The check runs
after DNS resolution, and ``guarded_client`` repeats it at connect time for every request,
redirects included, connecting to the very address it checked (no DNS-rebinding window).

Used by upstream models registered by tenant admins and by URL ingestion into knowledge bases.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import certifi
import httpcore
import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

BLOCKED_NETWORKS: tuple[Network, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches the local host
        "10.0.0.0/8",
        "100.64.0.0/10",  # CGNAT; cloud metadata (100.100.100.200)
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local; cloud metadata (169.254.169.254)
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "ff00::/8",
        "fd00:ec2::254/128",  # AWS metadata over IPv6
    )
)


class UnsafeURL(ValueError):
    """The URL may not be fetched: bad scheme, no host, or a non-public address."""


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses are refused; the default refuses everything that is not public."""

    blocked: tuple[Network, ...] = BLOCKED_NETWORKS
    schemes: frozenset[str] = field(default_factory=lambda: frozenset({"http", "https"}))

    def check_address(self, address: str) -> Address:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip in net for net in self.blocked if net.version == ip.version):
            raise UnsafeURL(f"the address {ip} is not public")
        return ip

    def resolve(self, host: str, port: int) -> list[Address]:
        """Every address of ``host``, each checked; refuses if any one is not public."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise UnsafeURL(f"the host {host!r} does not resolve") from exc
        addresses = [str(info[4][0]) for info in infos]
        if not addresses:
            raise UnsafeURL(f"the host {host!r} does not resolve")
        return [self.check_address(a) for a in addresses]

    def check_url(self, url: str) -> list[Address]:
        parts = urlsplit(url)
        if parts.scheme not in self.schemes:
            raise UnsafeURL(f"only {', '.join(sorted(self.schemes))} URLs are allowed")
        if not parts.hostname:
            raise UnsafeURL("the URL has no host")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise UnsafeURL("the URL has an invalid port") from exc
        return self.resolve(parts.hostname, port)


DEFAULT_POLICY = AddressPolicy()


class _GuardedBackend(httpcore.NetworkBackend):
    """Resolves, checks, and connects to the checked address (TLS still verifies the name)."""

    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy
        self.inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = self.policy.resolve(host, port)
        except UnsafeURL as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        return self.inner.connect_tcp(
            str(addresses[0]), port, timeout, local_address, socket_options
        )

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not allowed")

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """An httpx transport whose every connection passes the address policy."""

    def __init__(self, policy: AddressPolicy = DEFAULT_POLICY) -> None:
        super().__init__()
        # httpx builds its pool without a way to pass a network backend; build our own.
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl.create_default_context(cafile=certifi.where()),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=_GuardedBackend(policy),
        )


def guarded_client(policy: AddressPolicy = DEFAULT_POLICY, **kwargs: Any) -> httpx.Client:
    """An httpx client that refuses non-public addresses on every hop (redirects included).

    A refused connection raises ``httpx.ConnectError`` whose message names the reason.
    """
    return httpx.Client(transport=GuardedTransport(policy), **kwargs)
