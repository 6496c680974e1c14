"""Sign-in, sign-out, lockout, language, and who may see what."""

from __future__ import annotations

import hashlib
import re

import httpx
from playwright.sync_api import expect

from tests.e2e.console.conftest import add_user, shot, sign_in, wait_connected
from tests.e2e.server import Org, Server


def test_sign_in_language_and_sign_out(new_page, server: Server, console_org: Org) -> None:
    user = add_user(server, console_org, "member")
    page = new_page()
    page.goto("/forbidden")
    page.wait_for_url(re.compile(r"/login\?next="))  # not signed in: sent to the sign-in page
    shot(page, "login")
    sign_in(page, user, "/forbidden")
    assert page.get_by_test_id("who").inner_text() == user.username
    page.get_by_test_id("lang-zh-CN").click()
    page.wait_for_load_state()
    assert page.get_by_text("退出登录").is_visible()
    secret = next(c["value"] for c in page.context.cookies() if c["name"] == "aigc_session")
    assert server.api("GET", "/api/me", key=secret).status_code == 200
    page.get_by_test_id("signout").click()
    page.wait_for_url(re.compile(r"/login$"))
    assert server.api("GET", "/api/me", key=secret).status_code == 401
    page.goto("/forbidden")
    page.wait_for_url(re.compile(r"/login\?next="))  # the session is over


def test_wrong_password_then_lockout(new_page, server: Server, console_org: Org) -> None:
    user = add_user(server, console_org, "member")
    page = new_page()
    wrong = type(user)(user.username, "not the password", user.role, user.id)
    for _ in range(4):
        page.goto("/login")
        page.get_by_test_id("username").fill(wrong.username)
        page.get_by_test_id("password").fill(wrong.password)
        page.get_by_test_id("signin").click()
        page.wait_for_url(re.compile("error=invalid"))
    page.get_by_test_id("username").fill(wrong.username)
    page.get_by_test_id("password").fill(wrong.password)
    page.get_by_test_id("signin").click()
    page.wait_for_url(re.compile("error=locked"))
    # Now even the right password is refused until the lock expires.
    page.get_by_test_id("username").fill(user.username)
    page.get_by_test_id("password").fill(user.password)
    page.get_by_test_id("signin").click()
    page.wait_for_url(re.compile("error=locked"))
    assert page.get_by_test_id("login-error").is_visible()


def test_a_refused_sign_in_keeps_the_username_never_the_password(
    new_page, server: Server, console_org: Org
) -> None:
    user = add_user(server, console_org, "member")
    chinese = server.api(  # a Chinese username survives the round trip too
        "POST",
        "/api/users",
        key=console_org.admin_key,
        json={"username": f"张伟-{user.id[:6]}", "password": user.password, "role": "member"},
    )
    assert chinese.status_code == 201, chinese.text
    page = new_page(lang="zh-CN")
    for username in (user.username, chinese.json()["username"]):
        page.goto("/login")
        page.get_by_test_id("username").fill(username)
        page.get_by_test_id("password").fill("not the password")
        page.get_by_test_id("signin").click()
        page.wait_for_url(re.compile("error=invalid"))
        assert page.get_by_test_id("login-error").is_visible()
        assert page.get_by_test_id("username").input_value() == username
        assert page.get_by_test_id("password").input_value() == ""
    password_cookies = [c for c in page.context.cookies() if "not the password" in c["value"]]
    assert password_cookies == []
    page.get_by_test_id("password").fill(user.password)  # the kept name signs in
    page.get_by_test_id("signin").click()
    page.wait_for_url(re.compile("/chat$"))
    page.goto("/login")  # signed in: sent on; the remembered name is gone
    page.wait_for_url(re.compile("/chat$"))
    assert all(c["name"] != "aigc_login_name" for c in page.context.cookies())


def test_a_session_ended_elsewhere_offers_sign_in_back_to_the_page(
    new_page, server: Server, console_org: Org
) -> None:
    user = add_user(server, console_org, "member")
    for lang, sign_in_again in (("zh-CN", "重新登录"), ("en", "Sign in again")):
        page = new_page(user, lang=lang, path="/knowledge")
        other_tab = page.context.new_page()
        other_tab.goto("/chat")
        wait_connected(other_tab)
        other_tab.get_by_test_id("signout").click()
        other_tab.wait_for_url(re.compile(r"/login$"))
        other_tab.close()
        expect(page.get_by_test_id("session-ended")).to_be_hidden()
        page.get_by_test_id("kb-new").click()  # this tab does not know yet: it acts, is refused
        page.get_by_test_id("kb-name").fill("Handbook")
        page.get_by_test_id("kb-create").click()
        link = page.get_by_test_id("sign-in-again")
        expect(link).to_have_text(sign_in_again)
        expect(page.get_by_test_id("session-ended")).to_be_visible()
        assert link.get_attribute("href") == "/login?next=/knowledge"
        link.click()
        page.wait_for_url(re.compile(r"/login\?next=/knowledge$"))
        sign_in(page, user, "/knowledge")  # and back where the person was


