"""The Admin pages, driven in a browser as a tenant admin (and once as the platform admin)."""

from __future__ import annotations

import re
import secrets
import time

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import create_engine, text

from aigc.console.pages.admin_policies import problem_lines
from tests.e2e.console.conftest import ConsoleUser, add_user, shot
from tests.e2e.server import Org, Server, make_org

MODEL = "template-helpdesk"
BAD_POLICY = (
    "name: {name}\nrules:\n  - id: r1\n    stage: sometimes\n"
    "    detector: pii\n    action: redact\n"
)
GOOD_POLICY = (
    "name: {name}\nrules:\n  - id: r1\n    stage: input\n    detector: pii\n"
    "    entities: [EMAIL_ADDRESS]\n    action: redact\n"
)


@pytest.fixture(scope="module")
def org(server: Server) -> Org:
    """An organization of its own, so usage and audit counts are this module's alone."""
    return make_org(server, f"Admin Org {secrets.token_hex(3)}")


@pytest.fixture(scope="module")
def admin(server: Server, org: Org) -> ConsoleUser:
    return add_user(server, org, "admin")


def set_editor(page: object, content: str) -> None:
    """Replace the CodeMirror document (inserted as one text, so no auto-indent interferes)."""
    editor = page.locator(".cm-content")  # type: ignore[attr-defined]
    editor.click()
    page.keyboard.press("Control+a")  # type: ignore[attr-defined]
    page.keyboard.press("Delete")  # type: ignore[attr-defined]
    page.keyboard.insert_text(content)  # type: ignore[attr-defined]


def pick(page: object, testid: str, option: str, scope: object | None = None) -> None:
    """Choose ``option`` in a Quasar select (its menu opens in a portal at the page's end)."""
    (scope or page).get_by_test_id(testid).click()  # type: ignore[attr-defined]
    page.locator(".q-menu .q-item", has_text=option).first.click()  # type: ignore[attr-defined]


def test_problem_lines_point_at_the_yaml() -> None:
    policy = BAD_POLICY.format(name="p")
    message = "Invalid policy: rules.0.stage: Input should be 'input', 'retrieval' or 'output'"
    assert problem_lines(policy, message) == [(4, message.removeprefix("Invalid policy: "))]
    broken = 'Invalid policy: not valid YAML: found x\n  in "<unicode string>", line 3, column 1:'
    assert problem_lines("name: [", broken)[0][0] == 3
    assert problem_lines(policy, "Invalid policy: policy: a; rules.9.id: b") == [
        (None, "policy: a"),
        (2, "rules.9.id: b"),  # no rule 9: the nearest existing parent, 'rules'
    ]


def test_key_shown_once_works_then_revoked(new_page, server: Server, admin: ConsoleUser) -> None:
    page = new_page(admin, path="/admin/keys")
    name = f"ci-key-{secrets.token_hex(3)}"
    page.get_by_test_id("key-name").fill(name)
    page.get_by_test_id("key-rpm").fill("100")
    page.get_by_test_id("key-create").click()
    dialog = page.get_by_test_id("key-secret-dialog")
    dialog.wait_for()
    secret = page.get_by_test_id("key-secret").input_value()
    assert secret.startswith("sk-") and len(secret) > 20
    assert "you will not see it again" in dialog.inner_text()
    page.wait_for_timeout(500)  # let the dialog's fade-in finish before the screenshot
    shot(page, "admin-keys")
    page.get_by_test_id("key-secret-close").click()
    dialog.wait_for(state="detached")
    row = page.locator("tr", has_text=name)
    assert "100 rpm" in row.inner_text() and "Active" in row.inner_text()
    assert secret not in page.content()
    page.reload()
    page.locator("tr", has_text=name).wait_for()
    assert secret not in page.content()  # shown once, never again

    models = httpx.get(
        f"{server.base_url}/v1/models", headers={"Authorization": f"Bearer {secret}"}
    )
    assert models.status_code == 200, models.text

    page.locator("tr", has_text=name).get_by_test_id("key-revoke").click()
    assert name in page.get_by_test_id("confirm-text").inner_text()
    page.get_by_test_id("confirm-yes").click()
    page.locator("tr", has_text=name).get_by_text("Revoked").wait_for()
    refused = httpx.get(
        f"{server.base_url}/v1/models", headers={"Authorization": f"Bearer {secret}"}
    )
    assert refused.status_code == 401


