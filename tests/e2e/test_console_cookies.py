"""The console's cookies on an install whose operator declared an https public address.

The server is a real ``aigc serve`` on loopback with ``AIGC_PUBLIC_URL=https://…`` and no
trusted proxy, so every request reaches it as plain http: what a deployment behind a TLS proxy
missing from ``FORWARDED_ALLOW_IPS`` sees.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.server import Server, new_admin_key

PASSWORD = "correct horse battery"
PUBLIC_URL = "https://aigc.example"


@pytest.fixture(scope="module")
def https_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("https-cookies") / "data"
    server = Server(data, new_admin_key(), AIGC_PUBLIC_URL=PUBLIC_URL).start()
    try:
        yield server
    finally:
        server.stop()


def add_member(server: Server) -> tuple[str, str]:
    """(user id, username) of a new member; a Chinese username signs in like any other."""
    username = f"成员-{secrets.token_hex(3)}"
    body = {"username": username, "password": PASSWORD, "role": "member"}
    response = server.api("POST", "/api/users", json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"], username


def set_cookie_headers(response: httpx.Response, name: str) -> list[str]:
    return [
        value
        for value in response.headers.get_list("set-cookie")
        if value.split("=", 1)[0].strip() == name
    ]


def test_session_cookies_are_secure_when_the_public_url_is_https(https_server: Server) -> None:
    user_id, username = add_member(https_server)
    # The browser is on the public https address; the proxy (not trusted) forwards plain http.
    signed_in = httpx.post(
        f"{https_server.base_url}/console/login",
        data={"username": username, "password": PASSWORD},
        headers={"Origin": PUBLIC_URL},
    )
    assert signed_in.status_code == 303, signed_in.text
    [session] = set_cookie_headers(signed_in, "aigc_session")
    attributes = [part.strip().lower() for part in session.split(";")]
    assert "secure" in attributes, session
    assert "httponly" in attributes and "samesite=strict" in attributes, session

    # A refused sign-in's short-lived cookie (the username typed) is Secure as well.
    refused = httpx.post(
        f"{https_server.base_url}/console/login",
        data={"username": username, "password": "wrong"},
        headers={"Origin": PUBLIC_URL},
    )
    assert "error=" in refused.headers["location"]
    [remembered] = set_cookie_headers(refused, "aigc_login_name")
    assert "secure" in [part.strip().lower() for part in remembered.split(";")], remembered

    # The session works as a bearer on the API: the cookie that was marked is the real one.
    secret = signed_in.cookies["aigc_session"]
    me = https_server.api("GET", "/api/me", key=secret)
    assert me.status_code == 200 and me.json()["user_id"] == user_id
