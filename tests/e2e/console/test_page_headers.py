"""Every console page, signed in or not, forbids framing by another site (clickjacking) and
says what it may load, whatever answered it: a page, the sign-in form, the 404, an SSO refusal;
and what identifies a page's live connection stays out of the server's log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.e2e.console.conftest import add_user, wait_connected
from tests.e2e.console.sessions import sign_in
from tests.e2e.server import Org, Server

PAGES = ("/login", "/forbidden", "/no-such-page", "/console/sso/nope/start", "/chat", "/admin")


@pytest.mark.parametrize("signed_in", [False, True])
def test_every_page_refuses_frames_and_sniffing(
    server: Server, console_org: Org, signed_in: bool
) -> None:
    cookies = {}
    if signed_in:
        cookies["aigc_session"] = sign_in(server, add_user(server, console_org, "admin"))
    with httpx.Client(base_url=server.base_url, cookies=cookies, follow_redirects=True) as web:
        for path in PAGES:
            response = web.get(path)
            headers = response.headers
            assert headers["content-type"].startswith("text/html"), path
            assert "frame-ancestors 'none'" in headers["content-security-policy"], path
            assert headers["x-frame-options"] == "DENY", path
            assert headers["x-content-type-options"] == "nosniff", path
            assert headers["referrer-policy"] == "same-origin", path


def test_a_pages_client_id_never_reaches_the_log(
    new_page: Callable[..., Any], server: Server, console_org: Org
) -> None:
    """Found by probing: the server's log held every page's socket URL with its NiceGUI
    ``client_id``, and a socket that presents a live client id may send that page's events
    (clicks, typed text) as the person signed in there: whoever reads the log could drive the
    page. The id is masked wherever a log line holds it."""
    page = new_page(add_user(server, console_org, "member"))
    wait_connected(page)
    client_id = page.evaluate("() => window.clientId")
    assert isinstance(client_id, str) and len(client_id) >= 16
    page.reload()
    wait_connected(page)
    logs = server.logs()
    assert "client_id=***" in logs  # the socket's line is there, its id masked
    assert client_id not in logs


def test_a_page_connects_to_its_own_origin_only(
    new_page: Callable[..., Any], server: Server, console_org: Org
) -> None:
    """A script in a signed-in page (were one ever to slip in) could send what it reads to any
    host with fetch: the page's policy now allows connections to the console's origin only,
    while the page's own socket and API calls work as before."""
    page = new_page(add_user(server, console_org, "member"))
    wait_connected(page)  # NiceGUI's own WebSocket to the console's origin
    other = server.base_url.replace("127.0.0.1", "localhost")  # another origin, same server
    outcome = page.evaluate(
        """async (urls) => {
            const tryFetch = async (url, mode) => {
                try { return (await fetch(url, { mode })).status; } catch (e) { return "refused"; }
            };
            // no-cors: without the policy the request is sent and answered (opaque, status 0)
            return [await tryFetch(urls[0], "cors"), await tryFetch(urls[1], "no-cors")];
        }""",
        [f"{server.base_url}/healthz", f"{other}/healthz"],
    )
    assert outcome == [200, "refused"]
