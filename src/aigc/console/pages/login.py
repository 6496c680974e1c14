"""Sign-in page, the 'not allowed' page and the root redirect."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import ui
from starlette.concurrency import run_in_threadpool

from aigc.console import layout, routes, sso_routes
from aigc.console.i18n import LANGUAGE_NAMES, LANGUAGES
from aigc.console.session import gate, safe_next, services, signed_in, translator
from aigc.gateway import accounts
from aigc.gateway.sso import providers as sso_providers


@ui.page("/")
async def root(request: Request) -> RedirectResponse:
    user = await signed_in(request)
    return RedirectResponse("/chat" if user else "/login", status_code=303)


@ui.page("/login")
async def login_page(
    request: Request, next: str = "/chat", error: str = ""
) -> RedirectResponse | None:
    target = safe_next(next)
    if await signed_in(request) is not None:
        return RedirectResponse(target, status_code=303)
    tr = translator(request)
    svc = services()

    def owner_exists() -> bool:
        with svc.db.session() as session:
            return accounts.has_owner(session)

    def sign_in_providers() -> list[tuple[str, str]]:
        with svc.db.session() as session:
            return [(p.id, p.name) for p in sso_providers.enabled_providers(session)]

    ui.page_title(f"{tr('login.title')} · aigc")
    ui.query("html").props(f'lang="{tr.lang}"')
    ui.add_css(layout.STYLE)
    with ui.column().classes("absolute-center items-stretch gap-4 w-80").props("role=main"):
        ui.label("aigc").classes("text-3xl font-bold text-center").props(
            'role="heading" aria-level=1'
        )
        if not await run_in_threadpool(owner_exists):
            ui.label(tr("login.no_owner")).classes("text-orange-9")
        if error in ("invalid", "locked", "disabled", "origin", "sso_only"):
            ui.label(tr(f"login.error.{error}")).classes("text-negative").props(
                'role="alert" data-testid="login-error"'
            )
        with (
            ui.element("form")
            .props('method="post" action="/console/login"')
            .classes("column gap-3")
        ):
            ui.input(
                tr("login.username"), value=routes.remembered_username(request) if error else ""
            ).props(
                'name="username" autocomplete="username" autofocus outlined data-testid="username"'
            )
            ui.input(tr("login.password"), password=True).props(
                'name="password" autocomplete="current-password" outlined data-testid="password"'
            )
            hidden = ui.element("input").props('type="hidden" name="next"')
            hidden._props["value"] = target  # set directly: a path may hold quotes
            ui.button(tr("login.submit")).props(
                'type="submit" color="primary" data-testid="signin"'
            )
        providers = await run_in_threadpool(sign_in_providers)
        if providers:
            ui.label(tr("login.or")).classes("text-center text-grey-7")
        for provider_id, name in providers:  # a plain link: the flow needs no JavaScript
            ui.link(tr("login.sso", name=name), sso_routes.login_link(provider_id, target)).classes(
                "text-center border rounded px-3 py-2 no-underline text-primary"
            ).props(f'data-testid="sso-{provider_id}"')
        with ui.row().classes("justify-center gap-4"):
            for lang in LANGUAGES:
                link = ui.link(LANGUAGE_NAMES[lang], f"/console/lang/{lang}?next=/login")
                link.props(f'hreflang="{lang}" lang="{lang}" data-testid="lang-{lang}"')
                link._props["aria-label"] = tr("layout.language", name=LANGUAGE_NAMES[lang])
    return None


@ui.page("/forbidden")
async def forbidden(request: Request) -> RedirectResponse | None:
    user = await gate(request)
    if isinstance(user, RedirectResponse):
        return user
    with layout.frame(user, "/forbidden", "forbidden.title"):
        ui.label(user.tr("forbidden.body")).props('data-testid="forbidden"')
        ui.link(user.tr("forbidden.back"), "/chat")
    return None
