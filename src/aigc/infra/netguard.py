"""Outbound-request guard against SSRF: where a URL given by a tenant may point.

The rule: an address is accepted only when it is *globally reachable*, i.e.
``ipaddress.ip_address(x).is_global``, and, for IPv6 forms that carry an IPv4 address
(IPv4-mapped ``::ffff:a.b.c.d``, 6to4 ``2002::/16``, NAT64 ``64:ff9b::/96``), the carried IPv4
address is global too. A list of refusals is only ever incomplete (192.0.2.2, TEST-NET, was
fetched when loopback/RFC 1918/link-local were the list); "global or nothing" is not.

``is_global`` has quirks in Python 3.11, settled here so the rule does not change with the
interpreter (``EXTRA_REFUSED``):

- multicast (224.0.0.0/4, ff00::/8) counts as global: refused;
- 192.0.0.9 and 192.0.0.10 (anycast) count as global: all of 192.0.0.0/24 is refused;
- 2001::/23 is all non-global in 3.11, partly global in 3.12+: all of it is refused, Teredo
  (2001::/32, whose client address is an IPv4 in disguise) included;
- IPv4-compatible ``::a.b.c.d`` (deprecated, RFC 4291) counts as global: all of ::/96 refused;
- 64:ff9b:1::/48 (local-use NAT64, RFC 8215) counts as global in 3.11: refused, the position of
  its IPv4 depends on the local prefix length;
- fec0::/10 (site-local), 3fff::/20 (documentation, RFC 9637), 5f00::/16 (SRv6 SIDs) and
  192.88.99.0/24 (6to4 relay anycast, deprecated) count as global: refused.

The check runs after DNS resolution on *every* address a name resolves to, and
``guarded_client`` repeats it at connect time for every request, redirects included,
connecting to the very address it checked (no DNS-rebinding window).

The operator may open chosen networks on purpose (``AddressPolicy.allowed``, e.g. from
``kb_fetch_allow_networks``): an address inside one is accepted whatever it is.

Used by upstream models registered by tenant admins, and by ``infra.fetch`` (URL ingestion into
knowledge bases, images given by URL in chat).
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

EXTRA_REFUSED: tuple[Network, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "192.0.0.0/24",  # IETF protocol assignments; 3.11 calls .9 and .10 global
        "192.88.99.0/24",  # 6to4 relay anycast (deprecated, RFC 7526)
        "224.0.0.0/4",  # multicast: "global" to ipaddress, never an HTTP server
        "::/96",  # IPv4-compatible (deprecated): ::127.0.0.1 is "global" to ipaddress
        "64:ff9b:1::/48",  # local-use NAT64 (RFC 8215)
        "2001::/23",  # IETF protocol assignments, Teredo (2001::/32) included
        "3fff::/20",  # documentation (RFC 9637)
        "5f00::/16",  # SRv6 SIDs (RFC 9602)
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)
NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")


class UnsafeURL(ValueError):
    """The URL may not be fetched: bad scheme, no host, or a non-public address."""


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, Teredo client, NAT64)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in NAT64_WELL_KNOWN:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(ip: Address) -> bool:
    """True when ``ip`` (and the IPv4 address it carries, if any) is globally reachable."""
    if not ip.is_global or ip.is_multicast:
        return False
    if any(ip in net for net in EXTRA_REFUSED if net.version == ip.version):
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        inner = embedded_ipv4(ip)
        if inner is not None and not is_public(inner):
            return False
    return True


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """The operator's allow-networks setting as networks (host bits tolerated)."""
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs)


@dataclass(frozen=True)
class AddressPolicy:
    """Public addresses pass; so does anything in ``allowed`` (the operator's deliberate
    exceptions, e.g. an intranet wiki's network)."""

    allowed: tuple[Network, ...] = ()
    schemes: frozenset[str] = field(default_factory=lambda: frozenset({"http", "https"}))

    def check_address(self, address: str) -> Address:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # the kernel connects to the IPv4 address: judge that
        if any(ip in net for net in self.allowed if net.version == ip.version):
            return ip
        if not is_public(ip):
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
        try:  # a bracketed host that is no IPv6 address raises
            parts = urlsplit(url)
        except ValueError as exc:
            raise UnsafeURL("the URL cannot be parsed") from exc
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
