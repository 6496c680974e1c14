"""Friendly error pages: an address no console page claims, and a page that failed to build.

NiceGUI's own pages would show a sad face and the exception's class and message; ours say what
happened in the person's language and lead back to the console. The details (with the
traceback) go to the server log only, through NiceGUI's exception handlers.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import app, ui

from aigc.console import layout
from aigc.console.i18n import add
from aigc.console.session import gate, translator

add(
    {
        "en": {
            "errors.not_found.title": "Page not found",
            "errors.not_found.body": "There is no page at this address. It may have moved, or "
            "the link may be mistyped.",
            "errors.failed.title": "This page could not be shown",
            "errors.failed.body": "Something went wrong on the server while building this page. "
            "Try again in a moment; if it keeps happening, tell an administrator (the details "
            "are in the server log).",
            "errors.back": "Back to chat",
        },
        "zh-CN": {
            "errors.not_found.title": "页面不存在",
            "errors.not_found.body": "此地址没有页面。它可能已被移动，或者链接有误。",
            "errors.failed.title": "无法显示此页面",
            "errors.failed.body": "服务器在生成此页面时出错。请稍后重试；如果问题持续出现，"
            "请联系管理员（详细信息已记录在服务器日志中）。",
            "errors.back": "返回对话",
        },
    }
)


async def not_found(request: Request) -> RedirectResponse | None:
    """NiceGUI's root page (``ui.run_with(root=...)``): it builds every unmatched address.

    Signed out, the person is sent to sign in first (like on every page), so the answer does
    not tell strangers which addresses exist."""
    user = await gate(request)
    if isinstance(user, RedirectResponse):
        return user
    ui.status_code(404)
    with layout.frame(user, request.url.path, "errors.not_found.title"):
        ui.label(user.tr("errors.not_found.body")).props('data-testid="not-found"')
        ui.link(user.tr("errors.back"), "/chat").props('data-testid="error-back"')
    return None


def page_failed(error: Exception) -> None:
    """Shown instead of NiceGUI's error page when a page builder raises (logged by NiceGUI)."""
    tr = translator(ui.context.client.request)
    ui.page_title(f"{tr('errors.failed.title')} · aigc")
    ui.query("html").props(f'lang="{tr.lang}"')
    ui.add_css(layout.STYLE)
    with ui.column().classes("absolute-center items-center gap-4 max-w-xl text-center"):
        ui.label(tr("errors.failed.title")).classes("text-2xl font-semibold").props(
            'role="heading" aria-level=1'
        )
        ui.label(tr("errors.failed.body")).props('role="alert" data-testid="page-failed"')
        ui.link(tr("errors.back"), "/chat").props('data-testid="error-back"')


app.on_page_exception(page_failed)
