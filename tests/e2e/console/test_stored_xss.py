"""Text that people type (usernames, group and policy names) shown to someone else never runs
as script in that person's console, in a real browser.

NiceGUI reads an element's ``.props("...")`` string as ``key=value`` pairs and evaluates a key
that starts with ``:`` as JavaScript, so a name put into that string is a way into the page:
``Eve" :data-x="alert(1)`` would run in the admin's console. Each payload below sets
``window.__pwned`` if it runs; the page must show it as plain text instead.
"""

from __future__ import annotations

import secrets

import pytest

from tests.e2e.console.conftest import PASSWORD, ConsoleUser, add_user, shot
from tests.e2e.server import Org, Server, make_org

PAYLOADS = {
    "en": 'Eve" :data-x="window.__pwned=1" data-y="',
    "zh": '伊芙" :data-x="window.__pwned=1" data-y="',
}


@pytest.fixture(scope="module")
def org(server: Server) -> Org:
    return make_org(server, f"XSS Org {secrets.token_hex(3)}")


@pytest.fixture(scope="module")
def admin(server: Server, org: Org) -> ConsoleUser:
    return add_user(server, org, "admin")


def ran(page: object) -> bool:
    return bool(page.evaluate("() => window.__pwned === 1"))  # type: ignore[attr-defined]


@pytest.mark.parametrize("lang", sorted(PAYLOADS))
def test_user_and_group_names_do_not_run_in_the_admins_console(
    new_page, server: Server, org: Org, admin: ConsoleUser, lang: str
) -> None:
    # A username may come from an identity provider's claims (SSO sign-in makes the user).
    username = PAYLOADS[lang].replace('"', f'-{secrets.token_hex(2)}"', 1)
    made = server.api(
        "POST",
        "/api/users",
        key=org.admin_key,
        json={"username": username, "password": PASSWORD, "display_name": username},
    )
    assert made.status_code == 201, made.text
    group_name = PAYLOADS[lang].replace('"', f'-team-{secrets.token_hex(2)}"', 1)
    group = server.api("POST", "/api/groups", key=org.admin_key, json={"name": group_name})
    assert group.status_code == 201, group.text
    added = server.api(
        "POST",
        f"/api/groups/{group.json()['id']}/members",
        key=org.admin_key,
        json={"user_id": made.json()["id"]},
    )
    assert added.status_code == 201, added.text

    page = new_page(admin, lang="zh-CN" if lang == "zh" else "en", path="/admin/users")
    page.get_by_text(group_name, exact=True).wait_for()  # both tables are drawn
    shot(page, f"xss-user-group-names-{lang}")
    assert not ran(page), "a user or group name ran as script in the admin's console"
    page.get_by_test_id(f"user-{username}").wait_for()  # the names kept whole, as data
    card = page.get_by_test_id(f"group-{group_name}")
    chip = card.locator(".q-chip").first
    assert username in (chip.get_attribute("aria-label") or "")


def test_a_policy_name_does_not_run_in_the_console(
    new_page, server: Server, org: Org, admin: ConsoleUser
) -> None:
    name = PAYLOADS["en"].replace("Eve", f"p-{secrets.token_hex(3)}")
    policy = f"name: '{name}'\nrules: []\n"
    saved = server.api("POST", "/api/policies", key=org.admin_key, json={"yaml": policy})
    assert saved.status_code == 201, saved.text

    page = new_page(admin, path="/admin/policies")
    page.get_by_text(name, exact=True).wait_for()
    shot(page, "xss-policy-name")
    assert not ran(page), "a policy name ran as script in the console"
    row = page.get_by_test_id(f"policy-{name}")
    toggle = row.get_by_test_id("policy-toggle")
    assert name in (toggle.get_attribute("aria-label") or "")