def test_login_from_another_site_is_refused(server: Server, console_org: Org) -> None:
    user = add_user(server, console_org, "member")
    response = httpx.post(
        f"{server.base_url}/console/login",
        data={"username": user.username, "password": user.password},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 303
    assert "error=origin" in response.headers["location"]
    assert "aigc_session" not in response.headers.get("set-cookie", "")


def test_session_cookie_is_httponly_strict_and_acts_as_the_user(
    server: Server, console_org: Org
) -> None:
    user = add_user(server, console_org, "member")
    response = httpx.post(
        f"{server.base_url}/console/login",
        data={"username": user.username, "password": user.password, "next": "//evil.example"},
        headers={"Origin": server.base_url},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/chat"  # no open redirect
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    secret = response.cookies["aigc_session"]
    me = server.api("GET", "/api/me", key=secret)
    assert me.status_code == 200, me.text
    assert me.json()["tenant_id"] == console_org.id
    logs = server.logs()  # neither the password nor the session's secret is ever logged
    assert user.password not in logs and secret not in logs
    stored = b"".join(  # only the secret's SHA-256 is kept (the write-ahead log included)
        path.read_bytes() for path in server.data_dir.glob("aigc.db*")
    )
    assert secret.encode() not in stored
    assert hashlib.sha256(secret.encode()).hexdigest().encode() in stored


# Another site for the browser: "localhost" is not the same site as the server's 127.0.0.1.
EVIL = "http://localhost:9"


def _session_secret(page) -> str | None:
    return next((c["value"] for c in page.context.cookies() if c["name"] == "aigc_session"), None)


def _serve(html: str):
    """A Playwright route handler that answers with ``html``."""
    return lambda route: route.fulfill(content_type="text/html", body=html)


def test_another_site_cannot_sign_a_browser_out(new_page, server: Server, console_org: Org) -> None:
    """A link or an auto-submitted form on another site leaves the session and its cookie as
    they were; the console's own sign-out button still ends both."""
    user = add_user(server, console_org, "member")
    page = new_page(user)
    secret = _session_secret(page)
    assert secret is not None
    target = f"{server.base_url}/console/signed-out"
    attacks = {
        "link": f'<a id="go" href="{target}">prize</a><script>go.click()</script>',
        "form": f'<form id="go" method="post" action="{target}"></form>'
        "<script>go.submit()</script>",
        # Choosing the language is the console's other GET that changes something.
        "lang": f'<a id="go" href="{server.base_url}/console/lang/zh-CN">语言</a>'
        "<script>go.click()</script>",
    }
    for name, body in attacks.items():
        # The other site's page, served by the browser's own network layer (Playwright routing):
        # a real cross-site top-level navigation with the Origin and cookies a browser sends.
        page.route(f"{EVIL}/{name}", _serve(f"<!doctype html><body>{body}</body>"))
        page.goto(f"{EVIL}/{name}")
        page.wait_for_url(lambda url: url.startswith(server.base_url))
        page.wait_for_load_state()
        assert _session_secret(page) == secret, f"the {name} dropped the session cookie"
        assert server.api("GET", "/api/me", key=secret).status_code == 200, name
        assert all(c["name"] != "aigc_lang" for c in page.context.cookies()), name

    # Without a browser: neither a GET nor a POST from another origin signs out.
    assert httpx.get(target, cookies={"aigc_session": secret}).status_code != 303
    refused = httpx.post(target, cookies={"aigc_session": secret}, headers={"Origin": EVIL})
    assert "aigc_session" not in refused.headers.get("set-cookie", "")
    assert server.api("GET", "/api/me", key=secret).status_code == 200

    page.goto("/chat")
    wait_connected(page)
    page.get_by_test_id("signout").click()
    page.wait_for_url(re.compile(r"/login$"))
    assert _session_secret(page) is None
    assert server.api("GET", "/api/me", key=secret).status_code == 401


def test_the_origin_check_compares_the_scheme_too(server: Server, console_org: Org) -> None:
    """Once the console's own scheme is https (a trusted proxy's X-Forwarded-Proto: the server
    trusts loopback; or an https AIGC_PUBLIC_URL), an http:// page of the same host, which a
    network attacker can write, neither signs in nor signs out. An https:// page of our host
    is ours even when the request reads http (a TLS proxy the server does not trust)."""
    user = add_user(server, console_org, "member")
    plain, tls = server.base_url, server.base_url.replace("http://", "https://")
    login = f"{server.base_url}/console/login"
    form = {"username": user.username, "password": user.password}
    behind_tls = {"X-Forwarded-Proto": "https"}
    refused = httpx.post(login, data=form, headers={"Origin": plain, **behind_tls})
    assert "error=origin" in refused.headers["location"]
    assert "aigc_session" not in refused.headers.get("set-cookie", "")
    proxied = httpx.post(login, data=form, headers={"Origin": tls, **behind_tls})
    assert proxied.headers["location"] == "/chat", proxied.headers["location"]
    untrusted_proxy = httpx.post(login, data=form, headers={"Origin": tls})
    assert untrusted_proxy.headers["location"] == "/chat", untrusted_proxy.headers["location"]
    signed = httpx.post(login, data=form, headers={"Origin": plain})
    assert signed.headers["location"] == "/chat"
    secret = signed.cookies["aigc_session"]

    target = f"{server.base_url}/console/signed-out"
    kept = httpx.post(
        target, cookies={"aigc_session": secret}, headers={"Origin": plain, **behind_tls}
    )
    assert kept.headers["location"] == "/chat"
    assert server.api("GET", "/api/me", key=secret).status_code == 200
    ended = httpx.post(
        target, cookies={"aigc_session": secret}, headers={"Referer": f"{server.base_url}/chat"}
    )
    assert ended.headers["location"] == "/login"
    assert server.api("GET", "/api/me", key=secret).status_code == 401
