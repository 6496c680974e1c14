"""GET a URL a caller gave us without becoming a proxy into the company network (SSRF).

The address rules are ``infra.netguard``'s: every connection, the first and each one after a
redirect, resolves the host, refuses it unless every address is globally reachable (not
loopback, private, link-local such as 169.254.169.254, CGNAT, TEST-NET, benchmarking,
multicast, reserved, nor an IPv6 form carrying one of those), and connects to the very address
it checked (no DNS-rebinding window). Operators may open chosen networks (``allow_networks``,
e.g. an intranet wiki's CIDR).

Redirects are followed here, one hop at a time (at most ``MAX_REDIRECTS``), each target checked
before it is requested so the refusal names it. The body is streamed with a byte limit and the
whole fetch has a deadline. Used by URL ingestion into knowledge bases and by images in chat.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from aigc.infra.netguard import AddressPolicy, UnsafeURL, guarded_client, parse_networks

MAX_REDIRECTS = 5


class FetchRefused(ValueError):
    """The URL may not or could not be fetched; the message says why, and ``kind`` with
    ``values`` which rule or failure it was (for a client to say in its own language)."""

    def __init__(self, message: str, kind: str = "fetch_failed", **values: str | int) -> None:
        super().__init__(message)
        self.kind = kind
        self.values = values


class FetchTooLarge(FetchRefused):
    """The answer is longer than the byte limit (said so by its length, or found reading)."""


def policy_allowing(cidrs: Iterable[str]) -> AddressPolicy:
    """The default policy plus the operator's chosen networks, reachable whatever they are."""
    return AddressPolicy(allowed=parse_networks(cidrs))


@dataclass
class Download:
    url: str  # after redirects
    content_type: str  # the server's word for it, lower case, without parameters
    data: bytes
    charset: str | None = None  # the encoding the server declared for a text, if any


def fetch_bytes(
    url: str,
    max_bytes: int,
    timeout_s: float,
    allow_networks: Iterable[str] = (),
    user_agent: str = "aigc/1",
) -> Download:
    """GET ``url`` under the SSRF rules above, at most ``max_bytes`` within ``timeout_s``."""
    policy = policy_allowing(allow_networks)
    deadline = time.monotonic() + timeout_s
    with guarded_client(policy, timeout=httpx.Timeout(timeout_s), follow_redirects=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            try:
                policy.check_url(url)
                with client.stream("GET", url, headers={"User-Agent": user_agent}) as response:
                    if response.is_redirect:
                        url = urljoin(url, response.headers.get("location", ""))
                        continue
                    if response.status_code >= 400:
                        raise FetchRefused(
                            f"The server answered HTTP {response.status_code}",
                            "fetch_http_status",
                            status=response.status_code,
                        )
                    data = _read_limited(response, max_bytes, deadline)
                    return Download(url, content_type(response), data, response.charset_encoding)
            except UnsafeURL as exc:
                raise FetchRefused(
                    f"Refused to fetch {shown(url)}: {exc}", "fetch_not_allowed", url=shown(url)
                ) from None
            except httpx.TimeoutException:
                raise FetchRefused(
                    f"Fetching took longer than {timeout_s:g} s",
                    "fetch_timeout",
                    seconds=f"{timeout_s:g}",
                ) from None
            except httpx.HTTPError as exc:
                raise FetchRefused(
                    f"Could not fetch {shown(url)}: {exc}", "fetch_failed", url=shown(url)
                ) from None
    raise FetchRefused(f"More than {MAX_REDIRECTS} redirects", "fetch_redirects", max=MAX_REDIRECTS)


def shown(url: str) -> str:
    """What a message may say of a URL: scheme, host and port (no path, query or userinfo)."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. brackets around no IPv6 address: nothing to show safely
        return "this URL"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{parts.scheme}://{parts.hostname}" + (f":{port}" if port else "")


def content_type(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").split(";")[0].strip().lower()


def _read_limited(response: httpx.Response, max_bytes: int, deadline: float) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise FetchTooLarge(
            f"The response is {declared} bytes; the limit is {max_bytes}",
            "fetch_too_large",
            max_bytes=max_bytes,
        )
    body = bytearray()
    for piece in response.iter_bytes():
        body.extend(piece)
        if len(body) > max_bytes:
            raise FetchTooLarge(
                f"The response is larger than the limit of {max_bytes} bytes",
                "fetch_too_large",
                max_bytes=max_bytes,
            )
        if time.monotonic() > deadline:
            raise FetchRefused("Fetching took longer than the time limit", "fetch_timed_out")
    return bytes(body)
