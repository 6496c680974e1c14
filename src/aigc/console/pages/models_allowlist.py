"""Console: the upstream allow-list card on the Models page.

Tenant admins may register upstreams only at URLs matching the platform's allow-list, so they
see it here, read-only, to know what they may add. Platform admins edit it: one pattern per
line, checked by the API (``PUT /api/platform/upstream-allowlist``), whose error names the bad
line. Patterns from the server's settings are shown apart: only the operator changes those.
"""

from __future__ import annotations

from nicegui import ui

from aigc.console import i18n, layout
from aigc.console.api import ApiError
from aigc.console.session import ConsoleUser

PATH = "/api/platform/upstream-allowlist"

i18n.add(
    {
        "en": {
            "allowlist.title": "Upstream allow-list",
            "allowlist.help": "Organization admins may add upstreams only at URLs matching one "
            "of these patterns, and never at private or loopback addresses.",
            "allowlist.edit_help": "One pattern per line, e.g. https://*.corp.example.com or "
            "http://llm.internal:8000/v1.",
            "allowlist.patterns": "Patterns",
            "allowlist.from_settings": "From the server's settings: {patterns}",
            "allowlist.none": "No patterns: only the platform admin adds upstreams.",
            "allowlist.save": "Save",
            "allowlist.saved": "Allow-list saved ({n} patterns).",
        },
        "zh-CN": {
            "allowlist.title": "上游白名单",
            "allowlist.help": "组织管理员只能添加 URL 与下列模式之一匹配的上游服务，"
            "且永远不能指向私有或回环地址。",
            "allowlist.edit_help": "每行一个模式，例如 https://*.corp.example.com 或 "
            "http://llm.internal:8000/v1。",
            "allowlist.patterns": "模式",
            "allowlist.from_settings": "来自服务器配置：{patterns}",
            "allowlist.none": "暂无模式：只有平台管理员可以添加上游服务。",
            "allowlist.save": "保存",
            "allowlist.saved": "白名单已保存（{n} 个模式）。",
        },
    }
)


async def allowlist_card(user: ConsoleUser) -> None:
    """The card: editable for the platform admin, read-only for organization admins."""
    tr = user.tr
    try:
        listing = await user.api.get(PATH)
    except ApiError as exc:
        layout.show_error(user, exc)
        return
    with ui.card().classes("w-96 items-stretch").props('data-testid="allowlist-card"'):
        ui.label(tr("allowlist.title")).classes("text-lg font-medium").props(
            'role="heading" aria-level=2'
        )
        ui.label(tr("allowlist.help")).classes("text-sm text-grey-8")
        if listing["from_settings"]:
            patterns = ", ".join(listing["from_settings"])
            ui.label(tr("allowlist.from_settings", patterns=patterns)).classes("text-sm font-mono")
        if user.principal.platform_admin:
            _editor(user, listing["patterns"])
            return
        for pattern in listing["patterns"]:
            ui.label(pattern).classes("text-sm font-mono").props('data-testid="allowlist-pattern"')
        if not listing["patterns"] and not listing["from_settings"]:
            ui.label(tr("allowlist.none")).classes("text-sm")


def _editor(user: ConsoleUser, patterns: list[str]) -> None:
    tr = user.tr
    ui.label(tr("allowlist.edit_help")).classes("text-sm text-grey-8")
    box = ui.textarea(tr("allowlist.patterns"), value="\n".join(patterns)).props(
        'outlined autogrow spellcheck=false data-testid="allowlist-patterns"'
    )

    async def save() -> None:
        lines = [line.strip() for line in (box.value or "").splitlines() if line.strip()]
        try:
            saved = await user.api.put(PATH, {"patterns": lines})
        except ApiError as exc:
            layout.show_error(user, exc)  # e.g. "'ftp://x': only http and https upstreams"
            return
        box.value = "\n".join(saved["patterns"])  # as stored: normalised, no duplicates
        ui.notify(tr("allowlist.saved", n=len(saved["patterns"])), type="positive")

    ui.button(tr("allowlist.save"), icon="save", on_click=save).props(
        'color=primary data-testid="allowlist-save"'
    )
