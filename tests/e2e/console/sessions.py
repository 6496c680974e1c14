"""Signing a console user in over plain HTTP, for tests that act as them on the API."""

from __future__ import annotations

import httpx

from tests.e2e.console.conftest import ConsoleUser
from tests.e2e.server import Server


def sign_in(server: Server, person: ConsoleUser) -> str:
    """Sign in as a person over HTTP; their session secret acts for them on the API."""
    response = httpx.post(
        f"{server.base_url}/console/login",
        data={"username": person.username, "password": person.password},
        headers={"Origin": server.base_url},
    )
    assert response.status_code == 303, response.text
    return response.cookies["aigc_session"]
