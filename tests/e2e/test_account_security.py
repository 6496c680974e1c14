"""Account takeover, lockout and credentials after account changes, through a live server.

The server has what a real install has: the platform owner ("root", created headless with the
CLI like an operator does), the default organization's admin, and a second organization with
its owner and admin. Everyone signs in through the console's form, as a browser would.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import openai
import pytest

from tests.e2e.server import Server, new_admin_key

PASSWORD = "correct horse battery"
NEW_PASSWORD = "attacker's choice"
ROOT = ("--username", "root", "--password-stdin")


@dataclass
class Install:
    server: Server
    root_id: str
    other_org: str


@pytest.fixture(scope="module")
def install(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Install]:
    data = tmp_path_factory.mktemp("accounts") / "data"
    made = subprocess.run(
        [sys.executable, "-m", "aigc.cli", "admin", "create-user", "--role", "owner", *ROOT],
        env={**os.environ, "AIGC_DATA_DIR": str(data)},
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    server = Server(data, new_admin_key()).start()
    try:
        root = sign_in(server, "root")
        me = server.api("GET", "/api/me", key=root).json()
        assert me["platform_admin"] is True
        other = server.api("POST", "/api/tenants", json={"name": "Other"}).json()["id"]
        yield Install(server, me["user_id"], other)
    finally:
        server.stop()


def sign_in(server: Server, username: str, password: str = PASSWORD) -> str:
    """The console's form sign-in; returns the session secret (it acts on the API as a bearer)."""
    response = httpx.post(
        f"{server.base_url}/console/login",
        data={"username": username, "password": password},
        headers={"Origin": server.base_url},
    )
    assert response.status_code == 303, response.text
    secret = response.cookies.get("aigc_session")
    assert secret, f"sign-in refused: {response.headers['location']}"
    return secret


def sign_in_error(server: Server, username: str, password: str) -> str | None:
    """The error the sign-in form reports (None when it signed in)."""
    response = httpx.post(
        f"{server.base_url}/console/login",
        data={"username": username, "password": password},
        headers={"Origin": server.base_url},
    )
    location = response.headers["location"]
    return location.split("error=")[1].split("&")[0] if "error=" in location else None


