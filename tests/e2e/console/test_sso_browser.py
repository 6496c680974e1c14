"""Single sign-on in Chromium, end to end: the login page's button, the provider's own sign-in
page (a real oidc-provider), back into the console; sign-out ends the session here and at the
provider. In Chinese too."""

from __future__ import annotations

import re
import secrets
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
