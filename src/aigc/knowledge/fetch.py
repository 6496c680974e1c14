"""Fetch a URL for ingestion without becoming a proxy into the company network (SSRF).

Every connection, the first and each one after a redirect, goes through ``GuardedBackend``:
it resolves the host itself, refuses the connection if any resolved address is loopback,
private, link-local (169.254.0.0/16, where cloud metadata lives), multicast, reserved or
otherwise not globally routable, and then connects to the address it checked, so a DNS answer
that changes between check and connect (rebinding) cannot slip through. Operators may open
chosen networks (``kb_fetch_allow_networks``, e.g. an intranet wiki's CIDR).

Redirects are followed by hand (at most ``MAX_REDIRECTS``), only to http(s). The body is
streamed with a byte limit and the whole fetch has a deadline.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urljoin, urlsplit

import httpcore
import httpx

MAX_REDIRECTS = 5
CONTENT_TYPES = {
    "text/html": "html",
    "application/xhtml+xml": "html",
    "text/plain": "txt",
    "text/markdown": "md",
    "text/csv": "csv",
    "application/json": "json",
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
}


class FetchRefused(ValueError):
    """The URL may not or could not be fetched; the message says why."""


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(cidrs: Iterable[str]) -> list[Network]:
    return [ipaddress.ip_network(c, strict=False) for c in cidrs]


def check_address(address: str, allowed: list[Network]) -> None:
    """Refuse an address that is not on the public internet (unless explicitly allowed)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in net for net in allowed):
        return
    if ip.is_loopback:
        kind = "a loopback address"
    elif ip.is_link_local:
        kind = "a link-local address (cloud metadata lives there)"
    elif ip.is_private:
        kind = "a private network address"
    elif ip.is_multicast or ip.is_reserved or ip.is_unspecified or not ip.is_global:
        kind = "not a public internet address"
    else:
        return
    raise FetchRefused(f"Refused to fetch from {ip}: it is {kind}")


def resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FetchRefused(f"Cannot resolve host '{host}': {exc.strerror}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.SyncBackend):
    """httpcore's socket backend, checking every address before it connects to it."""

    def __init__(self, allowed: list[Network]) -> None:
        self.allowed = allowed

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):  # type: ignore[no-untyped-def, override]
        addresses = resolve(host, port)
        for address in addresses:  # all of them: a later retry must not reach a refused one
            check_address(address, self.allowed)
        return super().connect_tcp(addresses[0], port, timeout, local_address, socket_options)


@dataclass
class Fetched:
    url: str  # after redirects
    filename: str
    content_type: str
    data: bytes


def fetch(
    url: str, max_bytes: int, timeout_s: float, allow_networks: Iterable[str] = ()
) -> Fetched:
    """GET ``url`` under the SSRF rules above; the result names a file type we can parse."""
    allowed = parse_networks(allow_networks)
    deadline = time.monotonic() + timeout_s
    pool = httpcore.ConnectionPool(network_backend=GuardedBackend(allowed))
    transport = httpx.HTTPTransport()
    transport._pool = pool  # httpx has no public hook for the network backend
    timeout = httpx.Timeout(timeout_s)
    with httpx.Client(transport=transport, timeout=timeout, follow_redirects=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            _check_url(url)
            try:
                with client.stream("GET", url, headers={"User-Agent": "aigc-kb/1"}) as response:
                    if response.is_redirect:
                        location = response.headers.get("location", "")
                        url = urljoin(url, location)
                        continue
                    if response.status_code >= 400:
                        raise FetchRefused(f"The server answered HTTP {response.status_code}")
                    data = _read_limited(response, max_bytes, deadline)
                    return Fetched(url, *_name_and_type(url, response), data)
            except FetchRefused:
                raise
            except httpx.TimeoutException:
                raise FetchRefused(f"Fetching took longer than {timeout_s:g} s") from None
            except httpx.HTTPError as exc:
                cause = exc.__cause__ or exc.__context__
                if isinstance(cause, FetchRefused):
                    raise cause from None
                raise FetchRefused(f"Could not fetch the URL ({type(exc).__name__})") from None
    raise FetchRefused(f"More than {MAX_REDIRECTS} redirects")


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchRefused(f"Only http and https URLs can be fetched, not '{parts.scheme}:'")
    if not parts.hostname:
        raise FetchRefused("The URL has no host")
    if parts.username or parts.password:
        raise FetchRefused("URLs with credentials are not fetched")


def _read_limited(response: httpx.Response, max_bytes: int, deadline: float) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise FetchRefused(f"The document is {declared} bytes; the limit is {max_bytes}")
    body = bytearray()
    for piece in response.iter_bytes():
        body.extend(piece)
        if len(body) > max_bytes:
            raise FetchRefused(f"The document is larger than the limit of {max_bytes} bytes")
        if time.monotonic() > deadline:
            raise FetchRefused("Fetching took longer than the time limit")
    return bytes(body)


def _name_and_type(url: str, response: httpx.Response) -> tuple[str, str]:
    """A file name with an extension our parsers know: from the path, else the content type."""
    mime = response.headers.get("content-type", "").split(";")[0].strip().lower()
    fmt = CONTENT_TYPES.get(mime, "html" if not mime else "")
    parts = urlsplit(url)
    base = unquote(parts.path.rstrip("/").rsplit("/", 1)[-1]) or parts.hostname or "page"
    base = base.replace("\\", "_")[:200]
    if "." in base and base.rsplit(".", 1)[1].lower() in (
        "pdf",
        "docx",
        "html",
        "htm",
        "md",
        "txt",
        "csv",
        "json",
        "jsonl",
        "pptx",
        "xlsx",
    ):
        return base, mime
    if not fmt:
        raise FetchRefused(f"Unsupported content type '{mime}'")
    return f"{base}.{fmt}", mime
