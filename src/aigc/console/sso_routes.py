"""The console's single sign-on routes: start at the provider, come back, sign out there too.

``GET /console/sso/{provider}/start`` sends the browser to the provider with a fresh ``state``,
``nonce`` and PKCE challenge; the browser keeps a random secret in the ``aigc_sso`` cookie
(HttpOnly, SameSite=Lax so that it comes back on the provider's redirect, path-limited to
``/console/sso``) and the pending sign-in stores only its hash. ``GET /console/sso/callback``
checks everything (``gateway/sso/signin.py``) and either sets the session cookie or answers a
page that says, in the person's language, why the sign-in was refused. Success answers a small
page that moves on to the target by itself: a SameSite=Strict session cookie is not sent on a
redirect chain that began at another site, but is on a navigation this site's page starts.
After sign-in the target is a path on this site only (``safe_next``): never an open redirect.
Tokens, codes and secrets are never logged; the audit log gets the event and the reason.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from aigc.console import i18n
from aigc.console import session as console_session
from aigc.console.session import SESSION_COOKIE, safe_next, secure_cookies, translator
from aigc.gateway import sessions
from aigc.gateway.sso import oidc, signin
from aigc.infra.audit import AuditEvent
from aigc.infra.logs import current_request_id

router = APIRouter(prefix="/console/sso", tags=["console"], include_in_schema=False)
BROWSER_COOKIE = "aigc_sso"
CALLBACK_PATH = "/console/sso/callback"
REASONS = (
    "state_unknown",
    "browser_mismatch",
    "provider_disabled",
    "provider_error",
    "provider_unreachable",
    "provider_invalid",
    "token_error",
    "signature_invalid",
    "issuer_mismatch",
    "audience_mismatch",
    "nonce_mismatch",
    "token_expired",
    "token_time",
    "token_invalid",
    "email_missing",
    "email_unverified",
    "email_domain",
    "no_role",
    "account_disabled",
    "tenant_mismatch",
)

i18n.add(
    {
        "en": {
            "sso.refused.title": "Sign-in refused",
            "sso.refused.back": "Back to sign-in",
            "sso.continue": "Signed in. Continuing…",
            "sso.reason.state_unknown": "This sign-in is unknown, expired or already used "
            "(state). Start again from the sign-in page.",
            "sso.reason.browser_mismatch": "This sign-in was started in another browser.",
            "sso.reason.provider_disabled": "This sign-in provider is not available.",
            "sso.reason.provider_error": "The identity provider did not sign you in.",
            "sso.reason.provider_unreachable": "The identity provider could not be reached.",
            "sso.reason.provider_invalid": "The identity provider's configuration is not usable.",
            "sso.reason.token_error": "The identity provider refused to complete the sign-in.",
            "sso.reason.signature_invalid": "The identity token's signature is not valid.",
            "sso.reason.issuer_mismatch": "The identity token comes from an unknown issuer.",
            "sso.reason.audience_mismatch": "The identity token was issued for another "
            "application (audience).",
            "sso.reason.nonce_mismatch": "The identity token does not belong to this sign-in "
            "(nonce).",
            "sso.reason.token_expired": "The identity token has expired.",
            "sso.reason.token_time": "The identity token's times are not valid (check the clocks).",
            "sso.reason.token_invalid": "The identity token is not valid.",
            "sso.reason.email_missing": "Your account at the identity provider has no e-mail "
            "address.",
            "sso.reason.email_unverified": "Your e-mail address is not verified at the identity "
            "provider.",
            "sso.reason.email_domain": "Your e-mail domain is not allowed here.",
            "sso.reason.no_role": "Your account is not granted access to this organization.",
            "sso.reason.account_disabled": "This account is disabled.",
            "sso.reason.tenant_mismatch": "This account belongs to another organization.",
        },
        "zh-CN": {
            "sso.refused.title": "登录被拒绝",
            "sso.refused.back": "返回登录页",
            "sso.continue": "已登录，正在跳转…",
            "sso.reason.state_unknown": "此次登录未知、已过期或已被使用（state）。"
            "请从登录页重新开始。",
            "sso.reason.browser_mismatch": "此次登录是在另一个浏览器中发起的。",
            "sso.reason.provider_disabled": "该登录方式不可用。",
            "sso.reason.provider_error": "身份提供方未完成登录。",
            "sso.reason.provider_unreachable": "无法连接身份提供方。",
            "sso.reason.provider_invalid": "身份提供方的配置不可用。",
            "sso.reason.token_error": "身份提供方拒绝完成此次登录。",
            "sso.reason.signature_invalid": "身份令牌的签名无效。",
            "sso.reason.issuer_mismatch": "身份令牌来自未知的签发方。",
            "sso.reason.audience_mismatch": "身份令牌是为其他应用签发的（audience）。",
            "sso.reason.nonce_mismatch": "身份令牌不属于此次登录（nonce）。",
            "sso.reason.token_expired": "身份令牌已过期。",
            "sso.reason.token_time": "身份令牌的时间无效（请检查时钟）。",
            "sso.reason.token_invalid": "身份令牌无效。",
            "sso.reason.email_missing": "您在身份提供方的账号没有电子邮件地址。",
            "sso.reason.email_unverified": "您的电子邮件地址未在身份提供方验证。",
            "sso.reason.email_domain": "不允许您的电子邮件域名登录此处。",
            "sso.reason.no_role": "您的账号未获准访问此组织。",
            "sso.reason.account_disabled": "该账号已停用。",
            "sso.reason.tenant_mismatch": "该账号属于其他组织。",
        },
    }
)


def redirect_uri() -> str:
    return console_session.services().settings.base_url.rstrip("/") + CALLBACK_PATH


@router.get("/{provider_id}/start", response_model=None)
async def start(request: Request, provider_id: str, next: str = "/chat") -> Response:
    svc = console_session.services()
    browser = request.cookies.get(BROWSER_COOKIE, "")
    if not 32 <= len(browser) <= 100:
        browser = signin.new_browser_secret()
    target = safe_next(next[:2000])
    try:
        url = await run_in_threadpool(
            signin.begin, svc.db, provider_id, browser, target, redirect_uri()
        )
    except oidc.OidcError as exc:
        _audit(
            request, "sso.refused", 403, (f"provider:{provider_id[:40]}", f"reason:{exc.reason}")
        )
        return _refused(request, exc.reason)
    if url is None:
        return _refused(request, "provider_disabled", 404)
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        BROWSER_COOKIE,
        browser,
        max_age=int(signin.PENDING_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
        path="/console/sso",
    )
    return response


@router.get("/callback", response_model=None)
async def callback(
    request: Request, state: str = "", code: str = "", error: str = "", iss: str = ""
) -> Response:
    svc = console_session.services()
    answer = signin.Callback(
        state=state[:200],
        code=code[:4000],
        browser_secret=request.cookies.get(BROWSER_COOKIE, ""),
        error=error[:100],
        iss=iss[:500],
        user_agent=request.headers.get("user-agent", ""),
    )
    outcome = await run_in_threadpool(
        signin.finish, svc.db, svc.settings, answer, redirect_uri(), datetime.now(UTC)
    )
    for event, details in outcome.notes:
        provider = (f"provider:{outcome.provider_id}",) if outcome.provider_id else ()
        status = 403 if event == "sso.refused" else 200
        _audit(request, event, status, details + provider, outcome.tenant_id, outcome.user_id)
    if outcome.secret is None:
        return _refused(request, outcome.reason or "token_invalid")
    if outcome.user_id:
        svc.keys.clear()  # a role changed by the claims holds at once on this instance
    target = safe_next(outcome.next_path)
    tr = translator(request)
    page = (
        f'<!doctype html><html lang="{tr.lang}"><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="0;url={escape(target)}">'
        f'<title>aigc</title></head><body><p><a href="{escape(target)}" '
        f'data-testid="sso-continue">{escape(tr("sso.continue"))}</a></p></body></html>'
    )
    response = HTMLResponse(page)
    response.set_cookie(
        SESSION_COOKIE,
        outcome.secret,
        max_age=int(sessions.SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
        path="/",
    )
    response.delete_cookie(BROWSER_COOKIE, path="/console/sso")
    return response


@router.get("/signed-out/{provider_id}", response_model=None)
async def signed_out(provider_id: str) -> Response:
    """After the console session has ended (the sign-out POST ended it and dropped the
    cookie): end it at the provider too, when it can. Changes nothing here, so another site's
    link to it signs nobody out of the console."""
    svc = console_session.services()
    back = svc.settings.base_url.rstrip("/") + "/login"
    url = await run_in_threadpool(signin.end_session_url, svc.db, provider_id, back)
    return RedirectResponse(url or "/login", status_code=303)


def _refused(request: Request, reason: str, status: int = 403) -> HTMLResponse:
    tr = translator(request)
    reason = reason if reason in REASONS else "token_invalid"
    title, message = tr("sso.refused.title"), tr(f"sso.reason.{reason}")
    page = (
        f'<!doctype html><html lang="{tr.lang}"><head><meta charset="utf-8">'
        f'<title>{escape(title)} · aigc</title></head><body style="font-family:sans-serif;'
        f'max-width:40em;margin:4em auto"><h1>{escape(title)}</h1>'
        f'<p role="alert" data-testid="sso-error" data-reason="{reason}">{escape(message)}</p>'
        f'<p><a href="/login" data-testid="sso-back">{escape(tr("sso.refused.back"))}</a></p>'
        "</body></html>"
    )
    response = HTMLResponse(page, status_code=status)
    response.delete_cookie(BROWSER_COOKIE, path="/console/sso")
    return response


def _audit(
    request: Request,
    event: str,
    status: int,
    details: tuple[str, ...],
    tenant_id: str | None = None,
    user_id: str | None = None,
) -> None:
    """One audit record per SSO event: ids and reason codes, never a token or a code."""
    console_session.services().audit.submit(
        AuditEvent(
            request_id=current_request_id.get(),
            ts=datetime.now(UTC),
            tenant_id=tenant_id,
            key_id=None,
            user_id=user_id,
            method=request.method,
            endpoint=event,
            model=None,
            status=status,
            guard=details,
        )
    )


def login_link(provider_id: str, next_path: str) -> str:
    return f"/console/sso/{quote(provider_id)}/start?next={quote(safe_next(next_path))}"
