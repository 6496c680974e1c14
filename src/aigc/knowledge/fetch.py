"""Fetch a URL for ingestion without becoming a proxy into the company network (SSRF).

The address rules are ``infra.netguard``'s: every connection, the first and each one after a
redirect, resolves the host, refuses it unless every address is globally reachable (not
loopback, private, link-local such as 169.254.169.254, CGNAT, TEST-NET, benchmarking,
multicast, reserved, nor an IPv6 form carrying one of those), and connects to the very address
it checked (no DNS-rebinding window). Operators may open chosen networks
(``kb_fetch_allow_networks``, e.g. an intranet wiki's CIDR).

Redirects are followed here, one hop at a time (at most ``MAX_REDIRECTS``), each target checked
before it is requested so the refusal names it. The body is streamed with a byte limit and the
whole fetch has a deadline.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from aigc.infra.netguard import AddressPolicy, UnsafeURL, guarded_client, parse_networks

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


def policy_allowing(cidrs: Iterable[str]) -> AddressPolicy:
    """The default policy plus the operator's chosen networks, reachable whatever they are."""
    return AddressPolicy(allowed=parse_networks(cidrs))


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
    policy = policy_allowing(allow_networks)
    deadline = time.monotonic() + timeout_s
    with guarded_client(policy, timeout=httpx.Timeout(timeout_s), follow_redirects=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            try:
                policy.check_url(url)
                with client.stream("GET", url, headers={"User-Agent": "aigc-kb/1"}) as response:
                    if response.is_redirect:
                        url = urljoin(url, response.headers.get("location", ""))
                        continue
                    if response.status_code >= 400:
                        raise FetchRefused(f"The server answered HTTP {response.status_code}")
                    data = _read_limited(response, max_bytes, deadline)
                    return Fetched(url, *_name_and_type(url, response), data)
            except UnsafeURL as exc:
                raise FetchRefused(f"Refused to fetch {_shown(url)}: {exc}") from None
            except httpx.TimeoutException:
                raise FetchRefused(f"Fetching took longer than {timeout_s:g} s") from None
            except httpx.HTTPError as exc:
                raise FetchRefused(f"Could not fetch {_shown(url)}: {exc}") from None
    raise FetchRefused(f"More than {MAX_REDIRECTS} redirects")


def _shown(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


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
