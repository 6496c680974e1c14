"""The frame around every signed-in page: header, navigation drawer, language, sign-out."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

from nicegui import ui

from aigc.console.api import ApiError
from aigc.console.api_errors import explain_error
from aigc.console.i18n import LANGUAGE_NAMES, LANGUAGES, add
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

add(
    {
        "en": {
            "layout.skip": "Skip to content",
            "layout.navigation": "Main navigation",
            "layout.language": "Language: {name}",
            "layout.sign_in_again": "Sign in again",
        },
        "zh-CN": {
            "layout.skip": "跳到正文",
            "layout.navigation": "主导航",
            "layout.language": "语言：{name}",
            "layout.sign_in_again": "重新登录",
        },
    }
)

# The focus ring lives in the ``base`` cascade layer on purpose: NiceGUI loads Quasar's
# ``!important`` rules (``.no-outline``, ``.q-field__native {outline: 0}``) into a layer, and
# an important rule in an earlier layer beats one in a later layer, while an unlayered one
# loses to both. Text fields get the ring on the whole field, not on the bare <input> inside.
STYLE = """
@layer base {
  :focus-visible { outline: 3px solid #1976d2 !important; outline-offset: 2px !important; }
  .q-field__native:focus-visible, .q-field__input:focus-visible,
  .q-select__focus-target:focus-visible { outline: none !important; }
  .q-field--focused .q-field__control {
    outline: 3px solid #1976d2 !important; outline-offset: 2px !important;
  }
  .q-header :focus-visible { outline-color: #fff !important; }
}
.aigc-main { width: 100%; max-width: 1200px; margin: 0 auto; }
.aigc-skip { position: absolute; left: -10000px; top: 8px; z-index: 3000; }
.aigc-skip:focus { left: 8px; background: #fff; color: #0d47a1; padding: 6px 12px; }
"""


@contextmanager
def frame(user: ConsoleUser, active: str, title_key: str) -> Iterator[None]:
    """Build the page chrome, then let the caller fill the main column."""
    tr = user.tr
    ui.add_css(STYLE)
    ui.page_title(f"{tr(title_key)} · aigc")
    ui.query("html").props(f'lang="{tr.lang}"')
    ui.context.client.on_exception(lambda error: show_error(user, error))
    drawer: ui.left_drawer  # built below; the menu button toggles it
    with ui.header(elevated=True).classes("items-center justify-between px-4 py-2"):
        ui.link(tr("layout.skip"), "#main").classes("aigc-skip rounded").props('data-testid="skip"')
        with ui.row().classes("items-center gap-2"):
            menu = ui.button(icon="menu", on_click=lambda: drawer.toggle()).props(
                f'flat round color=white aria-label="{tr("nav.menu")}" aria-expanded=true '
                'data-testid="menu"'
            )
            ui.label(tr("app.name")).classes("text-lg font-bold")
            ui.label(user.tenant_name).classes("text-sm opacity-80").props('data-testid="tenant"')
        with ui.row().classes("items-center gap-3"):
            for lang in LANGUAGES:
                link = ui.link(LANGUAGE_NAMES[lang], f"/console/lang/{lang}?next={quote(active)}")
                link.classes("text-white" + (" font-bold underline" if lang == tr.lang else ""))
                link.props(f'hreflang="{lang}" lang="{lang}" data-testid="lang-{lang}"')
                link._props["aria-label"] = tr("layout.language", name=LANGUAGE_NAMES[lang])
                if lang == tr.lang:
                    link._props["aria-current"] = "true"
            ui.label(user.display_name).classes("text-sm").props('data-testid="who"')
            # A plain form POST, checked for our origin like sign-in (routes.signed_out).
            with ui.element("form").props('method=post action="/console/signed-out"'):
                ui.button(tr("nav.signout"), icon="logout").props(
                    f'type=submit flat color=white aria-label="{tr("nav.signout")}" '
                    'data-testid="signout"'
                )
    with ui.left_drawer(value=True, bordered=True).classes("bg-grey-1") as drawer:
        drawer.props(f'role=navigation aria-label="{tr("layout.navigation")}"')
        for path, key, icon, role in NAVIGATION:
            if not (user.at_least(role) or user.principal.platform_admin):
                continue
            current = active.startswith(path)
            link = (
                ui.link(target=path)
                .classes(
                    "flex items-center gap-3 px-3 py-2 rounded no-underline text-black "
                    + ("bg-blue-1 font-bold" if current else "hover:bg-grey-3")
                )
                .props(f'data-testid="nav-{path.strip("/")}"')
            )
            if current:
                link._props["aria-current"] = "page"
            with link:
                ui.icon(icon)
                ui.label(tr(key))
    menu.props(f'aria-controls="c{drawer.id}"')
    drawer.on_value_change(
        lambda event: menu.props(f"aria-expanded={'true' if event.value else 'false'}")
    )
    with ui.column().classes("aigc-main p-4 gap-4").props("id=main role=main"):
        _session_ended_banner(user)
        ui.label(tr(title_key)).classes("text-2xl font-semibold").props(
            'role="heading" aria-level=1 data-testid="page-title"'
        )
        yield


def _session_ended_banner(user: ConsoleUser) -> None:
    """Hidden until an API call says the session is over (signed out in another tab, expired):
    then the way back to sign-in, returning to this page. Other pages of the same browser are
    sent to sign-in when they load; this one is already open and must say so itself."""
    with ui.row().classes(
        "items-center gap-4 w-full p-3 rounded bg-orange-1 text-orange-10"
    ) as banner:
        banner.props('role="alert" data-testid="session-ended"')
        ui.label(user.tr("apierr.session_ended"))
        ui.link(user.tr("layout.sign_in_again"), user.sign_in_again).classes(
            "font-bold text-primary"
        ).props('data-testid="sign-in-again"')
    banner.set_visibility(False)

    def show() -> None:
        banner.set_visibility(True)

    user.api.on_session_ended = show


def show_error(user: ConsoleUser, error: Exception) -> None:
    """A friendly message for a failed action in the page's language, never a stack trace."""
    message = (
        explain_error(user.tr, error)
        if isinstance(error, ApiError)
        else user.tr("apierr.status.other", message=type(error).__name__)
    )
    ui.notify(user.tr("common.error", message=message), type="negative", multi_line=True)


async def confirm(user: ConsoleUser, message: str, action: str | None = None) -> bool:
    """Ask before an action that cannot be undone; True only when the person confirmed.

    ``action`` names the button (default "Delete"); Cancel has the focus, so Enter is safe.
    """
    tr = user.tr
    with (
        ui.dialog() as dialog,
        ui.card().props('role="alertdialog" data-testid="confirm-dialog"'),
    ):
        ui.label(message).props('data-testid="confirm-text"')
        with ui.row().classes("justify-end w-full"):
            ui.button(tr("common.cancel"), on_click=lambda: dialog.submit(False)).props(
                'flat autofocus data-testid="confirm-no"'
            )
            ui.button(action or tr("common.delete"), on_click=lambda: dialog.submit(True)).props(
                'color=negative data-testid="confirm-yes"'
            )
    answer = await dialog
    dialog.delete()
    return bool(answer)
