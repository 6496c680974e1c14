"""Single sign-on against a real OpenID Connect provider (oidc-provider, started by the tests).

Each sign-in is walked over HTTP as a browser walks it: our start URL, the provider's
authorization endpoint and login form, back to our callback. The provider is real (PKCE, code,
token endpoint, signed ID tokens); to see what our server does with a bad ID token, the test
asks the provider to change the next one it issues (re-signed with its own key, or tampered
after signing). The Chromium walk of the same flow is tests/e2e/console/test_sso_browser.py.
"""

from __future__ import annotations

import base64
import secrets
import time
from typing import Any

import httpx
import pytest

from tests.e2e.oidc_idp import OidcProvider
from tests.e2e.server import Org, Server, make_org
from tests.e2e.sso_flow import Provider, add_provider, query, sign_in, to_callback

RULES = [
    {"claim": "groups", "value": "aigc-admins", "role": "admin"},
    {"claim": "groups", "value": "finance", "group": "finance"},
    {"claim": "groups", "value": "研发", "group": "研发部"},
]


@pytest.fixture(scope="module")
def org_a(server: Server) -> Org:
    return make_org(server, f"SSO A {secrets.token_hex(3)}")


@pytest.fixture(scope="module")
def org_b(server: Server) -> Org:
    return make_org(server, f"SSO B {secrets.token_hex(3)}")


@pytest.fixture(scope="module")
def provider_a(server: Server, oidc_provider: OidcProvider, org_a: Org) -> Provider:
    return add_provider(server, oidc_provider, org_a.id, "aigc-org-a", rules=RULES)


@pytest.fixture(scope="module")
def provider_b(server: Server, oidc_provider: OidcProvider, org_b: Org) -> Provider:
    return add_provider(server, oidc_provider, org_b.id, "aigc-org-b", rules=RULES)


def person(idp: OidcProvider, groups: list[str], **claims: Any) -> str:
    account = f"p{secrets.token_hex(4)}"
    idp.set_account(
        account,
        {
            "email": f"{account}@example.com",
            "email_verified": True,
            "name": "测试 用户",
            "groups": groups,
        }
        | claims,
    )
    return account


def me(server: Server, response: httpx.Response) -> dict[str, Any]:
    secret = response.cookies["aigc_session"]
    answer = server.api("GET", "/api/me", key=secret)
    assert answer.status_code == 200, answer.text
    return answer.json()


def groups_of(server: Server, org: Org, user_id: str) -> set[str]:
    names = set()
    for group in server.api("GET", f"/api/groups?tenant_id={org.id}").json()["data"]:
        detail = server.api("GET", f"/api/groups/{group['id']}").json()
        if user_id in {m["id"] if isinstance(m, dict) else m for m in detail.get("members", [])}:
            names.add(group["name"])
    return names


def audit(server: Server, org: Org, prefix: str = "sso.") -> list[dict[str, Any]]:
    rows = server.api("GET", f"/api/audit?tenant_id={org.id}&endpoint={prefix}&limit=200")
    assert rows.status_code == 200, rows.text
    return rows.json()["data"]


