"""A shared live server for the e2e tests, with one admin key and two organizations."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.server import Server


def new_admin_key() -> str:
    return "sk-aigc-" + secrets.token_urlsafe(24)


@dataclass
class Org:
    id: str
    admin_key: str
    member_key: str


def make_org(server: Server, name: str) -> Org:
    """An organization with an admin key and a member key, made through the management API."""
    tenant = server.api("POST", "/api/tenants", json={"name": name}).json()
    admin = server.api(
        "POST", "/api/keys", json={"tenant_id": tenant["id"], "role": "admin", "name": "admin"}
    ).json()
    member = server.api(
        "POST", "/api/keys", json={"tenant_id": tenant["id"], "role": "member", "name": "member"}
    ).json()
    return Org(tenant["id"], admin["key"], member["key"])


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root: Path = tmp_path_factory.mktemp("server")
    srv = Server(root / "data", new_admin_key()).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def org_a(server: Server) -> Org:
    return make_org(server, "Org A")


@pytest.fixture(scope="session")
def org_b(server: Server) -> Org:
    return make_org(server, "Org B")
