"""Single sign-on in Chromium, end to end: the login page's button, the provider's own sign-in
page (a real oidc-provider), back into the console; sign-out ends the session here and at the
provider. In Chinese too."""

from __future__ import annotations

import re
import secrets
import time
from urllib.parse import urlsplit

from tests.e2e.console.conftest import shot
from tests.e2e.oidc_idp import OidcProvider
from tests.e2e.server import Server, make_org
from tests.e2e.sso_flow import add_provider


def test_sign_in_with_the_provider_and_sign_out_everywhere(
    new_page, server: Server, oidc_provider: OidcProvider
) -> None:
    org = make_org(server, f"SSO Browser {secrets.token_hex(3)}")
    name = f"Corp IdP {secrets.token_hex(2)}"
    provider = add_provider(
        server,
        oidc_provider,
        org.id,
        "aigc-console",
        name=name,
        rules=[{"claim": "groups", "value": "aigc-admins", "role": "admin"}],
    )
    account = f"b{secrets.token_hex(4)}"
    oidc_provider.set_account(
        account,
        {"email": f"{account}@example.com", "name": "王 小明", "groups": ["aigc-admins"]},
    )
    page = new_page()
    page.goto("/login?next=/admin/users")
    button = page.get_by_test_id(f"sso-{provider.id}")
    assert button.inner_text() == f"Sign in with {name}"
    shot(page, "sso-login")
    button.click()
    page.wait_for_url(re.compile(re.escape(oidc_provider.issuer) + "/interaction/"))
    page.get_by_test_id("idp-login").fill(account)
    page.get_by_test_id("idp-submit").click()
    page.wait_for_url(lambda url: urlsplit(url).path == "/admin/users")
    assert page.get_by_test_id("who").inner_text() == "王 小明"
    shot(page, "sso-signed-in")
    secret = next(c["value"] for c in page.context.cookies() if c["name"] == "aigc_session")
    me = server.api("GET", "/api/me", key=secret).json()
    assert me["tenant_id"] == org.id and me["role"] == "admin"

    page.get_by_test_id("signout").click()
    page.wait_for_url(re.compile(re.escape(oidc_provider.issuer) + "/session/end"))
    assert server.api("GET", "/api/me", key=secret).status_code == 401  # ended here already
    page.get_by_test_id("idp-logout").click()
    page.wait_for_url(lambda url: urlsplit(url).path == "/login")
    # Signed out at the provider too: the next SSO sign-in asks for the account again.
    page.get_by_test_id(f"sso-{provider.id}").click()
    page.wait_for_url(re.compile(re.escape(oidc_provider.issuer) + "/interaction/"))


def test_login_page_button_in_chinese_and_refusal_page(
    new_page, server: Server, oidc_provider: OidcProvider
) -> None:
    org = make_org(server, f"SSO 中文 {secrets.token_hex(3)}")
    provider = add_provider(
        server, oidc_provider, org.id, "aigc-console", name="企业身份", default_role=None
    )
    account = f"c{secrets.token_hex(4)}"
    oidc_provider.set_account(account, {"email": f"{account}@example.com", "groups": []})
    page = new_page(lang="zh-CN")
    page.goto("/login")
    button = page.get_by_test_id(f"sso-{provider.id}")
    assert button.inner_text() == "使用 企业身份 登录"
    button.click()
    page.get_by_test_id("idp-login").fill(account)
    page.get_by_test_id("idp-submit").click()
    error = page.get_by_test_id("sso-error")
    error.wait_for()
    assert error.get_attribute("data-reason") == "no_role"
    assert "未获准访问" in error.inner_text()
    shot(page, "sso-refused-zh")
    assert not [c for c in page.context.cookies() if c["name"] == "aigc_session"]


def test_platform_admin_configures_tests_and_previews_a_provider(
    new_page, server: Server, oidc_provider: OidcProvider
) -> None:
    from tests.e2e.console.conftest import add_user
    from tests.e2e.console.test_admin import platform_admin

    org = make_org(server, f"SSO Admin {secrets.token_hex(3)}")
    client = oidc_provider.clients["aigc-console"]
    page = new_page(platform_admin(server, org), path="/admin/sso")
    page.get_by_test_id("sso-none").wait_for()
    name = f"Keycloak {secrets.token_hex(2)}"
    page.get_by_test_id("sso-name").fill(name)
    page.get_by_test_id("sso-issuer").fill(oidc_provider.issuer)
    page.get_by_test_id("sso-client-id").fill(client.client_id)
    page.get_by_test_id("sso-client-secret").fill(client.client_secret)
    page.get_by_test_id("sso-private").click()
    page.get_by_test_id("sso-save").click()
    row = page.locator("tr", has_text=name)
    saved_or_refused = row.or_(page.locator(".q-notification", has_not_text="Saved"))
    saved_or_refused.first.wait_for()
    assert row.count() == 1, page.locator(".q-notification").all_inner_texts()
    stored = server.api("GET", f"/api/tenants/{org.id}/sso/providers").json()["data"]
    assert [p["name"] for p in stored] == [name] and stored[0]["allow_private_network"]
    assert stored[0]["rules"][0] == {"claim": "groups", "value": "aigc-admins", "role": "admin"}

    row.get_by_test_id("sso-edit").click()
    page.get_by_text(f"Edit {name}").wait_for()
    assert page.get_by_test_id("sso-client-secret").input_value() == ""  # never read back
    assert client.client_secret not in page.content()
    page.get_by_test_id("sso-test").click()
    page.get_by_test_id("sso-result").get_by_text("Discovery and JWKS fetched: 1 key(s)").wait_for()
    page.get_by_test_id("sso-preview").click()
    page.get_by_test_id("sso-result").get_by_text("Role admin; groups: finance.").wait_for()
    shot(page, "admin-sso")

    page.get_by_test_id("sso-passwords-disabled").click()
    page.get_by_text("Saved.").first.wait_for()
    assert server.api("GET", f"/api/tenants/{org.id}").json()["passwords_disabled"] is True
    page.get_by_test_id("sso-passwords-disabled").click()  # and on again, for the admin below
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=sso-passwords-disabled]')"
        ".getAttribute('aria-checked').includes('true')"
    )
    deadline = time.monotonic() + 10
    while server.api("GET", f"/api/tenants/{org.id}").json()["passwords_disabled"]:
        assert time.monotonic() < deadline
        time.sleep(0.2)

    # An organization admin is told who configures it, and sees nothing of it.
    admin = add_user(server, org, "admin")
    page = new_page(admin, path="/admin/sso")
    page.get_by_test_id("sso-only-platform").wait_for()
    assert page.get_by_test_id("sso-form").count() == 0
