"""The console's few plain HTTP routes: sign-in (sets the cookie), sign-out, language choice.

Sign-out is a form POST checked like sign-in, so another site cannot sign a browser out.

Sign-in is a classic form POST so the session secret goes straight into an HttpOnly cookie and
never through JavaScript. The cookie is SameSite=Strict and the POST must come from our own
origin, so another site can neither use a session nor log a browser into one (login CSRF).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote, unquote, urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from aigc.console import session as console_session
from aigc.console.i18n import LANGUAGES
from aigc.console.session import LANGUAGE_COOKIE, SESSION_COOKIE, safe_next, secure_cookies
from aigc.gateway import sessions

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)

# The username of a refused sign-in, for the form shown again: a short-lived cookie for the
# sign-in page only, not the address (which lands in access logs and the browser's history).
# Never the password.
LOGIN_NAME_COOKIE = "aigc_login_name"
_LOGIN_NAME_SECONDS = 600


def remembered_username(request: Request) -> str:
    """The username typed at the last refused sign-in of this browser, or ''."""
    return unquote(request.cookies.get(LOGIN_NAME_COOKIE, ""))[:200]


def _refused(request: Request, error: str, target: str, username: str) -> RedirectResponse:
    response = RedirectResponse(f"/login?error={error}&next={quote(target)}", status_code=303)
    response.set_cookie(
        LOGIN_NAME_COOKIE,
        quote(username, safe=""),  # a cookie value is ASCII: a Chinese name is percent-encoded
        max_age=_LOGIN_NAME_SECONDS,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
        path="/login",
    )
    return response


def same_origin(request: Request) -> bool:
    """The form was sent by a page of this site: Origin (else Referer) names our scheme, host
    and port. Our scheme is the declared public address's when it is https, else the request's
    own (https when a trusted proxy says so, ``FORWARDED_ALLOW_IPS``): an http:// page on our
    host, which a network attacker can write, is then another origin. An https:// page of our
    host is ours whatever the request looks like (only we serve https there; a TLS proxy this
    server does not trust makes the request read http)."""
    sent = request.headers.get("origin") or request.headers.get("referer")
    if not sent:
        return False
    parts = urlsplit(sent)
    host = request.headers.get("host", "").lower()
    public_url = console_session.services().settings.public_url
    public = urlsplit(public_url) if public_url else None
    declared_https = public is not None and public.scheme.lower() == "https"
    own_scheme = "https" if declared_https else request.url.scheme.lower()
    ours = {(own_scheme, host), ("https", host)}
    if public is not None:
        ours.add((public.scheme.lower(), public.netloc.lower()))
    return (parts.scheme.lower(), parts.netloc.lower()) in ours


@router.post("/login")
async def login(
    request: Request,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/chat",
) -> RedirectResponse:
    target = safe_next(next)
    if not same_origin(request):
        return RedirectResponse(f"/login?error=origin&next={quote(target)}", status_code=303)
    svc = console_session.services()

    def attempt() -> sessions.SignIn:
        with svc.db.session() as db:
            return sessions.sign_in(
                db, username, password, request.headers.get("user-agent", "")
            )  # failures are counted and committed like successes

    result = await run_in_threadpool(attempt)
    if result.secret is None:
        return _refused(request, result.error or "invalid", target, username)
    response = RedirectResponse(target, status_code=303)
    response.delete_cookie(LOGIN_NAME_COOKIE, path="/login")
    response.set_cookie(
        SESSION_COOKIE,
        result.secret,
        max_age=int(sessions.SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
        path="/",
    )
    return response


@router.post("/signed-out")
async def signed_out(request: Request) -> RedirectResponse:
    """The console's sign-out form: end the session, drop the cookie, back to sign-in (or to
    the SSO provider's sign-out). A POST from a page of this site only: as a GET, a link or a
    form on any other site could sign a browser out (the cookie was dropped for any caller)."""
    if not same_origin(request):
        return RedirectResponse("/chat", status_code=303)  # the session and its cookie stay
    secret = request.cookies.get(SESSION_COOKIE, "")
    target = await sign_out(secret) if secret else "/login"
    response = RedirectResponse(target, status_code=303)
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=secure_cookies(request)
    )
    return response


def same_site_navigation(request: Request) -> bool:
    """A link followed from a page of this site (or an address typed by the person): the
    browser's Sec-Fetch-Site says so; a browser that sends none is judged by Referer."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site in ("same-origin", "none")
    return same_origin(request)


@router.get("/lang/{code}")
async def choose_language(request: Request, code: str, next: str = "/chat") -> RedirectResponse:
    """The language links; another site's link changes nothing."""
    response = RedirectResponse(safe_next(next), status_code=303)
    if code in LANGUAGES and same_site_navigation(request):
        response.set_cookie(LANGUAGE_COOKIE, code, max_age=365 * 86400, samesite="lax", path="/")
    return response


async def sign_out(secret: str) -> str:
    """End the session in the database and forget any cached copy in this process; the page
    to go to next (for a session from an SSO provider, the one that ends it there too)."""
    svc = console_session.services()

    def run() -> str | None:
        with svc.db.session() as db:
            provider = sessions.sign_out(db, secret)
        svc.keys.clear()
        return provider

    provider = await run_in_threadpool(run)
    return f"/console/sso/signed-out/{quote(provider)}" if provider else "/login"
