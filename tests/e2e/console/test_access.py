"""Who may open which console page, and that one organization never sees another's things.

The second test names A's objects distinctly, then reads the text of every console page that
lists things as B's people: none of A's names may appear. It runs against whatever those pages
show today, so it keeps its meaning as the pages grow.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

import httpx
import pytest

from aigc.console.pages.admin_common import SECTIONS
from tests.e2e.console.conftest import PASSWORD, ConsoleUser, add_user, shot
from tests.e2e.console.sessions import sign_in
from tests.e2e.server import Org, Server, make_org

ADMIN_PAGES = ["/admin", *(f"/admin/{slug}" for slug, _ in SECTIONS)]
LISTING_PAGES = ["/chat", "/knowledge", "/models", "/training", "/images"]


@pytest.mark.parametrize("role", ["viewer", "member"])
def test_lower_roles_never_reach_admin(
    new_page, server: Server, console_org: Org, role: str
) -> None:
    person = add_user(server, console_org, role)
    page = new_page(person, path="/forbidden")
    assert page.get_by_test_id("nav-admin").count() == 0
    assert page.get_by_test_id("nav-chat").count() == 1  # the nav itself is there
    for path in ADMIN_PAGES:
        page.goto(path)
        page.wait_for_url(lambda url: urlsplit(url).path == "/forbidden")
        page.get_by_test_id("forbidden").wait_for()
        assert page.get_by_test_id("nav-admin").count() == 0, path
        assert page.get_by_test_id("admin-tab-keys").count() == 0, path


def _ok(response: httpx.Response, status: int = 201) -> dict:
    assert response.status_code == status, response.text
    return response.json()  # type: ignore[no-any-return]


def _populate_a(server: Server, a: Org, tag: str) -> set[str]:
    """One of everything the console lists, in A, each with a name B must never read."""
    key = a.admin_key
    names: set[str] = {a.id}
    user = _ok(
        server.api(
            "POST",
            "/api/users",
            key=key,
            json={
                "username": f"a-user-{tag}",
                "display_name": f"A Person {tag}",
                "password": PASSWORD,
                "role": "admin",
            },
        )
    )
    names |= {user["id"], user["username"], user["display_name"]}
    made = _ok(server.api("POST", "/api/keys", key=key, json={"name": f"a-key-{tag}"}))
    names |= {made["id"], made["name"], made["prefix"], made["key"]}
    group = _ok(server.api("POST", "/api/groups", key=key, json={"name": f"a-group-{tag}"}))
    names |= {group["id"], group["name"]}
    policy = f"name: a-policy-{tag}\nrules: []\n"
    names.add(_ok(server.api("POST", "/api/policies", key=key, json={"yaml": policy}))["name"])
    model = f"template-a-{tag}"
    config = {
        "yaml": f"name: a-{tag}\nlanguages: [en]\nintents:\n  - id: hi\n    patterns: ['hi']\n"
        f"    answers:\n      en: ['Hi from a-answer-{tag}']\nfallback:\n  en: ['no']\n"
    }
    _ok(server.api("POST", "/api/models", key=key, json={"id": model, "config": config}))
    names.add(model)
    chat = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
    _ok(server.api("POST", "/v1/chat/completions", key=made["key"], json=chat), 200)
    kb = server.api("POST", "/api/kb", key=key, json={"name": f"a-kb-{tag}", "dense": False})
    if kb.status_code == 201:
        names |= {kb.json()["id"], kb.json()["name"]}
    person = ConsoleUser(user["username"], PASSWORD, "admin", user["id"])
    conversation = server.api(
        "POST",
        "/api/conversations",
        key=sign_in(server, person),
        json={"title": f"a-conversation-{tag}", "model": model},
    )
    if conversation.status_code == 201:  # the chat history API, where the server has it
        names |= {conversation.json()["id"], conversation.json()["title"]}
    # an SSO provider (the platform admin configures it): B's admin pages never show it
    secret = f"a-sso-secret-{tag}"
    sso = server.api(
        "POST",
        f"/api/tenants/{a.id}/sso/providers",
        json={
            "name": f"a-idp-{tag}",
            "issuer": f"https://idp-{tag}.example",
            "client_id": f"a-client-{tag}",
            "client_secret": secret,
            "enabled": False,  # not on the login page either
        },
    )
    names |= {_ok(sso)["id"], f"a-idp-{tag}", f"a-client-{tag}", secret}
    return names


def _page_text(page: object, path: str) -> str:
    """Everything a person could read on ``path`` once it has settled: text and markup."""
    page.goto(path)  # type: ignore[attr-defined]
    page.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
    page.wait_for_timeout(300)  # type: ignore[attr-defined]
    return page.inner_text("body") + page.content()  # type: ignore[attr-defined,no-any-return]


def test_b_sees_nothing_of_a_on_any_console_page(new_page, server: Server) -> None:
    tag = secrets.token_hex(4)
    org_a = make_org(server, f"Access A {tag}")
    org_b = make_org(server, f"Access B {tag}")
    a_names = _populate_a(server, org_a, tag) | {f"Access A {tag}"}
    b_admin = add_user(server, org_b, "admin")
    b_member = add_user(server, org_b, "member")
    b_chat = {"model": "template-helpdesk", "messages": [{"role": "user", "content": "hello"}]}
    _ok(server.api("POST", "/v1/chat/completions", key=org_b.member_key, json=b_chat), 200)

    checked: list[str] = []
    for person, paths in (
        (b_admin, LISTING_PAGES + ADMIN_PAGES),
        (b_member, LISTING_PAGES),
    ):
        page = new_page(person, path="/forbidden")
        for path in paths:
            text_ = _page_text(page, path)
            assert "/login" not in page.url, path  # still signed in: the page really was read
            leaked = {name for name in a_names if name in text_}
            assert not leaked, f"{person.role} of B on {path} reads A's {sorted(leaked)}"
            checked.append(f"{person.role} {path}")
        if person is b_admin:
            # Positive controls: B's own things are on B's admin pages, so the pages did render.
            assert b_member.username in _page_text(page, "/admin/users")
            _page_text(page, "/admin/audit")
            assert page.get_by_test_id("audit-row").count() > 0  # B's own requests are listed
            shot(page, "admin-audit-b")
    assert len(checked) == 2 * len(LISTING_PAGES) + len(ADMIN_PAGES)