def test_create_user_and_change_role(
    new_page, server: Server, org: Org, admin: ConsoleUser
) -> None:
    page = new_page(admin, path="/admin/users")
    username = f"newbie-{secrets.token_hex(3)}"
    page.get_by_test_id("user-username").fill(username)
    page.get_by_test_id("user-display").fill("New Person")
    page.get_by_test_id("user-password").fill("a long enough password")
    pick(page, "user-role", "Viewer")
    page.get_by_test_id("user-create").click()
    row = page.get_by_test_id(f"user-{username}")
    row.wait_for()
    assert "New Person" in row.inner_text()
    users = server.api("GET", "/api/users", key=org.admin_key).json()["data"]
    created = next(u for u in users if u["username"] == username)
    assert created["role"] == "viewer" and created["display_name"] == "New Person"

    pick(page, "user-role-select", "Member", scope=row)
    page.get_by_text(f"{username} is now Member").wait_for()
    again = server.api("GET", f"/api/users/{created['id']}", key=org.admin_key).json()
    assert again["role"] == "member"


def test_invalid_policy_shows_the_line_then_a_valid_one_saves(
    new_page, server: Server, org: Org, admin: ConsoleUser
) -> None:
    page = new_page(admin, path="/admin/policies")
    name = f"ci-policy-{secrets.token_hex(3)}"
    set_editor(page, BAD_POLICY.format(name=name))
    page.get_by_test_id("policy-save").click()
    problem = page.get_by_test_id("policy-problem").first
    problem.wait_for()
    assert "line 4" in problem.inner_text() and "rules.0.stage" in problem.inner_text()
    page.locator(".aigc-error-line").first.wait_for()  # the line is marked in the editor
    shot(page, "admin-policies")
    assert server.api("GET", f"/api/policies/{name}", key=org.admin_key).status_code == 404

    set_editor(page, GOOD_POLICY.format(name=name))
    page.get_by_test_id("policy-save").click()
    page.get_by_test_id(f"policy-{name}").wait_for()
    assert page.get_by_test_id("policy-problem").count() == 0
    saved = server.api("GET", f"/api/policies/{name}", key=org.admin_key).json()
    assert saved["enabled"] is True and "EMAIL_ADDRESS" in saved["yaml"]

    page.get_by_test_id(f"policy-{name}").get_by_test_id("policy-toggle").click()
    deadline = time.monotonic() + 10
    while server.api("GET", f"/api/policies/{name}", key=org.admin_key).json()["enabled"]:
        assert time.monotonic() < deadline, "the switch did not disable the policy"
        time.sleep(0.2)


def test_usage_charts_and_audit_filtered_by_model(
    new_page, server: Server, org: Org, admin: ConsoleUser
) -> None:
    chat = {"model": MODEL, "messages": [{"role": "user", "content": "hello"}], "max_tokens": 16}
    for _ in range(3):
        done = server.api("POST", "/v1/chat/completions", key=org.member_key, json=chat)
        assert done.status_code == 200, done.text
    assert server.api("GET", "/v1/models", key=org.member_key).status_code == 200

    page = new_page(admin, path="/admin/usage")
    requests = int(page.get_by_test_id("usage-requests").inner_text().replace(",", ""))
    assert requests >= 4
    by_model = page.get_by_test_id("usage-chart-model")
    by_model.locator("svg").first.wait_for()
    by_model.get_by_text(MODEL).first.wait_for()  # an axis label of the rendered chart
    page.get_by_test_id("usage-chart-day").locator("svg path").first.wait_for(state="attached")
    shot(page, "admin-usage")

    page.goto("/admin/audit")
    page.get_by_test_id("audit-table").wait_for()
    assert page.locator("[data-testid=audit-row]", has_text="/v1/models").count() >= 1
    pick(page, "audit-model", MODEL)
    page.get_by_test_id("audit-apply").click()
    page.wait_for_function(
        """() => [...document.querySelectorAll('[data-testid=audit-row]')]
                 .every(r => !r.innerText.includes('GET /v1/models'))"""
    )
    rows = page.get_by_test_id("audit-row")
    assert rows.count() >= 3
    for i in range(rows.count()):
        line = rows.nth(i).inner_text()
        assert MODEL in line and "/v1/chat/completions" in line and "member" in line
    assert re.search(r"of [3-9]", page.get_by_test_id("audit-count").inner_text())
    shot(page, "admin-audit")