def add_user(server: Server, role: str, tenant_id: str | None = None) -> tuple[str, str]:
    """(user id, username) of a new person, made by the platform key."""
    username = f"{role}-{secrets.token_hex(4)}"
    body = {"username": username, "password": PASSWORD, "role": role, "tenant_id": tenant_id}
    response = server.api("POST", "/api/users", json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"], username


def test_an_org_admin_cannot_take_over_the_platform_owner(install: Install) -> None:
    """Issue 14, defect 1: the PATCH is refused and the owner keeps their password."""
    server = install.server
    _, admin_name = add_user(server, "admin")
    admin = sign_in(server, admin_name)
    admin_key = server.api(
        "POST", "/api/keys", key=admin, json={"role": "admin", "name": "admin's"}
    ).json()["key"]
    for key in (admin, admin_key):
        for change in ({"password": NEW_PASSWORD}, {"disabled": True}, {"role": "viewer"}):
            refused = server.api("PATCH", f"/api/users/{install.root_id}", key=key, json=change)
            assert refused.status_code == 403, refused.text
            assert refused.json()["error"]["type"] == "permission_error"
        bound = server.api("POST", "/api/keys", key=key, json={"user_id": install.root_id})
        assert bound.status_code == 403, bound.text
    assert sign_in_error(server, "root", NEW_PASSWORD) == "invalid"
    root = sign_in(server, "root")
    assert server.api("GET", "/api/me", key=root).json()["platform_admin"] is True


def test_a_tenant_admin_cannot_take_over_or_disable_the_tenant_owner(install: Install) -> None:
    """Issue 14, defect 2; the owner may still act on the admin."""
    server = install.server
    owner_id, owner_name = add_user(server, "owner", install.other_org)
    admin_id, admin_name = add_user(server, "admin", install.other_org)
    admin = sign_in(server, admin_name)
    for change in ({"password": NEW_PASSWORD}, {"disabled": True}, {"role": "member"}):
        refused = server.api("PATCH", f"/api/users/{owner_id}", key=admin, json=change)
        assert refused.status_code == 403, refused.text
    refused = server.api("POST", "/api/keys", key=admin, json={"user_id": owner_id})
    assert refused.status_code == 403, refused.text
    assert server.api("DELETE", f"/api/users/{owner_id}", key=admin).status_code == 403
    # Another organization's platform owner does not exist for this admin.
    hidden = server.api("PATCH", f"/api/users/{install.root_id}", key=admin, json={"role": "admin"})
    assert hidden.status_code == 404, hidden.text
    assert sign_in_error(server, owner_name, NEW_PASSWORD) == "invalid"
    owner = sign_in(server, owner_name)
    demoted = server.api("PATCH", f"/api/users/{admin_id}", key=owner, json={"role": "member"})
    assert demoted.status_code == 200, demoted.text


def test_forty_parallel_wrong_passwords_lock_the_account(install: Install) -> None:
    """Issue 14, defect 4: at most five are checked, then even the right password is refused."""
    server = install.server
    _, name = add_user(server, "member")
    with ThreadPoolExecutor(max_workers=40) as pool:
        errors = Counter(pool.map(lambda _: sign_in_error(server, name, "wrong guess"), range(40)))
    assert set(errors) <= {"invalid", "locked"}
    assert errors["invalid"] < 5, errors  # the fifth failure already answers "locked"
    assert sign_in_error(server, name, PASSWORD) == "locked"


def test_credentials_follow_account_changes(install: Install) -> None:
    """Issue 14, defect 8, with the principal cache warm: each change is seen at once."""
    server = install.server
    user_id, name = add_user(server, "member")
    session = sign_in(server, name)
    key = server.api("POST", "/api/keys", json={"user_id": user_id, "role": "member"}).json()["key"]
    assert server.api("GET", "/api/me", key=key).json()["role"] == "member"  # now cached
    # Demoted: the member key acts as a viewer.
    assert server.api("PATCH", f"/api/users/{user_id}", json={"role": "viewer"}).status_code == 200
    assert server.api("GET", "/api/me", key=key).json()["role"] == "viewer"
    assert server.api("GET", "/api/me", key=session).json()["role"] == "viewer"
    # Disabled: the key and the session are refused.
    assert server.api("PATCH", f"/api/users/{user_id}", json={"disabled": True}).status_code == 200
    for credential in (key, session):
        refused = server.api("GET", "/api/me", key=credential)
        assert refused.status_code == 401, refused.text
    # Enabled again with a new password: the key works, the old session stays ended.
    enabled = server.api("PATCH", f"/api/users/{user_id}", json={"disabled": False})
    assert enabled.status_code == 200
    assert server.api("GET", "/api/me", key=key).status_code == 200
    assert server.api("GET", "/api/me", key=session).status_code == 401
    fresh = sign_in(server, name)
    assert server.api("GET", "/api/me", key=fresh).status_code == 200
    changed = server.api(
        "PATCH",
        f"/api/users/{user_id}",
        key=fresh,
        json={"password": "my own new one", "current_password": PASSWORD},
    )
    assert changed.status_code == 200, changed.text
    assert server.api("GET", "/api/me", key=fresh).status_code == 401
    assert sign_in_error(server, name, PASSWORD) == "invalid"
    assert sign_in_error(server, name, "my own new one") is None


def test_a_taken_username_names_no_organization(install: Install) -> None:
    """Part of issue 14, defect 12: the same answer whether the name is here or elsewhere."""
    server = install.server
    _, elsewhere = add_user(server, "viewer", install.other_org)
    _, here = add_user(server, "viewer")
    _, admin_name = add_user(server, "admin")
    admin = sign_in(server, admin_name)
    answers = []
    for name in (elsewhere, here):
        taken = server.api(
            "POST", "/api/users", key=admin, json={"username": name, "password": PASSWORD}
        )
        assert taken.status_code == 409, taken.text
        assert name not in taken.text and install.other_org not in taken.text
        answers.append(taken.json())
    assert answers[0] == answers[1]


def test_a_key_cannot_take_its_users_account(install: Install) -> None:
    """A user's key, even one limited to a model, changed the user's password without knowing
    it, then signed in to the console (no key limits there). The current one is now needed."""
    server = install.server
    user_id, name = add_user(server, "admin")
    made = server.api(
        "POST",
        "/api/keys",
        json={"user_id": user_id, "role": "admin", "allowed_models": ["template-none"]},
    )
    assert made.status_code == 201, made.text
    limited = made.json()["key"]
    change = f"/api/users/{user_id}"
    for extra, status in (({}, 400), ({"current_password": "a guess at it"}, 403)):
        refused = server.api("PATCH", change, key=limited, json={"password": NEW_PASSWORD} | extra)
        assert refused.status_code == status, refused.text
        assert refused.json()["error"]["param"] == "current_password"
    assert sign_in_error(server, name, NEW_PASSWORD) == "invalid"
    session = sign_in(server, name)  # the owner of the account still gets in
    changed = server.api(
        "PATCH",
        change,
        key=session,
        json={"password": NEW_PASSWORD, "current_password": PASSWORD},
    )
    assert changed.status_code == 200, changed.text
    assert sign_in_error(server, name, NEW_PASSWORD) is None


def test_an_admins_own_key_stops_acting_as_admin_when_they_do(install: Install) -> None:
    """A key an admin made in the console (naming no user) had no user: demoted, the person
    kept an admin's rights through it; deleted, their key kept working. It is now theirs."""
    server = install.server
    user_id, name = add_user(server, "admin")
    session = sign_in(server, name)
    made = server.api("POST", "/api/keys", key=session, json={"role": "admin", "name": "mine"})
    assert made.status_code == 201, made.text
    key = made.json()["key"]
    client = server.sdk(key)
    assert server.api("GET", "/api/users", key=key).status_code == 200  # cached from now on
    demoted = server.api("PATCH", f"/api/users/{user_id}", json={"role": "member"})
    assert demoted.status_code == 200, demoted.text
    refused = server.api("GET", "/api/users", key=key)
    assert refused.status_code == 403, refused.text
    assert server.api("GET", "/api/me", key=key).json()["role"] == "member"
    client.models.list()  # still a member's key
    assert server.api("DELETE", f"/api/users/{user_id}").status_code == 200
    with pytest.raises(openai.AuthenticationError) as gone:
        client.models.list()
    assert gone.value.code == "revoked_api_key"
