"""Admin › API keys: list, create (the secret shown once), revoke."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import ui

from aigc.console import i18n, layout
from aigc.console.api import ApiError
from aigc.console.pages.admin_common import (
    admin_frame,
    cell,
    confirm,
    limit_field,
    role_options,
    table,
    when,
)
from aigc.console.session import ConsoleUser, gate

i18n.add(
    {
        "en": {
            "admin.keys.new": "New API key",
            "admin.keys.name": "Name",
            "admin.keys.prefix": "Prefix",
            "admin.keys.role": "Role",
            "admin.keys.models": "Allowed models (empty: all)",
            "admin.keys.models_short": "Models",
            "admin.keys.all_models": "all",
            "admin.keys.rpm": "Requests per minute",
            "admin.keys.tpm": "Tokens per minute",
            "admin.keys.limits": "Limits",
            "admin.keys.expires": "Expires on (optional)",
            "admin.keys.expires_short": "Expires",
            "admin.keys.revoke": "Revoke",
            "admin.keys.revoked": "Revoked",
            "admin.keys.expired": "Expired",
            "admin.keys.confirm_revoke": "Revoke the key {name}? Programs using it stop working "
            "at once.",
            "admin.keys.secret_title": "Your new API key",
            "admin.keys.secret_note": "Copy it now: you will not see it again. Only a hash is "
            "stored, so nobody can show it to you later.",
            "admin.keys.copy": "Copy",
            "admin.keys.copied": "Copied to the clipboard.",
        },
        "zh-CN": {
            "admin.keys.new": "新建 API 密钥",
            "admin.keys.name": "名称",
            "admin.keys.prefix": "前缀",
            "admin.keys.role": "角色",
            "admin.keys.models": "允许的模型（留空表示全部）",
            "admin.keys.models_short": "模型",
            "admin.keys.all_models": "全部",
            "admin.keys.rpm": "每分钟请求数",
            "admin.keys.tpm": "每分钟令牌数",
            "admin.keys.limits": "限额",
            "admin.keys.expires": "到期日（可选）",
            "admin.keys.expires_short": "到期",
            "admin.keys.revoke": "吊销",
            "admin.keys.revoked": "已吊销",
            "admin.keys.expired": "已过期",
            "admin.keys.confirm_revoke": "吊销密钥 {name}？使用它的程序将立即失效。",
            "admin.keys.secret_title": "新的 API 密钥",
            "admin.keys.secret_note": "请立即复制：之后将无法再次查看。系统只保存其哈希值，"
            "任何人都无法再显示它。",
            "admin.keys.copy": "复制",
            "admin.keys.copied": "已复制到剪贴板。",
        },
    }
)


def key_state(key: dict[str, Any], now: float | None = None) -> str:
    """'revoked', 'expired' or 'active': what a request with this key would meet now."""
    if key.get("revoked_at"):
        return "revoked"
    expires = key.get("expires_at")
    if expires and expires <= (now if now is not None else time.time()):
        return "expired"
    return "active"


def expiry(day: str | None) -> str | None:
    """A picked day (YYYY-MM-DD) → the end of that day in UTC, as the API's ISO timestamp."""
    if not day:
        return None
    end = datetime.fromisoformat(day).replace(hour=23, minute=59, second=59, tzinfo=UTC)
    return end.isoformat()