def test_admin_in_chinese(new_page, admin: ConsoleUser) -> None:
    page = new_page(admin, lang="zh-CN", path="/admin/keys")
    page.get_by_test_id("admin-tab-keys").get_by_text("API 密钥").wait_for()
    assert page.get_by_text("新建 API 密钥").is_visible()
    assert page.get_by_test_id("admin-tab-audit").inner_text() == "审计日志"
    shot(page, "admin-zh")

    # A value the API refuses: a Chinese sentence naming the field, not the API's English.
    page = new_page(admin, lang="zh-CN", path="/admin/users")
    page.get_by_test_id("user-username").fill("李四")
    page.get_by_test_id("user-password").fill("123")
    page.get_by_test_id("user-create").click()
    refusal = page.locator(".q-notification", has_text="password")
    refusal.wait_for()
    assert "出错了：参数「password」的值无效（" in refusal.inner_text()
    assert "Invalid value for" not in refusal.inner_text()
    # the reason too, from pydantic's type and limit ("String should have at least 8 …" before)
    assert "参数「password」的值无效（至少需要 8 个字符）" in refusal.inner_text()


def test_policy_problems_are_told_in_chinese_at_their_lines(
    new_page, server: Server, org: Org, admin: ConsoleUser
) -> None:
    """Found in review: the Chinese policy editor listed "rules.0.stage: Input should be
    'input', 'retrieval' or 'output'" and PyYAML's English for a syntax error."""
    page = new_page(admin, lang="zh-CN", path="/admin/policies")
    name = f"zh-policy-{secrets.token_hex(3)}"
    set_editor(page, BAD_POLICY.format(name=name) + "    extra: 1\n")
    page.get_by_test_id("policy-save").click()
    problems = page.get_by_test_id("policy-problem")
    expect(problems.first).to_be_visible()
    texts = problems.all_inner_texts()
    assert "第 4 行: rules.0.stage: 必须是以下之一：'input', 'retrieval' or 'output'" in texts
    assert "第 7 行: rules.0.extra: 不是可用的字段" in texts
    assert not any("Input should" in t or "Extra inputs" in t for t in texts), texts

    set_editor(page, f"name: {name}\nrules: [\n")
    page.get_by_test_id("policy-save").click()
    expect(problems.first).to_have_text("第 3 行: YAML 格式错误（第 3 行第 1 列附近）")

    # The policy's own rules, not pydantic's ("rule id 'r1' is used twice" before).
    twice = GOOD_POLICY.format(name=name) + GOOD_POLICY.split("rules:\n", 1)[1]
    set_editor(page, twice)
    page.get_by_test_id("policy-save").click()
    expect(problems.first).to_have_text("规则 ID「r1」重复使用")
    assert server.api("GET", f"/api/policies/{name}", key=org.admin_key).status_code == 404


def test_key_limits_out_of_range_are_refused_in_words_not_changed(
    new_page, server: Server, org: Org, admin: ConsoleUser
) -> None:
    page = new_page(admin, lang="zh-CN", path="/admin/keys")
    name = f"limits-{secrets.token_hex(3)}"
    page.get_by_test_id("key-name").fill(name)
    rpm, tpm = page.get_by_test_id("key-rpm"), page.get_by_test_id("key-tpm")
    rpm.fill("-5")
    rpm.press("Tab")  # leaving the field must not turn -5 into 1
    tpm.fill("0")
    tpm.press("Tab")
    page.get_by_test_id("key-create").click()
    refusals = page.get_by_text("请输入不小于 1 的整数，或留空表示不限。")
    expect(refusals).to_have_count(2)
    assert rpm.input_value() == "-5" and tpm.input_value() == "0"
    keys = server.api("GET", "/api/keys", key=org.admin_key).json()["data"]
    assert name not in [k["name"] for k in keys]  # nothing saved

    rpm.fill("30")
    tpm.fill("")
    page.get_by_test_id("key-create").click()
    page.get_by_test_id("key-secret-dialog").wait_for()
    keys = server.api("GET", "/api/keys", key=org.admin_key).json()["data"]
    saved = next(k for k in keys if k["name"] == name)
    assert (saved["rpm_limit"], saved["tpm_limit"]) == (30, None)


