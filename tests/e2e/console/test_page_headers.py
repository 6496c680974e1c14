"""Every console page, signed in or not, forbids framing by another site (clickjacking) and
says what it may load, whatever answered it: a page, the sign-in form, the 404, an SSO refusal."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.console.conftest import add_user
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
