"""Text that people type (usernames, group and policy names) shown to someone else never runs
as script in that person's console, in a real browser.

NiceGUI reads an element's ``.props("...")`` string as ``key=value`` pairs and evaluates a key
that starts with ``:`` as JavaScript, so a name put into that string is a way into the page:
``Eve" :data-x="alert(1)`` would run in the admin's console. Each payload below sets
``window.__pwned`` if it runs; the page must show it as plain text instead.
"""

from __future__ import annotations

import secrets
import time

import pytest

from tests.e2e.console.conftest import PASSWORD, ConsoleUser, add_user, shot
from tests.e2e.console.sessions import sign_in
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


# Markup and props syntax at once: one string that would run in an HTML, a Markdown or a props
# context, in English and in Chinese.
EVERYWHERE = '<img src=x onerror="window.__pwned=1">文档" :data-x="window.__pwned=1" data-y="'


def test_names_documents_and_answers_a_member_sees_do_not_run(
    new_page, server: Server, org: Org
) -> None:
    """Knowledge base and file names, document text, conversation titles, citations and a
    Markdown answer with a ``javascript:`` link, raw HTML and a remote image: all text."""
    key = org.admin_key
    kb = server.api("POST", "/api/kb", key=key, json={"name": EVERYWHERE, "dense": False})
    assert kb.status_code == 201, kb.text
    kb_id = kb.json()["id"]
    added = server.api(
        "POST",
        f"/api/kb/{kb_id}/documents",
        key=key,
        files=[("files", (f"{EVERYWHERE}.txt", EVERYWHERE.encode() + b" printers", "text/plain"))],
    )
    assert added.status_code == 200, added.text
    doc_id = added.json()["data"][0]["id"]
    deadline = time.monotonic() + 120
    while server.api("GET", f"/api/jobs/{added.json()['job']['id']}", key=key).json()[
        "status"
    ] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, "ingestion did not finish"
        time.sleep(0.2)

    member = add_user(server, org, "member")
    secret = sign_in(server, member)
    made = server.api("POST", "/api/conversations", key=secret, json={"title": EVERYWHERE})
    assert made.status_code == 201, made.text
    conversation = made.json()["id"]
    answer = (
        f"{EVERYWHERE}\n\n[open](javascript:window.__pwned=2) "
        '<a href="javascript:window.__pwned=3">raw</a> '
        "![x](https://attacker.example/p.png)"
    )
    citation = {
        "index": 1,
        "filename": EVERYWHERE,
        "knowledge_base": kb_id,
        "document": doc_id,
        "chunk": 1,
    }
    for role, content, meta in (
        ("user", EVERYWHERE, {}),
        ("assistant", answer, {"citations": [citation]}),
    ):
        sent = server.api(
            "POST",
            f"/api/conversations/{conversation}/messages",
            key=secret,
            json={"role": role, "content": content, "meta": meta},
        )
        assert sent.status_code in (200, 201), sent.text

    page = new_page(member)
    page.goto(f"/chat?conversation={conversation}")
    page.get_by_test_id("chat-answer").first.wait_for()
    box = page.get_by_test_id("chat-answer").first
    for link in box.locator("a").all():
        assert not (link.get_attribute("href") or "").lower().startswith("javascript:")
    box.locator("a", has_text="open").first.click(no_wait_after=True)
    page.get_by_test_id("chat-citation").first.click()
    page.get_by_test_id("chat-chunk-dialog").wait_for()
    page.wait_for_timeout(300)  # time for an error handler or a clicked link to run
    shot(page, "xss-chat")
    assert not ran(page), "a conversation title, citation or answer ran as script"

    for path in ("/knowledge", f"/knowledge/{kb_id}", f"/knowledge/{kb_id}/documents/{doc_id}"):
        page.goto(path)
        page.get_by_text("文档", exact=False).first.wait_for()
        page.wait_for_timeout(300)
        assert not ran(page), f"a name or document text ran as script on {path}"
    shot(page, "xss-knowledge")


def test_what_a_member_sends_the_api_does_not_run_on_the_admins_audit_and_usage_pages(
    new_page, server: Server, org: Org, admin: ConsoleUser
) -> None:
    """A model name and an endpoint a member chose, and a key's name, are shown to admins in the
    audit table, its filters and the usage charts (whose tooltips ECharts draws as HTML)."""
    member = add_user(server, org, "member")
    secret = sign_in(server, member)
    key = server.api(
        "POST", "/api/keys", key=org.admin_key, json={"name": EVERYWHERE, "role": "member"}
    )
    assert key.status_code == 201, key.text
    chat = {"model": EVERYWHERE, "messages": [{"role": "user", "content": EVERYWHERE}]}
    for caller in (secret, key.json()["key"]):
        server.api("POST", "/v1/chat/completions", key=caller, json=chat)
        server.api("GET", f"/v1/models/{EVERYWHERE}", key=caller)

    page = new_page(admin, path="/admin/audit")
    page.get_by_test_id("audit-count").wait_for()
    page.wait_for_timeout(300)
    assert not ran(page), "what a member sent ran as script on the audit page"
    page.goto("/admin/usage")
    charts = page.locator(".nicegui-echart")
    charts.nth(2).wait_for()
    shown = False
    for chart in charts.all():
        chart.scroll_into_view_if_needed()
        box = chart.bounding_box()
        assert box is not None
        for step in range(1, 10):  # across the chart: the axis tooltip names each category
            page.mouse.move(box["x"] + box["width"] * step / 10, box["y"] + 50)  # in the grid
            page.wait_for_timeout(100)
            tooltip = chart.locator("div:not(:has(svg))", has_text="onerror")
            shown = shown or tooltip.count() > 0
    shot(page, "xss-usage")
    assert shown, "no tooltip named the member's model or key"
    assert not ran(page), "what a member sent ran as script on the usage page"


def test_a_model_a_member_trains_does_not_run_where_others_see_its_name(
    new_page, server: Server, org: Org, admin: ConsoleUser
) -> None:
    """A member names the model they train; the name is the model's id, shown to the whole
    organization on Models, Training and in Chat's model list."""
    member = add_user(server, org, "member")
    secret = sign_in(server, member)
    corpus = "The help desk is on the third floor.\n帮助台在三楼。\n" * 20
    upload = server.api(
        "POST",
        "/v1/files",
        key=secret,
        files={"file": ("d.txt", corpus.encode(), "text/plain")},
        data={"purpose": "training"},
    )
    assert upload.status_code == 200, upload.text
    name = "ngram-" + EVERYWHERE[:90]
    body = {"family": "ngram", "name": name, "file_ids": [upload.json()["id"]]}
    job = server.api("POST", "/api/train", key=secret, json=body)
    assert job.status_code in (200, 201, 202), job.text
    deadline = time.monotonic() + 60
    while server.api("GET", f"/api/jobs/{job.json()['job']['id']}", key=secret).json()[
        "status"
    ] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, "training did not finish"
        time.sleep(0.2)

    page = new_page(admin, path="/models")
    page.get_by_test_id("models-table").get_by_text("文档", exact=False).first.wait_for()
    assert not ran(page), "a model's name ran as script on Models"
    page.goto("/chat")
    page.get_by_test_id("chat-model").click()
    page.get_by_role("option").filter(has_text="文档").first.wait_for()
    shot(page, "xss-model-name")
    assert not ran(page), "a model's name ran as script in Chat's model list"
    own = new_page(member, path="/training")
    own.get_by_text("文档", exact=False).first.wait_for()
    assert not ran(own), "a model's name ran as script on Training"
