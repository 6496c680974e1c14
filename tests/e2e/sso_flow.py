"""Driving an SSO sign-in over plain HTTP, as a browser would, for the tests that check what the
server does with each answer (the Chromium test walks the same path in a real browser)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

from tests.e2e.oidc_idp import Client, OidcProvider
from tests.e2e.server import Server


@dataclass
class Provider:
    id: str
    tenant_id: str
    client: Client


def add_provider(
    server: Server, idp: OidcProvider, tenant_id: str, client_id: str, **fields: Any
) -> Provider:
    """The platform admin configures the test provider for an organization."""
    client = idp.clients[client_id]
    body = {
        "name": fields.pop("name", f"Test IdP {secrets.token_hex(3)}"),
        "issuer": idp.issuer,
        "client_id": client.client_id,
        "client_secret": client.client_secret,
        "scopes": ["openid", "email", "profile", "groups"],
        "allow_private_network": True,
    } | fields
    response = server.api("POST", f"/api/tenants/{tenant_id}/sso/providers", json=body)
    assert response.status_code == 201, response.text
    return Provider(response.json()["id"], tenant_id, client)


def to_callback(
    browser: httpx.Client, server: Server, provider_id: str, account: str, next_path: str = "/chat"
) -> str:
    """Start at the server, sign in at the provider; the callback URL the provider sends the
    browser back to (not yet visited)."""
    response = browser.get(
        f"{server.base_url}/console/sso/{provider_id}/start", params={"next": next_path}
    )
    assert response.status_code == 303, response.text
    url = response.headers["location"]
    for _ in range(10):
        if url.startswith(server.base_url):
            return url
        response = browser.get(url)
        if response.status_code == 200 and "/interaction/" in url:
            response = browser.post(url, data={"login": account})
        assert response.status_code in (302, 303), f"{url}: {response.status_code} {response.text}"
        url = urljoin(url, response.headers["location"])
    raise AssertionError(f"no way back to the server from {url}")


def sign_in(
    server: Server, provider_id: str, account: str, next_path: str = "/chat"
) -> tuple[httpx.Response, httpx.Client]:
    """A whole sign-in in a fresh 'browser': the callback's answer and that browser."""
    browser = httpx.Client(timeout=30, follow_redirects=False)
    url = to_callback(browser, server, provider_id, account, next_path)
    return browser.get(url), browser


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
