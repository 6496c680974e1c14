"""The frame around every signed-in page: header, navigation drawer, language, sign-out."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

from nicegui import ui

from aigc.console import routes
from aigc.console.api import ApiError
from aigc.console.i18n import LANGUAGE_NAMES, LANGUAGES
from aigc.console.session import ConsoleUser

# (path, translation key, icon, lowest role that sees it)
NAVIGATION = (
    ("/chat", "nav.chat", "chat", "viewer"),
    ("/images", "nav.images", "image", "viewer"),
    ("/knowledge", "nav.knowledge", "menu_book", "viewer"),
    ("/models", "nav.models", "memory", "viewer"),
    ("/training", "nav.training", "model_training", "member"),
    ("/admin", "nav.admin", "admin_panel_settings", "admin"),
)

STYLE = """
:focus-visible { outline: 3px solid #1976d2 !important; outline-offset: 2px; }
.aigc-main { width: 100%; max-width: 1200px; margin: 0 auto; }
"""


@contextmanager
def frame(user: ConsoleUser, active: str, title_key: str) -> Iterator[None]:
    """Build the page chrome, then let the caller fill the main column."""
    tr = user.tr
    ui.add_css(STYLE)
    ui.page_title(f"{tr(title_key)} · aigc")
    ui.query("html").props(f'lang="{tr.lang}"')
    with ui.header(elevated=True).classes("items-center justify-between px-4 py-2"):
        with ui.row().classes("items-center gap-2"):
            ui.button(icon="menu", on_click=lambda: drawer.toggle()).props(
                f'flat round color=white aria-label="{tr("nav.menu")}"'
            )
            ui.label(tr("app.name")).classes("text-lg font-bold")
            ui.label(user.tenant_name).classes("text-sm opacity-80").props('data-testid="tenant"')
        with ui.row().classes("items-center gap-3"):
            for lang in LANGUAGES:
                ui.link(LANGUAGE_NAMES[lang], f"/console/lang/{lang}?next={quote(active)}").classes(
                    "text-white" + (" font-bold underline" if lang == tr.lang else "")
                ).props(f'hreflang="{lang}" data-testid="lang-{lang}"')
            ui.label(user.display_name).classes("text-sm").props('data-testid="who"')
            ui.button(tr("nav.signout"), icon="logout", on_click=lambda: _sign_out(user)).props(
                'flat color=white data-testid="signout"'
            )
    with ui.left_drawer(value=True, bordered=True).classes("bg-grey-1") as drawer:
        for path, key, icon, role in NAVIGATION:
            if not (user.at_least(role) or user.principal.platform_admin):
                continue
            with (
                ui.link(target=path)
                .classes(
                    "flex items-center gap-3 px-3 py-2 rounded no-underline text-black "
                    + ("bg-blue-1 font-bold" if active.startswith(path) else "hover:bg-grey-3")
                )
                .props(f'data-testid="nav-{path.strip("/")}"')
            ):
                ui.icon(icon)
                ui.label(tr(key))
    with ui.column().classes("aigc-main p-4 gap-4"):
        ui.label(tr(title_key)).classes("text-2xl font-semibold").props(
            'role="heading" aria-level=1'
        )
        yield


async def _sign_out(user: ConsoleUser) -> None:
    await routes.sign_out(user.session_secret)
    ui.navigate.to("/console/signed-out")


def show_error(user: ConsoleUser, error: Exception) -> None:
    """A friendly message for a failed action: the API's own words, never a stack trace."""
    message = error.message if isinstance(error, ApiError) else type(error).__name__
    ui.notify(user.tr("common.error", message=message), type="negative", multi_line=True)