class KeysView:
    def __init__(self, user: ConsoleUser) -> None:
        self.user = user
        self.tr = user.tr

    async def build(self) -> None:
        tr = self.tr
        try:
            models = [m["id"] for m in (await self.user.api.get("/api/models"))["data"]]
        except ApiError as exc:
            layout.show_error(self.user, exc)
            models = []
        with ui.card().classes("w-full"):
            ui.label(tr("admin.keys.new")).classes("text-lg font-semibold")
            with ui.row().classes("items-end gap-3 w-full"):
                self.name = ui.input(tr("admin.keys.name")).props(
                    'outlined dense data-testid="key-name"'
                )
                self.role = ui.select(
                    role_options(self.user), value="member", label=tr("admin.keys.role")
                ).props('outlined dense data-testid="key-role"')
                self.models = (
                    ui.select(models, multiple=True, label=tr("admin.keys.models"), value=[])
                    .props('outlined dense use-chips data-testid="key-models"')
                    .classes("min-w-64")
                )
                self.rpm = limit_field(self.user, "admin.keys.rpm", "key-rpm")
                self.tpm = limit_field(self.user, "admin.keys.tpm", "key-tpm")
                self.expires = ui.input(tr("admin.keys.expires")).props(
                    'outlined dense stack-label type=date data-testid="key-expires"'
                )
                ui.button(tr("common.create"), icon="key", on_click=self.create).props(
                    'color=primary data-testid="key-create"'
                )
        self.area = ui.column().classes("w-full")
        await self.refresh()

    async def refresh(self) -> None:
        try:
            keys = (await self.user.api.get("/api/keys"))["data"]
        except ApiError as exc:
            layout.show_error(self.user, exc)
            return
        tr = self.tr
        self.area.clear()
        headers = [
            tr("admin.keys.name"),
            tr("admin.keys.prefix"),
            tr("admin.keys.role"),
            tr("admin.keys.models_short"),
            tr("admin.keys.limits"),
            tr("admin.created"),
            tr("admin.keys.expires_short"),
            tr("admin.state"),
            tr("admin.actions"),
        ]
        states = {
            "active": tr("admin.active"),
            "revoked": tr("admin.keys.revoked"),
            "expired": tr("admin.keys.expired"),
        }
        with self.area, table(headers, "keys-table"):
            for key in reversed(keys):  # newest first
                state = key_state(key)
                limits = " · ".join(
                    f"{v} {unit}"
                    for v, unit in ((key["rpm_limit"], "rpm"), (key["tpm_limit"], "tpm"))
                    if v
                )
                with (
                    ui.element("tr").classes("border-b").props(f'data-testid="key-row-{key["id"]}"')
                ):
                    cell(key["name"] or "—")
                    cell(key["prefix"] + "…", "font-mono")
                    cell(tr(f"admin.role.{key['role']}"))
                    cell(", ".join(key["allowed_models"] or []) or tr("admin.keys.all_models"))
                    cell(limits or "—")
                    cell(when(key["created_at"]))
                    cell(when(key["expires_at"]))
                    cell(states[state]).props('data-testid="key-state"')
                    with cell():
                        if state == "active":
                            ui.button(
                                tr("admin.keys.revoke"), on_click=lambda k=key: self.revoke(k)
                            ).props('flat dense color=negative data-testid="key-revoke"')

    async def create(self) -> None:
        if not all([self.rpm.validate(), self.tpm.validate()]):  # each shows its own message
            return
        body: dict[str, Any] = {
            "name": (self.name.value or "").strip(),
            "role": self.role.value,
            "allowed_models": list(self.models.value or []) or None,
            "rpm_limit": None if self.rpm.value is None else int(self.rpm.value),
            "tpm_limit": None if self.tpm.value is None else int(self.tpm.value),
            "expires_at": expiry(self.expires.value),
        }
        try:
            created = await self.user.api.post("/api/keys", body)
        except ApiError as exc:
            layout.show_error(self.user, exc)
            return
        self.name.value = ""
        self.models.value = []
        self.rpm.value = self.tpm.value = None
        self.expires.value = ""
        await self.refresh()
        await self._show_secret(created["key"])

    async def _show_secret(self, secret: str) -> None:
        """The one moment the secret exists outside the caller's program: never stored here."""
        tr = self.tr
        with (
            ui.dialog().props("persistent") as dialog,
            ui.card().classes("w-[40rem] max-w-full").props('data-testid="key-secret-dialog"'),
        ):
            ui.label(tr("admin.keys.secret_title")).classes("text-lg font-semibold")
            ui.label(tr("admin.keys.secret_note")).classes("text-orange-9").props('role="alert"')
            ui.input(value=secret).props(
                f'readonly outlined dense aria-label="{tr("admin.keys.secret_title")}" '
                'data-testid="key-secret" input-class="font-mono"'
            ).classes("w-full")
            with ui.row().classes("justify-end w-full"):

                def copy() -> None:
                    ui.clipboard.write(secret)
                    ui.notify(tr("admin.keys.copied"))

                ui.button(tr("admin.keys.copy"), icon="content_copy", on_click=copy).props(
                    'data-testid="key-copy"'
                )
                ui.button(tr("common.close"), on_click=dialog.close).props(
                    'color=primary data-testid="key-secret-close"'
                )
        dialog.open()
        await dialog
        dialog.delete()

    async def revoke(self, key: dict[str, Any]) -> None:
        name = key["name"] or key["prefix"]
        if not await confirm(self.user, self.tr("admin.keys.confirm_revoke", name=name)):
            return
        try:
            await self.user.api.delete(f"/api/keys/{key['id']}")
        except ApiError as exc:
            layout.show_error(self.user, exc)
        await self.refresh()


@ui.page("/admin/keys")
async def keys_page(request: Request) -> RedirectResponse | None:
    user = await gate(request, "admin")
    if isinstance(user, RedirectResponse):
        return user
    with admin_frame(user, "keys"):
        await KeysView(user).build()
    return None