def test_tenant_admin_sees_only_their_organization(new_page, admin: ConsoleUser) -> None:
    page = new_page(admin, path="/admin/tenants")
    own = page.get_by_test_id("tenant-own")
    own.wait_for()
    assert page.get_by_test_id("tenants-table").count() == 0
    assert page.get_by_test_id("audit-verify").count() == 0
    page.goto("/admin/audit")
    page.get_by_test_id("audit-count").wait_for()
    assert page.get_by_test_id("audit-verify").count() == 0  # the chain check is the platform's


def platform_admin(server: Server, org: Org) -> ConsoleUser:
    person = add_user(server, org, "admin")
    engine = create_engine(f"sqlite:///{server.data_dir / 'aigc.db'}")
    try:
        with engine.begin() as conn:  # only the CLI makes platform admins: grant it directly
            conn.execute(
                text("UPDATE users SET platform_admin = :yes WHERE id = :id"),
                {"yes": True, "id": person.id},
            )
    finally:
        engine.dispose()
    return person


def test_platform_admin_lists_organizations_and_verifies_the_chain(
    new_page, server: Server, org: Org
) -> None:
    person = platform_admin(server, org)
    page = new_page(person, path="/admin/tenants")
    page.get_by_test_id("tenants-table").wait_for()
    other = f"Made in console {secrets.token_hex(3)}"
    page.get_by_test_id("tenant-name").fill(other)
    page.get_by_test_id("tenant-create").click()
    row = page.locator("tr", has_text=other)
    row.wait_for()
    row.get_by_test_id("tenant-toggle").click()
    page.get_by_test_id("confirm-yes").click()
    page.locator("tr", has_text=other).get_by_text("Disabled").wait_for()
    tenants = server.api("GET", "/api/tenants").json()["data"]
    assert next(t for t in tenants if t["name"] == other)["disabled"] is True

    page.goto("/admin/audit")
    page.get_by_test_id("audit-verdict").get_by_text("Chain intact").wait_for()


def test_platform_admin_edits_the_upstream_allow_list_admins_read_it(
    new_page, server: Server, org: Org, admin: ConsoleUser
) -> None:
    allowlist = "/api/platform/upstream-allowlist"
    page = new_page(platform_admin(server, org), path="/models")
    box = page.get_by_test_id("allowlist-patterns")
    box.wait_for()
    try:
        box.fill("https://8.8.8.8/v1\nftp://files.example.cn")
        page.get_by_test_id("allowlist-save").click()
        # the check's reason (it enforces the patterns; the document only shows them)
        page.get_by_text("only http and https upstreams").wait_for()
        assert server.api("GET", allowlist).json()["patterns"] == []  # nothing stored
        box.fill("HTTPS://*.Corp.Example.cn\nhttps://8.8.8.8/v1\n\nhttps://8.8.8.8/v1")
        page.get_by_test_id("allowlist-save").click()
        page.get_by_text("Allow-list saved (2 patterns).").wait_for()
        stored = ["https://*.corp.example.cn", "https://8.8.8.8/v1"]
        assert server.api("GET", allowlist).json()["patterns"] == stored
        assert box.input_value() == "\n".join(stored)  # shown as stored: normalised
        shot(page, "models-allowlist")
        # An organization admin reads it, and has nothing to edit it with.
        page = new_page(admin, path="/models")
        page.get_by_test_id("allowlist-card").wait_for()
        shown = page.get_by_test_id("allowlist-pattern").all_inner_texts()
        assert shown == stored
        assert page.get_by_test_id("allowlist-save").count() == 0
        assert page.get_by_test_id("allowlist-patterns").count() == 0
    finally:
        server.api("PUT", allowlist, json={"patterns": []})
