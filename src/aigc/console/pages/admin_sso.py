"""Admin › Single sign-on: the platform admin configures each organization's OIDC providers.

Everything goes through the API as the signed-in platform admin
(``/api/tenants/{id}/sso/providers``): create or edit a provider (the client secret is written,
never read back: leave it empty to keep it), test the connection (the server fetches the
discovery document and the JWKS), preview what given claims would map to, and switch local
passwords off for the organization. Organization admins see who manages it.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import ui

from aigc.console import i18n, layout
from aigc.console.api import ApiError
from aigc.console.pages.admin_common import (
    ROLES,
    admin_frame,
    cell,
    confirm,
    table,
    tenant_choices,
)
from aigc.console.session import ConsoleUser, gate

EXAMPLE_RULES = [
    {"claim": "groups", "value": "aigc-admins", "role": "admin"},
    {"claim": "groups", "value": "finance", "group": "finance"},
]
EXAMPLE_CLAIMS = {"email": "li.wei@example.com", "groups": ["aigc-admins", "finance"]}

i18n.add(
    {
        "en": {
            "admin.tab.sso": "Single sign-on",
            "admin.sso.only_platform": "Single sign-on is configured by the platform "
            "administrator.",
            "admin.sso.providers": "Identity providers",
            "admin.sso.none": "No provider yet: people sign in with passwords.",
            "admin.sso.new": "New provider",
            "admin.sso.edit": "Edit {name}",
            "admin.sso.edit_button": "Edit",
            "admin.sso.name": "Button name (Sign in with …)",
            "admin.sso.issuer": "Issuer URL",
            "admin.sso.client_id": "Client ID",
            "admin.sso.client_secret": "Client secret",
            "admin.sso.client_secret_keep": "Client secret (empty: keep the stored one)",
            "admin.sso.scopes": "Scopes (space-separated)",
            "admin.sso.domains": "Allowed e-mail domains (comma-separated; empty: any)",
            "admin.sso.rules": "Mapping rules (JSON)",
            "admin.sso.default_role": "Role when no rule grants one",
            "admin.sso.refuse": "Refuse sign-in",
            "admin.sso.private": "Issuer on loopback or a private network (allow)",
            "admin.sso.enabled": "Enabled",
            "admin.sso.test": "Test connection",
            "admin.sso.test_ok": "Discovery and JWKS fetched: {keys} key(s), {algs}.",
            "admin.sso.test_failed": "Connection failed: {message}",
            "admin.sso.preview": "Preview mapping",
            "admin.sso.claims": "Claims (JSON)",
            "admin.sso.preview_ok": "Role {role}; groups: {groups}.",
            "admin.sso.preview_refused": "Refused: {reason}.",
            "admin.sso.bad_json": "{field} is not valid JSON.",
            "admin.sso.confirm_delete": "Delete the provider {name}? Its users keep their "
            "accounts but can no longer sign in with it.",
            "admin.sso.passwords_disabled": "Local passwords disabled for this organization "
            "(platform administrators keep theirs)",
        },
        "zh-CN": {
            "admin.tab.sso": "单点登录",
            "admin.sso.only_platform": "单点登录由平台管理员配置。",
            "admin.sso.providers": "身份提供方",
            "admin.sso.none": "尚无身份提供方：用户使用密码登录。",
            "admin.sso.new": "新建身份提供方",
            "admin.sso.edit": "编辑 {name}",
            "admin.sso.edit_button": "编辑",
            "admin.sso.name": "按钮名称（使用 … 登录）",
            "admin.sso.issuer": "签发方（Issuer）URL",
            "admin.sso.client_id": "客户端 ID",
            "admin.sso.client_secret": "客户端密钥",
            "admin.sso.client_secret_keep": "客户端密钥（留空则保留已保存的）",
            "admin.sso.scopes": "授权范围（以空格分隔）",
            "admin.sso.domains": "允许的电子邮件域名（以逗号分隔；留空则不限）",
            "admin.sso.rules": "映射规则（JSON）",
            "admin.sso.default_role": "无规则授予角色时的角色",
            "admin.sso.refuse": "拒绝登录",
            "admin.sso.private": "签发方位于回环或私有网络（允许）",
            "admin.sso.enabled": "启用",
            "admin.sso.test": "测试连接",
            "admin.sso.test_ok": "已获取发现文档和 JWKS：{keys} 个密钥，{algs}。",
            "admin.sso.test_failed": "连接失败：{message}",
            "admin.sso.preview": "预览映射",
            "admin.sso.claims": "声明（JSON）",
            "admin.sso.preview_ok": "角色 {role}；用户组：{groups}。",
            "admin.sso.preview_refused": "拒绝：{reason}。",
            "admin.sso.bad_json": "{field} 不是有效的 JSON。",
            "admin.sso.confirm_delete": "删除身份提供方 {name}？其用户保留账号，但不能再用它登录。",
            "admin.sso.passwords_disabled": "此组织禁用本地密码（平台管理员除外）",
        },
    }
)


class SsoView:
    """One organization's providers, the editor, the connection test and the preview."""

    def __init__(self, user: ConsoleUser, tenants: dict[str, str]) -> None:
        self.user = user
        self.tr = user.tr
        self.tenants = tenants
        self.tenant_id = user.principal.tenant_id
        self.editing: dict[str, Any] | None = None

    @property
    def base(self) -> str:
        return f"/api/tenants/{self.tenant_id}/sso/providers"

    async def build(self) -> None:
        tr = self.tr
        ui.select(
            self.tenants, value=self.tenant_id, label=tr("admin.tenant"), on_change=self.switch
        ).props('outlined dense data-testid="sso-tenant"').classes("w-80")
        self.loading = False  # set while refresh() fills the checkbox: no PATCH for that
        self.passwords = ui.checkbox(
            tr("admin.sso.passwords_disabled"), on_change=self.toggle_passwords
        ).props('data-testid="sso-passwords-disabled"')
        self.listing = ui.column().classes("w-full")
        self.editor = ui.column().classes("w-full")
        await self.refresh()

    async def switch(self, event: Any) -> None:
        self.tenant_id = event.value
        await self.refresh()

    async def refresh(self) -> None:
        try:
            providers = (await self.user.api.get(self.base))["data"]
            tenant = await self.user.api.get(f"/api/tenants/{self.tenant_id}")
        except ApiError as exc:
            layout.show_error(self.user, exc)
            return
        self.loading = True
        self.passwords.value = bool(tenant.get("passwords_disabled"))
        self.loading = False
        tr = self.tr
        self.listing.clear()
        with self.listing:
            ui.label(tr("admin.sso.providers")).classes("text-lg font-semibold").props(
                'role="heading" aria-level=2'
            )
            if not providers:
                ui.label(tr("admin.sso.none")).props('data-testid="sso-none"')
            headers = [
                tr("admin.sso.name"),
                tr("admin.sso.issuer"),
                tr("admin.sso.client_id"),
                tr("admin.state"),
                tr("admin.actions"),
            ]
            with table(headers, "sso-table"):
                for item in providers:
                    with (
                        ui.element("tr")
                        .classes("border-b")
                        .props(f'data-testid="sso-row-{item["id"]}"')
                    ):
                        cell(item["name"])
                        cell(item["issuer"], "font-mono")
                        cell(item["client_id"], "font-mono")
                        cell(tr("admin.active") if item["enabled"] else tr("admin.disabled"))
                        with cell(), ui.row().classes("gap-1"):
                            ui.button(
                                tr("admin.sso.edit_button"), on_click=lambda p=item: self.edit(p)
                            ).props('flat dense data-testid="sso-edit"')
                            ui.button(
                                tr("common.delete"), on_click=lambda p=item: self.delete(p)
                            ).props('flat dense color=negative data-testid="sso-delete"')
        self.edit(None)

    def edit(self, item: dict[str, Any] | None) -> None:
        """The form, empty for a new provider or filled with one (never its secret)."""
        tr = self.tr
        self.editing = item
        item = item or {}
        self.editor.clear()
        with self.editor, ui.card().classes("w-full max-w-3xl").props('data-testid="sso-form"'):
            title = tr("admin.sso.edit", name=item["name"]) if item else tr("admin.sso.new")
            ui.label(title).classes("text-lg font-semibold")
            self.name = _field(tr("admin.sso.name"), item.get("name", ""), "sso-name")
            self.issuer = _field(tr("admin.sso.issuer"), item.get("issuer", ""), "sso-issuer")
            self.client_id = _field(
                tr("admin.sso.client_id"), item.get("client_id", ""), "sso-client-id"
            )
            secret_label = "admin.sso.client_secret_keep" if item else "admin.sso.client_secret"
            self.secret = (
                ui.input(tr(secret_label), password=True)
                .props('outlined dense autocomplete=off data-testid="sso-client-secret"')
                .classes("w-full")
            )
            scopes = " ".join(item.get("scopes", ["openid", "email", "profile"]))
            self.scopes = _field(tr("admin.sso.scopes"), scopes, "sso-scopes")
            domains = ", ".join(item.get("allowed_domains", []))
            self.domains = _field(tr("admin.sso.domains"), domains, "sso-domains")
            rules = item.get("rules", EXAMPLE_RULES if not item else [])
            self.rules = (
                ui.textarea(
                    tr("admin.sso.rules"), value=json.dumps(rules, ensure_ascii=False, indent=1)
                )
                .props('outlined autogrow spellcheck=false data-testid="sso-rules"')
                .classes("w-full")
            )
            roles = {"": tr("admin.sso.refuse")} | {r: tr(f"admin.role.{r}") for r in ROLES}
            self.default_role = (
                ui.select(
                    roles,
                    value=item.get("default_role", "member") or "",
                    label=tr("admin.sso.default_role"),
                )
                .props('outlined dense data-testid="sso-default-role"')
                .classes("w-80")
            )
            self.private = ui.checkbox(
                tr("admin.sso.private"), value=item.get("allow_private_network", False)
            ).props('data-testid="sso-private"')
            self.enabled = ui.checkbox(
                tr("admin.sso.enabled"), value=item.get("enabled", True)
            ).props('data-testid="sso-enabled"')
            with ui.row().classes("gap-2"):
                ui.button(tr("common.save"), icon="save", on_click=self.save).props(
                    'color=primary data-testid="sso-save"'
                )
                if item:
                    ui.button(tr("admin.sso.test"), icon="network_check", on_click=self.test).props(
                        'outline data-testid="sso-test"'
                    )
            if item:
                self.claims = (
                    ui.textarea(
                        tr("admin.sso.claims"),
                        value=json.dumps(EXAMPLE_CLAIMS, ensure_ascii=False, indent=1),
                    )
                    .props('outlined autogrow spellcheck=false data-testid="sso-claims"')
                    .classes("w-full")
                )
                ui.button(tr("admin.sso.preview"), icon="preview", on_click=self.preview).props(
                    'outline data-testid="sso-preview"'
                )
            self.result = (
                ui.label("")
                .classes("text-sm whitespace-pre-wrap")
                .props('data-testid="sso-result" aria-live="polite"')
            )

    def _json(self, box: ui.textarea, label: str) -> Any:
        try:
            return json.loads(box.value or "null")
        except ValueError:
            ui.notify(self.tr("admin.sso.bad_json", field=label), type="negative")
            return None

    async def save(self) -> None:
        rules = self._json(self.rules, self.tr("admin.sso.rules"))
        if rules is None:
            return
        body: dict[str, Any] = {
            "name": self.name.value,
            "issuer": self.issuer.value,
            "client_id": self.client_id.value,
            "scopes": (self.scopes.value or "").split(),
            "allowed_domains": [
                d.strip() for d in (self.domains.value or "").split(",") if d.strip()
            ],
            "rules": rules,
            "default_role": self.default_role.value or None,
            "allow_private_network": bool(self.private.value),
            "enabled": bool(self.enabled.value),
        }
        if self.secret.value:
            body["client_secret"] = self.secret.value
        try:
            if self.editing:
                await self.user.api.patch(f"{self.base}/{self.editing['id']}", body)
            else:
                await self.user.api.post(self.base, body)
        except ApiError as exc:
            layout.show_error(self.user, exc)
            return
        ui.notify(self.tr("admin.saved"), type="positive")
        await self.refresh()

    async def test(self) -> None:
        assert self.editing is not None
        try:
            answer = await self.user.api.post(f"{self.base}/{self.editing['id']}/test")
        except ApiError as exc:
            layout.show_error(self.user, exc)
            return
        if answer["ok"]:
            algs = ", ".join(answer["algorithms"])
            self.result.text = self.tr("admin.sso.test_ok", keys=answer["keys"], algs=algs)
        else:
            self.result.text = self.tr("admin.sso.test_failed", message=answer["message"])

    async def preview(self) -> None:
        assert self.editing is not None
        claims = self._json(self.claims, self.tr("admin.sso.claims"))
        rules = self._json(self.rules, self.tr("admin.sso.rules"))
        if not isinstance(claims, dict) or rules is None:
            return
        try:
            answer = await self.user.api.post(
                f"{self.base}/{self.editing['id']}/preview", {"claims": claims, "rules": rules}
            )
        except ApiError as exc:
            layout.show_error(self.user, exc)
            return
        if answer["allowed"]:
            groups = ", ".join(answer["groups"]) or "—"
            self.result.text = self.tr("admin.sso.preview_ok", role=answer["role"], groups=groups)
        else:
            self.result.text = self.tr("admin.sso.preview_refused", reason=answer["refusal"])

    async def delete(self, item: dict[str, Any]) -> None:
        if not await confirm(self.user, self.tr("admin.sso.confirm_delete", name=item["name"])):
            return
        try:
            await self.user.api.delete(f"{self.base}/{item['id']}")
        except ApiError as exc:
            layout.show_error(self.user, exc)
        await self.refresh()

    async def toggle_passwords(self) -> None:
        if self.loading:
            return
        wanted = bool(self.passwords.value)
        try:
            await self.user.api.patch(
                f"/api/tenants/{self.tenant_id}", {"passwords_disabled": wanted}
            )
        except ApiError as exc:
            layout.show_error(self.user, exc)  # e.g. no enabled provider yet
            self.loading = True
            self.passwords.value = not wanted
            self.loading = False
            return
        ui.notify(self.tr("admin.saved"), type="positive")


def _field(label: str, value: str, testid: str) -> ui.input:
    return (
        ui.input(label, value=value)
        .props(f'outlined dense data-testid="{testid}"')
        .classes("w-full")
    )


@ui.page("/admin/sso")
async def sso_page(request: Request) -> RedirectResponse | None:
    user = await gate(request, "admin")
    if isinstance(user, RedirectResponse):
        return user
    with admin_frame(user, "sso"):
        tenants = await tenant_choices(user)
        if tenants is None:
            ui.label(user.tr("admin.sso.only_platform")).props('data-testid="sso-only-platform"')
        else:
            await SsoView(user, tenants).build()
    return None
