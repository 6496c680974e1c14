"""``GET /api/kb/{kb_id}/people?username=`` names a person of the organization to a KB's
manager, so they can grant access: a key that may not change who may use a KB (one limited to
models, a rate or a date: ``access.require_unlimited``) gets nothing from it either, or it
would learn the organization's people one exact name at a time."""

from __future__ import annotations

from tests.e2e.server import Server, make_org


def test_a_limited_key_cannot_look_people_up(server: Server) -> None:
    org = make_org(server, "People lookup")
    person = server.api(
        "POST",
        "/api/users",
        key=org.admin_key,
        json={"username": f"张伟-{org.id}", "password": "a-long-password-1", "role": "member"},
    )
    assert person.status_code == 201, person.text
    kb = server.api("POST", "/api/kb", key=org.admin_key, json={"name": "Payroll 工资"}).json()
    path = f"/api/kb/{kb['id']}/people"
    asked = {"username": f"张伟-{org.id}"}

    found = server.api("GET", path, key=org.admin_key, params=asked)
    assert found.status_code == 200 and found.json()["id"] == person.json()["id"]

    limited = server.api(
        "POST",
        "/api/keys",
        key=org.admin_key,
        json={"role": "admin", "name": "app", "allowed_models": ["template-echo"]},
    ).json()["key"]
    granting = server.api(
        "PATCH", f"/api/kb/{kb['id']}", key=limited, json={"access": [{"role": "viewer"}]}
    )
    assert granting.json()["error"]["code"] == "limited_api_key"  # as the grant it serves
    refused = server.api("GET", path, key=limited, params=asked)
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "limited_api_key"
    assert person.json()["id"] not in refused.text