def refused(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 403, response.text
    assert f'data-reason="{reason}"' in response.text, response.text
    assert "aigc_session" not in response.headers.get("set-cookie", "")


# --- the flow and the mapping -----------------------------------------------------------------


def test_authorization_request_uses_pkce_state_and_nonce(
    server: Server, provider_a: Provider, oidc_provider: OidcProvider
) -> None:
    with httpx.Client(follow_redirects=False) as browser:
        start = browser.get(f"{server.base_url}/console/sso/{provider_a.id}/start")
    assert start.status_code == 303
    params = query(start.headers["location"])
    assert start.headers["location"].startswith(oidc_provider.issuer + "/auth?")
    assert params["response_type"] == "code" and params["client_id"] == "aigc-org-a"
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert len(params["state"]) >= 32 and len(params["nonce"]) >= 32
    assert params["redirect_uri"] == f"{server.base_url}/console/sso/callback"
    cookie = start.headers["set-cookie"]
    assert "aigc_sso=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie


def test_first_sign_in_creates_the_user_with_mapped_role_and_groups_then_reapplies(
    server: Server, oidc_provider: OidcProvider, provider_a: Provider, org_a: Org
) -> None:
    account = person(oidc_provider, ["aigc-admins", "finance", "研发"])
    response, _ = sign_in(server, provider_a.id, account, "/knowledge")
    assert response.status_code == 200, response.text
    assert 'url=/knowledge"' in response.text  # on to where the person was going
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    who = me(server, response)
    assert who["tenant_id"] == org_a.id and who["role"] == "admin"
    user = server.api("GET", f"/api/users/{who['user_id']}").json()
    assert user["username"] == f"{account}@example.com" and user["display_name"] == "测试 用户"
    assert groups_of(server, org_a, who["user_id"]) == {"finance", "研发部"}

    # Removed from the admins and from finance at the provider: lost at the next sign-in.
    oidc_provider.set_account(
        account, {"email": f"{account}@example.com", "email_verified": True, "groups": ["研发"]}
    )
    again, _ = sign_in(server, provider_a.id, account)
    assert again.status_code == 200, again.text
    who_again = me(server, again)
    assert who_again["user_id"] == who["user_id"]  # the same person, recognised by sub
    assert who_again["role"] == "member"  # the provider's default role
    assert groups_of(server, org_a, who["user_id"]) == {"研发部"}
    # The first session (still open) acts with the new role too: roles live on the user.
    assert me(server, response)["role"] == "member"

    events = audit(server, org_a)
    mine = [e for e in events if e["user_id"] == who["user_id"]]
    kinds = [e["endpoint"] for e in mine]
    assert kinds.count("sso.sign_in") == 2
    change = next(e for e in mine if e["endpoint"] == "sso.role_change")
    assert "role:admin->member" in change["guard"]
    groups = next(e for e in mine if e["endpoint"] == "sso.groups_change")
    assert "groups:-finance" in groups["guard"]


def test_no_rule_and_no_default_role_is_refused(
    server: Server, oidc_provider: OidcProvider, org_a: Org
) -> None:
    strict = add_provider(
        server, oidc_provider, org_a.id, "aigc-org-a", rules=RULES, default_role=None
    )
    outsider = person(oidc_provider, ["marketing"])
    response, _ = sign_in(server, strict.id, outsider)
    refused(response, "no_role")
    insider = person(oidc_provider, ["aigc-admins"])
    response, _ = sign_in(server, strict.id, insider)
    assert response.status_code == 200 and me(server, response)["role"] == "admin"


def test_allowed_email_domains(server: Server, oidc_provider: OidcProvider, org_a: Org) -> None:
    corp = add_provider(
        server, oidc_provider, org_a.id, "aigc-org-a", allowed_domains=["corp.example"]
    )
    outside = person(oidc_provider, [], email="x@elsewhere.example")
    refused(sign_in(server, corp.id, outside)[0], "email_domain")
    unverified = person(oidc_provider, [], email="y@corp.example", email_verified=False)
    refused(sign_in(server, corp.id, unverified)[0], "email_unverified")
    inside = person(oidc_provider, [], email="z@CORP.example")
    assert sign_in(server, corp.id, inside)[0].status_code == 200


def test_no_open_redirect_after_sign_in(
    server: Server, oidc_provider: OidcProvider, provider_a: Provider
) -> None:
    # A browser drops tabs and newlines from a URL before reading it: "/\t/evil.example" in
    # the page's refresh and link would be "//evil.example", another host.
    targets = ("//evil.example/x", "https://evil.example/", "/\\evil.example")
    for target in (*targets, "/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example"):
        response, _ = sign_in(server, provider_a.id, person(oidc_provider, []), target)
        assert response.status_code == 200
        assert 'url=/chat"' in response.text and "evil" not in response.text


# --- refusals -----------------------------------------------------------------------------------


def _forged(idp: OidcProvider, **claims: Any) -> str:
    """An ID token signed with the provider's own key (the test holds it), these claims."""
    from joserfc import jwt
    from joserfc.jwk import RSAKey

    key = RSAKey.import_key(idp.private_jwk)
    return jwt.encode({"alg": "RS256", "kid": idp.private_jwk["kid"]}, claims, key)


@pytest.mark.parametrize(
    ("label", "resign", "change", "reason"),
    [
        ("tampered", False, {"email": "ceo@example.com"}, "signature_invalid"),
        ("wrong nonce", True, {"nonce": "not-the-nonce"}, "nonce_mismatch"),
        ("no nonce", True, {"nonce": None}, "nonce_mismatch"),
        ("wrong audience", True, {"aud": "another-app"}, "audience_mismatch"),
        # azp names us but the audience does not: still not for us
        (
            "audience without us",
            True,
            {"aud": ["another-app"], "azp": "aigc-org-a"},
            "audience_mismatch",
        ),
        ("expired", True, {"exp": "past", "iat": "long ago"}, "token_expired"),
        ("unknown issuer", True, {"iss": "https://evil.example"}, "issuer_mismatch"),
    ],
)
def test_bad_id_tokens_are_refused_with_a_clear_page(
    server: Server,
    oidc_provider: OidcProvider,
    provider_a: Provider,
    org_a: Org,
    label: str,
    resign: bool,
    change: dict[str, Any],
    reason: str,
) -> None:
    now = int(time.time())
    times = {"past": now - 3600, "long ago": now - 7200}
    change = {k: times.get(v, v) if isinstance(v, str) else v for k, v in change.items()}
    account = person(oidc_provider, ["aigc-admins"])
    browser = httpx.Client(timeout=30, follow_redirects=False)
    callback = to_callback(browser, server, provider_a.id, account)
    oidc_provider.change_next_id_token(resign, **change)
    response = browser.get(callback)
    refused(response, reason)
    assert "Sign-in refused" in response.text
    rows = [e for e in audit(server, org_a) if e["endpoint"] == "sso.refused"]
    assert any(f"reason:{reason}" in e["guard"] for e in rows), rows
    # Nobody was created for the refused person.
    users = server.api("GET", f"/api/users?tenant_id={org_a.id}").json()["data"]
    assert f"{account}@example.com" not in {u["username"] for u in users}


def test_refusal_page_speaks_chinese(
    server: Server, oidc_provider: OidcProvider, provider_a: Provider
) -> None:
    browser = httpx.Client(timeout=30, follow_redirects=False, headers={"Accept-Language": "zh-CN"})
    callback = to_callback(browser, server, provider_a.id, person(oidc_provider, []))
    oidc_provider.change_next_id_token(True, aud="another-app")
    response = browser.get(callback)
    refused(response, "audience_mismatch")
    assert "登录被拒绝" in response.text and "其他应用" in response.text


def test_wrong_state_replayed_callback_and_another_browser_are_refused(
    server: Server, oidc_provider: OidcProvider, provider_a: Provider
) -> None:
    account = person(oidc_provider, [])
    browser = httpx.Client(timeout=30, follow_redirects=False)
    callback = to_callback(browser, server, provider_a.id, account)
    params = query(callback)
    wrong = callback.replace(params["state"], "x" * 43)
    refused(browser.get(wrong), "state_unknown")
    # Another browser (no aigc_sso cookie of its own) brings the right callback: refused, and
    # the pending sign-in is spent, so the right browser cannot use it after that either.
    thief = httpx.Client(timeout=30, follow_redirects=False)
    refused(thief.get(callback), "browser_mismatch")
    refused(browser.get(callback), "state_unknown")
    # Once used, a callback never works twice.
    callback = to_callback(browser, server, provider_a.id, account)
    assert browser.get(callback).status_code == 200
    refused(browser.get(callback), "state_unknown")


def test_id_token_for_another_organizations_client_is_refused(
    server: Server, oidc_provider: OidcProvider, provider_a: Provider, provider_b: Provider
) -> None:
    """Mix-up: B's sign-in handed a token issued to A's client (same issuer, valid signature)."""
    browser = httpx.Client(timeout=30, follow_redirects=False)
    callback = to_callback(browser, server, provider_b.id, person(oidc_provider, []))
    oidc_provider.change_next_id_token(True, aud="aigc-org-a", azp="aigc-org-a")
    refused(browser.get(callback), "audience_mismatch")


# --- organizations --------------------------------------------------------------------------


def test_a_person_of_a_provider_lands_only_in_its_organization(
    server: Server,
    oidc_provider: OidcProvider,
    provider_a: Provider,
    provider_b: Provider,
    org_a: Org,
    org_b: Org,
) -> None:
    account = person(oidc_provider, ["aigc-admins"])
    in_a, _ = sign_in(server, provider_a.id, account)
    in_b, _ = sign_in(server, provider_b.id, account)
    a, b = me(server, in_a), me(server, in_b)
    assert a["tenant_id"] == org_a.id and b["tenant_id"] == org_b.id
    assert a["user_id"] != b["user_id"]  # two users: one per organization's provider
    a_session = in_a.cookies["aigc_session"]
    for path in (f"/api/users/{b['user_id']}", f"/api/users?tenant_id={org_b.id}"):
        assert server.api("GET", path, key=a_session).status_code in (403, 404)
    b_users = server.api("GET", f"/api/users?tenant_id={org_b.id}").json()["data"]
    assert a["user_id"] not in {u["id"] for u in b_users}


def test_a_local_account_with_the_same_name_is_never_taken_over(
    server: Server, oidc_provider: OidcProvider, provider_a: Provider, org_b: Org
) -> None:
    """A local user of B is named like the e-mail A's provider vouches for: A's sign-in makes
    a user of its own in A and never signs in as B's user."""
    account = f"p{secrets.token_hex(4)}"
    email = f"{account}@example.com"
    local = server.api(
        "POST",
        "/api/users",
        json={"username": email, "password": "long enough pw", "tenant_id": org_b.id},
    )
    assert local.status_code == 201, local.text
    oidc_provider.set_account(account, {"email": email, "email_verified": True, "groups": []})
    response, _ = sign_in(server, provider_a.id, account)
    who = me(server, response)
    assert who["user_id"] != local.json()["id"] and who["tenant_id"] == provider_a.tenant_id


# --- secrets, passwords, admin ----------------------------------------------------------------


def test_client_secret_never_in_responses_logs_or_audit(
    server: Server, oidc_provider: OidcProvider, provider_a: Provider, org_a: Org
) -> None:
    secret = provider_a.client.client_secret
    base = f"/api/tenants/{org_a.id}/sso/providers"
    answers = [
        server.api("GET", base),
        server.api("GET", f"{base}/{provider_a.id}"),
        server.api("PATCH", f"{base}/{provider_a.id}", json={"client_secret": secret}),
        server.api("POST", f"{base}/{provider_a.id}/test"),
        server.api("GET", f"/api/audit?tenant_id={org_a.id}&limit=200"),
        server.api("GET", "/openapi.json"),
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert secret not in answer.text
    view = answers[1].json()
    assert view["has_client_secret"] is True and "client_secret" not in view
    response, _ = sign_in(server, provider_a.id, person(oidc_provider, []))
    assert response.status_code == 200
    logs = server.logs()
    assert secret not in logs
    basic = base64.b64encode(f"aigc-org-a:{secret}".encode()).decode()
    assert basic not in logs
    # Nor any token or code: the log holds no id_token (three base64url parts) of the provider.
    assert "eyJ" not in logs
    # At rest: only ciphertext in the database.
    db = (server.data_dir / "aigc.db").read_bytes()
    assert secret.encode() not in db


def test_passwords_disabled_per_organization(
    server: Server, oidc_provider: OidcProvider, org_a: Org, provider_a: Provider
) -> None:
    username = f"local-{secrets.token_hex(3)}"
    made = server.api(
        "POST",
        "/api/users",
        json={"username": username, "password": "long enough pw", "tenant_id": org_a.id},
    )
    assert made.status_code == 201
    form = {"username": username, "password": "long enough pw"}
    headers = {"Origin": server.base_url}
    login = httpx.post(f"{server.base_url}/console/login", data=form, headers=headers)
    assert login.status_code == 303 and "error" not in login.headers["location"]
    # An organization admin may not flip it; the platform admin may.
    denied = server.api(
        "PATCH", f"/api/tenants/{org_a.id}", key=org_a.admin_key, json={"passwords_disabled": True}
    )
    assert denied.status_code == 403
    flipped = server.api("PATCH", f"/api/tenants/{org_a.id}", json={"passwords_disabled": True})
    assert flipped.status_code == 200 and flipped.json()["passwords_disabled"] is True
    try:
        login = httpx.post(f"{server.base_url}/console/login", data=form, headers=headers)
        assert "error=sso_only" in login.headers["location"]
        assert "aigc_session" not in login.headers.get("set-cookie", "")
        # SSO still signs people of this organization in.
        assert sign_in(server, provider_a.id, person(oidc_provider, []))[0].status_code == 200
    finally:
        server.api("PATCH", f"/api/tenants/{org_a.id}", json={"passwords_disabled": False})


def test_admin_api_checks_and_preview(server: Server, org_a: Org, provider_a: Provider) -> None:
    base = f"/api/tenants/{org_a.id}/sso/providers"
    bad = [
        ({"issuer": "https://idp.example/?x=1"}, "issuer"),
        ({"issuer": "ftp://idp.example"}, "issuer"),
        ({"allowed_domains": ["not a domain"]}, "allowed_domains"),
        ({"scopes": ["bad scope"]}, "scopes"),
        ({"rules": [{"claim": "groups", "value": "x", "role": "admin", "group": "g"}]}, "rules"),
        ({"rules": [{"claim": "groups", "value": "x", "role": "emperor"}]}, None),
    ]
    for change, param in bad:
        body = {
            "name": f"Bad {secrets.token_hex(2)}",
            "issuer": "https://idp.example",
            "client_id": "c",
            "client_secret": "s",
        } | change
        answer = server.api("POST", base, json=body)
        assert answer.status_code == 400, (change, answer.text)
        error = answer.json()["error"]
        assert error["type"] == "invalid_request_error"
        if param:  # the schema's checks name the item, e.g. allowed_domains[0]
            assert error["param"].split("[")[0] == param, error
    assert server.api("GET", f"{base}/sso_{'0' * 16}").status_code == 404
    preview = server.api(
        "POST",
        f"{base}/{provider_a.id}/preview",
        json={"claims": {"email": "a@example.com", "groups": ["finance", "aigc-admins"]}},
    ).json()
    assert preview["allowed"] and preview["role"] == "admin"
    assert preview["groups"] == ["finance"] and preview["groups_left"] == ["研发部"]
    nested = server.api(
        "POST",
        f"{base}/{provider_a.id}/preview",
        json={
            "claims": {"realm_access": {"roles": ["aigc-owner"]}},
            "rules": [{"claim": "realm_access.roles", "value": "aigc-owner", "role": "owner"}],
        },
    ).json()
    assert nested["role"] == "owner" and nested["matched_rules"] == [0]


def test_provider_patch_changes_only_what_is_sent_and_null_only_where_it_clears(
    server: Server, oidc_provider: OidcProvider, org_a: Org
) -> None:
    """A field left out of a PATCH stays as it is; null clears ``default_role`` (refuse the
    unmatched) and is a 400 naming the field on every field that has no empty state."""
    made = add_provider(
        server,
        oidc_provider,
        org_a.id,
        "aigc-org-a",
        rules=RULES,
        allowed_domains=["example.com"],
        default_role="viewer",
    )
    one = f"/api/tenants/{org_a.id}/sso/providers/{made.id}"
    moving = ("updated_at",)

    def view() -> dict[str, Any]:
        answer = server.api("GET", one)
        assert answer.status_code == 200, answer.text
        return {k: v for k, v in answer.json().items() if k not in moving}

    before = view()
    renamed = server.api("PATCH", one, json={"name": f"统一身份认证 {secrets.token_hex(2)}"})
    assert renamed.status_code == 200, renamed.text
    after = view()
    assert after["name"] == renamed.json()["name"] != before["name"]
    assert after == before | {"name": after["name"]}
    # The secret, not sent, is the one the provider knows: a sign-in still goes through.
    response, _ = sign_in(server, made.id, person(oidc_provider, []))
    assert response.status_code == 200, response.text

    for field in (
        "name",
        "issuer",
        "client_id",
        "client_secret",
        "scopes",
        "allowed_domains",
        "rules",
        "allow_private_network",
        "enabled",
    ):
        answer = server.api("PATCH", one, json={field: None})
        assert answer.status_code == 400, (field, answer.text)
        error = answer.json()["error"]
        assert error["type"] == "invalid_request_error" and error["param"] == field, error
        assert "null" in error["message"]
    assert view() == after

    cleared = server.api("PATCH", one, json={"default_role": None})
    assert cleared.status_code == 200, cleared.text
    assert view() == after | {"default_role": None}


def test_connection_test_refuses_private_issuers_unless_allowed(
    server: Server, oidc_provider: OidcProvider, org_a: Org
) -> None:
    guarded = add_provider(
        server,
        oidc_provider,
        org_a.id,
        "aigc-org-a",
        issuer="https://127.0.0.1:1",
        allow_private_network=False,
    )
    result = server.api("POST", f"/api/tenants/{org_a.id}/sso/providers/{guarded.id}/test")
    assert result.status_code == 200
    body = result.json()
    assert body["ok"] is False and body["reason"] == "provider_unreachable"
    assert "not public" in body["message"]
    # and the start of a sign-in says so too, without a 500
    with httpx.Client(follow_redirects=False) as browser:
        start = browser.get(f"{server.base_url}/console/sso/{guarded.id}/start")
    refused(start, "provider_unreachable")
    # Plain http is fetched only from a provider allowed on private networks.
    plain = add_provider(
        server,
        oidc_provider,
        org_a.id,
        "aigc-org-a",
        issuer=oidc_provider.issuer,
        allow_private_network=False,
    )
    body = server.api("POST", f"/api/tenants/{org_a.id}/sso/providers/{plain.id}/test").json()
    assert body["ok"] is False and body["reason"] == "provider_invalid"
    assert "https" in body["message"]


def test_signed_out_page_ends_the_session_at_the_provider(
    server: Server, oidc_provider: OidcProvider, provider_a: Provider
) -> None:
    """Where the console's sign-out goes for an SSO session (the button itself, which ends our
    session first, is walked in Chromium: tests/e2e/console/test_sso_browser.py)."""
    out = httpx.get(f"{server.base_url}/console/sso/signed-out/{provider_a.id}")
    assert out.status_code == 303
    location = out.headers["location"]
    assert location.startswith(f"{oidc_provider.issuer}/session/end?")
    assert query(location)["post_logout_redirect_uri"] == f"{server.base_url}/login"
    assert query(location)["client_id"] == "aigc-org-a"
    # The sign-out POST dropped the cookie; this GET, open to any site's link, changes nothing.
    assert "aigc_session" not in out.headers.get("set-cookie", "")
    unknown = httpx.get(f"{server.base_url}/console/sso/signed-out/sso_{'0' * 16}")
    assert unknown.status_code == 303 and unknown.headers["location"] == "/login"


def test_provider_error_and_foreign_iss_in_the_callback_are_refused(
    server: Server, provider_a: Provider, org_a: Org
) -> None:
    """The person cancelled at the provider (error=access_denied), or the answer names another
    issuer (RFC 9207 mix-up defence): refused, and the pending sign-in is spent either way."""
    for extra, reason in (
        ({"error": "access_denied"}, "provider_error"),
        ({"code": "x", "iss": "https://evil.example"}, "issuer_mismatch"),
    ):
        with httpx.Client(follow_redirects=False) as browser:
            start = browser.get(f"{server.base_url}/console/sso/{provider_a.id}/start")
            state = query(start.headers["location"])["state"]
            callback = f"{server.base_url}/console/sso/callback"
            refused(browser.get(callback, params={"state": state} | extra), reason)
            refused(browser.get(callback, params={"state": state, "code": "x"}), "state_unknown")
    reasons = {
        g for e in audit(server, org_a) if e["endpoint"] == "sso.refused" for g in e["guard"]
    }
    assert {"reason:provider_error", "reason:issuer_mismatch"} <= reasons


def test_a_discovery_document_naming_another_issuer_is_refused(
    server: Server, oidc_provider: OidcProvider, org_a: Org
) -> None:
    """Configured as http://localhost:PORT, the provider's document says http://127.0.0.1:PORT:
    not the same issuer (OpenID Connect Discovery §4.3), so nobody signs in through it."""
    other_name = oidc_provider.issuer.replace("127.0.0.1", "localhost")
    wrong = add_provider(server, oidc_provider, org_a.id, "aigc-org-a", issuer=other_name)
    body = server.api("POST", f"/api/tenants/{org_a.id}/sso/providers/{wrong.id}/test").json()
    assert body["ok"] is False and body["reason"] == "issuer_mismatch", body
    with httpx.Client(follow_redirects=False) as browser:
        refused(browser.get(f"{server.base_url}/console/sso/{wrong.id}/start"), "issuer_mismatch")
