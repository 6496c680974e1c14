"""Admin › Organizations: the platform admin lists, creates, disables; others see their own."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import ui

from aigc.console import i18n, layout
from aigc.console.api import ApiError
from aigc.console.pages.admin_common import admin_frame, cell, confirm, limit_field, table, when
from aigc.console.session import ConsoleUser, gate

i18n.add(
    {
        "en": {
            "admin.tenants.name": "Name",
            "admin.tenants.id": "Id",
            "admin.tenants.budget": "Daily token budget",
            "admin.tenants.unlimited": "unlimited",
            "admin.tenants.new": "New organization",
            "admin.tenants.yours": "Your organization",
            "admin.tenants.only_platform": "Only the platform administrator creates, disables "
            "or lists organizations.",
            "admin.tenants.confirm_disable": "Disable {name}? Its users and keys are refused "
            "until it is enabled again.",
            "admin.tenants.current": "(yours)",
        },
        "zh-CN": {
            "admin.tenants.name": "名称",
            "admin.tenants.id": "ID",
            "admin.tenants.budget": "每日令牌预算",
            "admin.tenants.unlimited": "不限",
            "admin.tenants.new": "新建组织",
            "admin.tenants.yours": "您的组织",
            "admin.tenants.only_platform": "只有平台管理员可以创建、停用或列出组织。",
            "admin.tenants.confirm_disable": "停用 {name}？在重新启用之前，"
            "其用户和密钥都将被拒绝。",
            "admin.tenants.current": "（您的）",
        },
    }
)


class TenantsView:
    """Every organization, for the platform admin only (the API refuses anyone else)."""

    def __init__(self, user: ConsoleUser) -> None:
        self.user = user
        self.tr = user.tr

    async def build(self) -> None:
        tr = self.tr
        with ui.card().classes("w-full"):
            ui.label(tr("admin.tenants.new")).classes("text-lg font-semibold")
            with ui.row().classes("items-end gap-3"):
                self.name = ui.input(tr("admin.tenants.name")).props(
                    'outlined dense data-testid="tenant-name"'
                )
                self.budget = limit_field(self.user, "admin.tenants.budget", "tenant-budget")
                ui.button(tr("common.create"), icon="domain_add", on_click=self.create).props(
                    'color=primary data-testid="tenant-create"'
                )
        self.area = ui.column().classes("w-full")
        await self.refresh()

    async def refresh(self) -> None:
        try:
            tenants = (await self.user.api.get("/api/tenants"))["data"]
        except ApiError as exc:
            layout.show_error(self.user, exc)
            return
        tr = self.tr
        headers = [
            tr("admin.tenants.name"),
            tr("admin.tenants.id"),
            tr("admin.tenants.budget"),
            tr("admin.state"),
            tr("admin.created"),
            tr("admin.actions"),
        ]
        self.area.clear()
        with self.area, table(headers, "tenants-table"):
            for tenant in tenants:
                own = tenant["id"] == self.user.principal.tenant_id
                with (
                    ui.element("tr")
                    .classes("border-b")
                    .props(f'data-testid="tenant-{tenant["id"]}"')
                ):
                    cell(tenant["name"] + (" " + tr("admin.tenants.current") if own else ""))
                    cell(tenant["id"], "font-mono")
                    budget = tenant["daily_token_budget"]
                    cell(f"{budget:,}" if budget else tr("admin.tenants.unlimited"))
                    cell(tr("admin.disabled") if tenant["disabled"] else tr("admin.active"))
                    cell(when(tenant["created_at"]))
                    with cell():
                        if not own:
                            ui.button(
                                tr("admin.enable") if tenant["disabled"] else tr("admin.disable"),
                                on_click=lambda t=tenant: self.toggle(t),
                            ).props('flat dense data-testid="tenant-toggle"')

    async def create(self) -> None:
        if not self.budget.validate():
            return
        body: dict[str, Any] = {"name": (self.name.value or "").strip()}
        if self.budget.value is not None:
            body["daily_token_budget"] = int(self.budget.value)
        try:
            await self.user.api.post("/api/tenants", body)
        except ApiError as exc:
            layout.show_error(self.user, exc)
            return
        self.name.value = ""
        self.budget.value = None
        ui.notify(self.tr("admin.saved"), type="positive")
        await self.refresh()

    async def toggle(self, tenant: dict[str, Any]) -> None:
        disable = not tenant["disabled"]
        message = self.tr("admin.tenants.confirm_disable", name=tenant["name"])
        if disable and not await confirm(self.user, message):
            return
        try:
            await self.user.api.patch(f"/api/tenants/{tenant['id']}", {"disabled": disable})
        except ApiError as exc:
            layout.show_error(self.user, exc)
        await self.refresh()


def own_organization(user: ConsoleUser) -> None:
    """What a tenant admin sees here: their own organization, and who manages the rest."""
    tr = user.tr
    with ui.card().classes("w-full").props('data-testid="tenant-own"'):
        ui.label(tr("admin.tenants.yours")).classes("text-lg font-semibold")
        ui.label(f"{tr('admin.tenants.name')}: {user.tenant_name}")
        ui.label(f"{tr('admin.tenants.id')}: {user.principal.tenant_id}").classes("font-mono")
        ui.label(tr("admin.tenants.only_platform")).classes("text-sm text-grey-8")


@ui.page("/admin/tenants")
async def tenants_page(request: Request) -> RedirectResponse | None:
    user = await gate(request, "admin")
    if isinstance(user, RedirectResponse):
        return user
    with admin_frame(user, "tenants"):
        if user.principal.platform_admin:
            await TenantsView(user).build()
        else:
            own_organization(user)
    return None
