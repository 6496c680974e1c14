"""Admin › Usage: requests, tokens and latency by day, model and key, from GET /api/usage."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import ui

from aigc.console import i18n, layout
from aigc.console.api import ApiError
from aigc.console.pages.admin_common import admin_frame, day_range, tenant_choices
from aigc.console.session import ConsoleUser, gate

i18n.add(
    {
        "en": {
            "admin.usage.requests": "Requests",
            "admin.usage.tokens": "Tokens",
            "admin.usage.latency": "Mean latency (ms)",
            "admin.usage.by_day": "By day",
            "admin.usage.by_model": "By model",
            "admin.usage.by_key": "By API key",
            "admin.usage.sessions": "console sign-ins",
            "admin.usage.no_model": "(no model)",
            "admin.usage.empty": "No requests in this period.",
        },
        "zh-CN": {
            "admin.usage.requests": "请求数",
            "admin.usage.tokens": "令牌数",
            "admin.usage.latency": "平均延迟（毫秒）",
            "admin.usage.by_day": "按日期",
            "admin.usage.by_model": "按模型",
            "admin.usage.by_key": "按 API 密钥",
            "admin.usage.sessions": "控制台登录",
            "admin.usage.no_model": "（无模型）",
            "admin.usage.empty": "此期间没有请求。",
        },
    }
)


def days_between(since: str, until: str) -> list[str]:
    """Every day from ``since`` to ``until`` inclusive, so quiet days show as zero, not gaps."""
    first, last = date.fromisoformat(since), date.fromisoformat(until)
    count = min((last - first).days + 1, 366)
    return [(first + timedelta(days=n)).isoformat() for n in range(max(count, 0))]


def chart(categories: list[str], rows: Sequence[dict[str, Any] | None], tr: Any) -> dict[str, Any]:
    """ECharts options: requests and tokens as bars (left axis), mean latency as a line (right)."""

    def values(field: str) -> list[float]:
        return [row[field] if row else 0 for row in rows]

    return {
        "animation": False,
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 60, "right": 70, "top": 40, "bottom": 60},
        "xAxis": {"type": "category", "data": categories, "axisLabel": {"rotate": 20}},
        "yAxis": [{"type": "value", "name": ""}, {"type": "value", "name": "ms"}],
        "series": [
            {"name": tr("admin.usage.requests"), "type": "bar", "data": values("requests")},
            {"name": tr("admin.usage.tokens"), "type": "bar", "data": values("total_tokens")},
            {
                "name": tr("admin.usage.latency"),
                "type": "line",
                "yAxisIndex": 1,
                "data": values("latency_ms"),
            },
        ],
    }


class UsageView:
    def __init__(self, user: ConsoleUser) -> None:
        self.user = user
        self.tr = user.tr

    async def build(self) -> None:
        tr = self.tr
        since, until = day_range(14)
        try:
            tenants = await tenant_choices(self.user)
        except ApiError as exc:
            layout.show_error(self.user, exc)
            tenants = None
        with ui.row().classes("items-end gap-3"):
            self.tenant = None
            if tenants:
                self.tenant = ui.select(
                    tenants, value=self.user.principal.tenant_id, label=tr("admin.tenant")
                ).props('outlined dense data-testid="usage-tenant"')
            self.since = ui.input(tr("admin.since"), value=since).props(
                'outlined dense stack-label type=date data-testid="usage-since"'
            )
            self.until = ui.input(tr("admin.until"), value=until).props(
                'outlined dense stack-label type=date data-testid="usage-until"'
            )
            ui.button(tr("admin.apply"), icon="refresh", on_click=self.refresh).props(
                'color=primary data-testid="usage-apply"'
            )
        self.area = ui.column().classes("w-full gap-4").props('data-testid="usage-area"')
        await self.refresh()

    async def _get(self, group_by: str) -> list[dict[str, Any]]:
        params = {
            "since": self.since.value or None,
            "until": self.until.value or None,
            "group_by": group_by,
            "tenant_id": self.tenant.value if self.tenant else None,
        }
        return (await self.user.api.get("/api/usage", **params))["data"]

    async def refresh(self) -> None:
        tr = self.tr
        try:
            by_day = await self._get("day")
            by_model = await self._get("model")
            by_key = await self._get("key_id")
            tenant = self.tenant.value if self.tenant else None
            keys = (await self.user.api.get("/api/keys", tenant_id=tenant))["data"]
        except ApiError as exc:
            layout.show_error(self.user, exc)
            return
        names = {k["id"]: k["name"] or k["prefix"] + "…" for k in keys}
        self.area.clear()
        with self.area:
            requests = sum(r["requests"] for r in by_day)
            tokens = sum(r["total_tokens"] for r in by_day)
            latency = sum(r["latency_ms"] * r["requests"] for r in by_day) / max(requests, 1)
            with ui.row().classes("gap-4"):
                for key, value, testid in (
                    ("admin.usage.requests", f"{requests:,}", "usage-requests"),
                    ("admin.usage.tokens", f"{tokens:,}", "usage-tokens"),
                    ("admin.usage.latency", f"{latency:,.1f}", "usage-latency"),
                ):
                    with ui.card().classes("min-w-40"):
                        ui.label(tr(key)).classes("text-sm text-grey-8")
                        ui.label(value).classes("text-2xl font-semibold").props(
                            f'data-testid="{testid}"'
                        )
            if not by_day:
                ui.label(tr("admin.usage.empty")).props('data-testid="usage-empty"')
            if self.since.value and self.until.value:
                days = days_between(self.since.value, self.until.value)
            else:
                days = [r["day"] for r in by_day]
            per_day = {r["day"]: r for r in by_day}
            sections = (
                ("admin.usage.by_day", "usage-chart-day", days, [per_day.get(d) for d in days]),
                (
                    "admin.usage.by_model",
                    "usage-chart-model",
                    [r["model"] or tr("admin.usage.no_model") for r in by_model],
                    by_model,
                ),
                (
                    "admin.usage.by_key",
                    "usage-chart-key",
                    [
                        names.get(r["key_id"], r["key_id"]) or tr("admin.usage.sessions")
                        for r in by_key
                    ],
                    by_key,
                ),
            )
            for title, testid, categories, rows in sections:
                ui.label(tr(title)).classes("text-lg font-semibold").props(
                    'role="heading" aria-level=2'
                )
                ui.echart(chart(categories, rows, tr), renderer="svg").classes("w-full h-72").props(
                    f'data-testid="{testid}" aria-label="{tr(title)}"'
                )


@ui.page("/admin/usage")
async def usage_page(request: Request) -> RedirectResponse | None:
    user = await gate(request, "admin")
    if isinstance(user, RedirectResponse):
        return user
    with admin_frame(user, "usage"):
        await UsageView(user).build()
    return None
