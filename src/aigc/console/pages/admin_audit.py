"""Admin › Audit log: who called what, when, with which outcome; filters, paging, chain check.

Rows come from GET /api/audit and hold ids, routes, counts and guard codes: the audit log keeps
no request or answer text, so there is none to show.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import ui

from aigc.console import i18n, layout
from aigc.console.api import ApiError
from aigc.console.pages.admin_common import admin_frame, cell, day_range, table, tenant_choices
from aigc.console.session import ConsoleUser, gate

PAGE = 25
STATUSES = ("2xx", "4xx", "5xx")

i18n.add(
    {
        "en": {
            "admin.audit.who": "User or key",
            "admin.audit.model": "Model",
            "admin.audit.endpoint": "Endpoint starts with",
            "admin.audit.status": "Status",
            "admin.audit.any": "any",
            "admin.audit.time": "Time (UTC)",
            "admin.audit.request": "Request",
            "admin.audit.tokens": "Tokens (in / out)",
            "admin.audit.latency": "Latency (ms)",
            "admin.audit.guard": "Guard",
            "admin.audit.page": "{first}–{last} of {total}",
            "admin.audit.prev": "Newer",
            "admin.audit.next": "Older",
            "admin.audit.empty": "No audit records match.",
            "admin.audit.user": "user {name}",
            "admin.audit.key": "key {name}",
            "admin.audit.verify": "Verify the chain",
            "admin.audit.verify_ok": "Chain intact: {count} records verified.",
            "admin.audit.verify_bad": "Chain broken ({count} records walked):",
            "admin.audit.no_text": "The audit log records who, what and how much, never the "
            "text of prompts or answers.",
        },
        "zh-CN": {
            "admin.audit.who": "用户或密钥",
            "admin.audit.model": "模型",
            "admin.audit.endpoint": "接口前缀",
            "admin.audit.status": "状态",
            "admin.audit.any": "全部",
            "admin.audit.time": "时间（UTC）",
            "admin.audit.request": "请求",
            "admin.audit.tokens": "令牌（输入 / 输出）",
            "admin.audit.latency": "延迟（毫秒）",
            "admin.audit.guard": "防护",
            "admin.audit.page": "第 {first}–{last} 条，共 {total} 条",
            "admin.audit.prev": "较新",
            "admin.audit.next": "较旧",
            "admin.audit.empty": "没有匹配的审计记录。",
            "admin.audit.user": "用户 {name}",
            "admin.audit.key": "密钥 {name}",
            "admin.audit.verify": "校验哈希链",
            "admin.audit.verify_ok": "哈希链完整：已校验 {count} 条记录。",
            "admin.audit.verify_bad": "哈希链已损坏（共检查 {count} 条记录）：",
            "admin.audit.no_text": "审计日志只记录谁、做了什么、用量多少，"
            "从不记录提示词或回答的内容。",
        },
    }
)


class AuditView:
    def __init__(self, user: ConsoleUser) -> None:
        self.user = user
        self.tr = user.tr
        self.offset = 0
        self.people: dict[str, str] = {}

    async def build(self) -> None:
        tr = self.tr
        since, until = day_range(7)
        try:
            tenants = await tenant_choices(self.user)
        except ApiError as exc:
            layout.show_error(self.user, exc)
            tenants = None
        ui.label(tr("admin.audit.no_text")).classes("text-sm text-grey-8")
        if self.user.principal.platform_admin:
            with ui.card().classes("w-full"), ui.row().classes("items-center gap-3"):
                ui.button(tr("admin.audit.verify"), icon="verified", on_click=self.verify).props(
                    'outline data-testid="audit-verify"'
                )
                self.verdict = (
                    ui.column().classes("gap-0").props('role="status" data-testid="audit-verdict"')
                )
        with ui.row().classes("items-end gap-3 w-full"):
            self.tenant = None
            if tenants:
                self.tenant = ui.select(
                    tenants,
                    value=self.user.principal.tenant_id,
                    label=tr("admin.tenant"),
                    on_change=self._tenant_changed,
                ).props('outlined dense data-testid="audit-tenant"')
            self.since = ui.input(tr("admin.since"), value=since).props(
                'outlined dense stack-label type=date data-testid="audit-since"'
            )
            self.until = ui.input(tr("admin.until"), value=until).props(
                'outlined dense stack-label type=date data-testid="audit-until"'
            )
            self.who = (
                ui.select({}, label=tr("admin.audit.who"), clearable=True)
                .props('outlined dense data-testid="audit-who"')
                .classes("min-w-48")
            )
            self.model = (
                ui.select([], label=tr("admin.audit.model"), clearable=True, new_value_mode="add")
                .props('outlined dense data-testid="audit-model"')
                .classes("min-w-48")
            )
            self.endpoint = ui.input(tr("admin.audit.endpoint")).props(
                'outlined dense data-testid="audit-endpoint" placeholder="/v1/chat"'
            )
            self.status = ui.select(
                {"": tr("admin.audit.any")} | {s: s for s in STATUSES},
                value="",
                label=tr("admin.audit.status"),
            ).props('outlined dense data-testid="audit-status"')
            ui.button(tr("admin.apply"), icon="filter_alt", on_click=self.apply).props(
                'color=primary data-testid="audit-apply"'
            )
        self.area = ui.column().classes("w-full gap-2")
        await self._load_choices()
        await self.refresh()
        if self.user.principal.platform_admin:
            await self.verify()

    async def _load_choices(self) -> None:
        """Users and keys of the organization (to filter and to name rows), and its models."""
        tenant = self.tenant.value if self.tenant else None
        try:
            users = (await self.user.api.get("/api/users", tenant_id=tenant))["data"]
            keys = (await self.user.api.get("/api/keys", tenant_id=tenant))["data"]
            models = (await self.user.api.get("/api/models"))["data"]
        except ApiError as exc:
            layout.show_error(self.user, exc)
            return
        tr = self.tr
        self.people = {f"user:{u['id']}": tr("admin.audit.user", name=u["username"]) for u in users}
        self.people |= {
            f"key:{k['id']}": tr("admin.audit.key", name=k["name"] or k["prefix"] + "…")
            for k in keys
        }
        self.who.set_options(self.people, value=None)
        self.model.set_options(sorted({m["id"] for m in models}), value=None)

    async def _tenant_changed(self) -> None:
        await self._load_choices()
        await self.apply()

    async def apply(self) -> None:
        self.offset = 0
        await self.refresh()

    async def page(self, step: int) -> None:
        self.offset = max(self.offset + step, 0)
        await self.refresh()

    def _params(self) -> dict[str, Any]:
        who = self.who.value or ""
        kind, _, ident = who.partition(":")
        return {
            "since": self.since.value or None,
            "until": self.until.value or None,
            "user_id": ident if kind == "user" else None,
            "key_id": ident if kind == "key" else None,
            "model": self.model.value or None,
            "endpoint": (self.endpoint.value or "").strip() or None,
            "status": self.status.value or None,
            "tenant_id": self.tenant.value if self.tenant else None,
            "limit": PAGE,
            "offset": self.offset,
        }

    async def refresh(self) -> None:
        try:
            answer = await self.user.api.get("/api/audit", **self._params())
        except ApiError as exc:
            layout.show_error(self.user, exc)
            return
        tr = self.tr
        rows, total = answer["data"], answer["total"]
        self.area.clear()
        with self.area:
            if not rows:
                ui.label(tr("admin.audit.empty")).props('data-testid="audit-empty"')
            else:
                self._table(rows)
            with ui.row().classes("items-center gap-3"):
                ui.button(
                    tr("admin.audit.prev"), icon="chevron_left", on_click=lambda: self.page(-PAGE)
                ).props('flat data-testid="audit-prev"').set_enabled(self.offset > 0)
                ui.label(
                    tr(
                        "admin.audit.page",
                        first=self.offset + 1 if rows else 0,
                        last=self.offset + len(rows),
                        total=total,
                    )
                ).props('data-testid="audit-count"')
                ui.button(
                    tr("admin.audit.next"), icon="chevron_right", on_click=lambda: self.page(PAGE)
                ).props('flat data-testid="audit-next"').set_enabled(
                    self.offset + len(rows) < total
                )

    def _who(self, row: dict[str, Any]) -> str:
        if row["user_id"]:
            return self.people.get(f"user:{row['user_id']}", row["user_id"])
        if row["key_id"]:
            return self.people.get(f"key:{row['key_id']}", row["key_id"])
        return "—"

    def _table(self, rows: list[dict[str, Any]]) -> None:
        tr = self.tr
        headers = [
            tr("admin.audit.time"),
            tr("admin.audit.who"),
            tr("admin.audit.request"),
            tr("admin.audit.model"),
            tr("admin.audit.status"),
            tr("admin.audit.tokens"),
            tr("admin.audit.latency"),
            tr("admin.audit.guard"),
        ]
        with table(headers, "audit-table"):
            for row in rows:
                with ui.element("tr").classes("border-b").props('data-testid="audit-row"'):
                    cell(row["ts"][:19].replace("T", " "), "whitespace-nowrap")
                    cell(self._who(row))
                    cell(f"{row['method']} {row['endpoint']}", "font-mono")
                    cell(row["model"] or "—")
                    cell(row["status"], "text-negative" if row["status"] >= 400 else "")
                    cell(f"{row['prompt_tokens']} / {row['completion_tokens']}")
                    cell(f"{row['latency_ms']:.1f}")
                    cell(", ".join(row["guard"]) or "—", "font-mono text-xs")

    async def verify(self) -> None:
        tr = self.tr
        try:
            result = await self.user.api.get("/api/audit/verify")
        except ApiError as exc:
            layout.show_error(self.user, exc)
            return
        self.verdict.clear()
        with self.verdict:
            if result["ok"]:
                ui.label(tr("admin.audit.verify_ok", count=result["count"])).classes(
                    "text-positive font-semibold"
                )
            else:
                ui.label(tr("admin.audit.verify_bad", count=result["count"])).classes(
                    "text-negative font-semibold"
                )
                for problem in result["problems"]:
                    ui.label(problem).classes("text-negative text-sm")


@ui.page("/admin/audit")
async def audit_page(request: Request) -> RedirectResponse | None:
    user = await gate(request, "admin")
    if isinstance(user, RedirectResponse):
        return user
    with admin_frame(user, "audit"):
        await AuditView(user).build()
    return None
