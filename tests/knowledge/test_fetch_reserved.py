"""URL ingestion refuses every non-global address, on the first hop and on each redirect.

No traffic leaves loopback: refused addresses are refused before a socket is opened
(``socket.create_connection`` is watched) and names are resolved by a stand-in resolver.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from aigc.infra.fetch import policy_allowing
from aigc.knowledge.fetch import FetchRefused, fetch
from tests.reserved_dns import resolve_to_reserved

RESERVED_NAME = "wiki.partner.example"  # the stand-in resolver answers 192.0.2.2 for it


@pytest.fixture
def no_outside_traffic(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Resolve RESERVED_NAME to TEST-NET-1; record (and refuse) connections off loopback."""
    return resolve_to_reserved(monkeypatch, RESERVED_NAME)


class _Redirects(http.server.BaseHTTPRequestHandler):
    """``/to?url`` redirects to ``url``."""

    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", self.path.partition("?")[2])
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def redirector() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.2", 0), _Redirects)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.2:{server.server_port}"
    server.shutdown()
    server.server_close()


RESERVED_URLS = [
    "http://192.0.2.2:8700/",  # TEST-NET-1: fetched and stored by the attack run
    "http://198.51.100.7/",
    "http://203.0.113.9/",
    "http://198.18.0.1/",
    "http://100.64.0.1/",
    "http://0.0.0.0:8700/",
    "http://255.255.255.255/",
    "http://[::ffff:192.0.2.2]:8700/",
    "http://[64:ff9b::c000:202]:8700/",
    "http://[2002:c000:202::1]:8700/",
    f"http://{RESERVED_NAME}:8700/",
]


@pytest.mark.parametrize("url", RESERVED_URLS)
def test_reserved_addresses_are_refused_before_connecting(
    url: str, no_outside_traffic: list[Any]
) -> None:
    with pytest.raises(FetchRefused, match="not public"):
        fetch(url, max_bytes=10_000, timeout_s=5)
    assert no_outside_traffic == []


@pytest.mark.parametrize("target", ["http://192.0.2.2:8700/", f"http://{RESERVED_NAME}:8700/"])
def test_redirect_to_a_reserved_address_is_refused(
    redirector: str, target: str, no_outside_traffic: list[Any]
) -> None:
    # The first hop is on an allowed network; the redirect hop is judged on its own.
    with pytest.raises(FetchRefused, match="not public"):
        fetch(f"{redirector}/to?{target}", 10_000, 5, allow_networks=["127.0.0.2/32"])
    assert no_outside_traffic == []


def test_operator_may_open_a_reserved_network_on_purpose() -> None:
    # Classification only: which addresses the operator's setting lets through.
    policy = policy_allowing(["192.0.2.0/24"])
    assert str(policy.check_address("192.0.2.2")) == "192.0.2.2"
    with pytest.raises(ValueError, match="not public"):
        policy.check_address("198.51.100.7")
