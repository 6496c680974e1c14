"""Who is looking at a console page: the signed-in user behind the session cookie, or nobody."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from aigc.access import Principal
from aigc.console.api import Api
from aigc.console.i18n import Translator, pick_language
from aigc.errors import AuthenticationFailed
from aigc.gateway.auth import SESSION_PREFIX
from aigc.gateway.services import Services
from aigc.infra.schema import Tenant, User

SESSION_COOKIE = "aigc_session"
LANGUAGE_COOKIE = "aigc_lang"
_host: FastAPI | None = None


def attach(app: FastAPI) -> None:
    """Remember the FastAPI app whose services the console pages use."""
    global _host
    _host = app


def services() -> Services:
    assert _host is not None, "console not mounted"
    return _host.state.services


def secure_cookies(request: Request) -> bool:
    """Whether the console's cookies must be Secure: the request came over https, or the
    operator declared an https public address. Behind a proxy that is not trusted
    (``FORWARDED_ALLOW_IPS``) every request looks like plain http, and the session cookie
    went out without Secure, so a browser would send it over any http:// link to the host."""
    if request.url.scheme == "https":
        return True
    public_url = services().settings.public_url
    return bool(public_url) and urlsplit(public_url or "").scheme.lower() == "https"


@dataclass(frozen=True)
class ConsoleUser:
    """The signed-in user of one page view, with a client that acts as them."""

    principal: Principal
    username: str
    display_name: str
    tenant_name: str
    api: Api
    tr: Translator
    here: str = "/chat"  # this page's path and query: where sign-in returns to

    @property
    def sign_in_again(self) -> str:
        """The sign-in page, coming back here afterwards."""
        return f"/login?next={quote(self.here)}"

    def at_least(self, role: str) -> bool:
        return self.principal.at_least(role)

    @property
    def is_admin(self) -> bool:
        return self.principal.at_least("admin") or self.principal.platform_admin


def translator(request: Request) -> Translator:
    return Translator(
        pick_language(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))
    )


async def signed_in(request: Request) -> ConsoleUser | None:
    """The user of this request's session cookie, or None (no cookie, ended or unknown)."""
    secret = request.cookies.get(SESSION_COOKIE, "")
    if not secret.startswith(SESSION_PREFIX):
        return None
    svc = services()
    try:
        principal = await svc.caller(secret)
    except AuthenticationFailed:
        return None

    def names() -> tuple[str, str, str]:
        with svc.db.session() as session:
            user = session.get(User, principal.user_id)
            tenant = session.get(Tenant, principal.tenant_id)
            return (
                user.username if user else "",
                (user.display_name or user.username) if user else "",
                tenant.name if tenant else "",
            )

    username, display, tenant_name = await run_in_threadpool(names)
    return ConsoleUser(
        principal,
        username,
        display,
        tenant_name,
        Api(secret),
        translator(request),
        here=_here(request),
    )


def _here(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def safe_next(target: str | None, default: str = "/chat") -> str:
    """Only a path on this site: never another host (open redirect) or a scheme.

    Control characters are refused too: a browser drops tabs and newlines from a URL before
    reading it, so ``/\t/evil.example`` written into a page's link would be ``//evil.example``.
    """
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target)
    ):
        return default
    return target


async def gate(request: Request, role: str = "viewer") -> ConsoleUser | RedirectResponse:
    """The page's user, or where to send the browser: sign-in, or 'not allowed' for a low role."""
    user = await signed_in(request)
    if user is None:
        return RedirectResponse(f"/login?next={quote(_here(request))}", status_code=303)
    if not (user.at_least(role) or user.principal.platform_admin):
        return RedirectResponse("/forbidden", status_code=303)
    return user
