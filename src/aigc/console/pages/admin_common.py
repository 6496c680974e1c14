"""What every admin sub-page shares: the section tabs, a confirmation dialog, small formatters."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from nicegui import ui

from aigc.console import i18n, layout
from aigc.console.session import ConsoleUser

# (path segment, translation key): the order of the tabs above every admin page
SECTIONS = (
    ("users", "admin.tab.users"),
    ("keys", "admin.tab.keys"),
    ("policies", "admin.tab.policies"),
    ("usage", "admin.tab.usage"),
    ("audit", "admin.tab.audit"),
    ("tenants", "admin.tab.tenants"),
    ("sso", "admin.tab.sso"),
)
ROLES = ("viewer", "member", "admin", "owner")

i18n.add(
    {
        "en": {
            "admin.tab.users": "Users and roles",
            "admin.tab.keys": "API keys",
            "admin.tab.policies": "Policies",
            "admin.tab.usage": "Usage",
            "admin.tab.audit": "Audit log",
            "admin.tab.tenants": "Organizations",
            "admin.sections": "Admin sections",
            "admin.confirm": "Confirm",
            "admin.role.viewer": "Viewer",
            "admin.role.member": "Member",
            "admin.role.admin": "Admin",
            "admin.role.owner": "Owner",
            "admin.actions": "Actions",
            "admin.created": "Created",
            "admin.state": "State",
            "admin.active": "Active",
            "admin.disabled": "Disabled",
            "admin.disable": "Disable",
            "admin.enable": "Enable",
            "admin.saved": "Saved.",
            "admin.since": "From",
            "admin.until": "To",
            "admin.apply": "Apply",
            "admin.tenant": "Organization",
            "admin.limit_range": "A whole number of at least 1, or empty for no limit.",
        },
        "zh-CN": {
            "admin.tab.users": "用户与角色",
            "admin.tab.keys": "API 密钥",
            "admin.tab.policies": "策略",
            "admin.tab.usage": "用量",
            "admin.tab.audit": "审计日志",
            "admin.tab.tenants": "组织",
            "admin.sections": "管理分区",
            "admin.confirm": "确认",
            "admin.role.viewer": "只读",
            "admin.role.member": "成员",
            "admin.role.admin": "管理员",
            "admin.role.owner": "所有者",
            "admin.actions": "操作",
            "admin.created": "创建时间",
            "admin.state": "状态",
            "admin.active": "有效",
            "admin.disabled": "已停用",
            "admin.disable": "停用",
            "admin.enable": "启用",
            "admin.saved": "已保存。",
            "admin.since": "开始日期",
            "admin.until": "结束日期",
            "admin.apply": "应用",
            "admin.tenant": "组织",
            "admin.limit_range": "请输入不小于 1 的整数，或留空表示不限。",
        },
    }
)


@contextmanager
def admin_frame(user: ConsoleUser, section: str) -> Iterator[None]:
    """The console frame plus a row of section tabs, the current one marked for screen readers."""
    with layout.frame(user, f"/admin/{section}", "nav.admin"):
        with (
            ui.element("nav").props(f'aria-label="{user.tr("admin.sections")}"'),
            ui.row().classes("gap-1 border-b w-full"),
        ):
            for slug, key in SECTIONS:
                current = slug == section
                link = ui.link(user.tr(key), f"/admin/{slug}").classes(
                    "px-3 py-2 no-underline rounded-t "
                    + ("bg-blue-1 text-black font-bold" if current else "text-grey-8")
                )
                link.props(f'data-testid="admin-tab-{slug}"')
                if current:
                    link.props('aria-current="page"')
        yield


def role_options(user: ConsoleUser) -> dict[str, str]:
    """Roles this user may hand out (only an owner, or the platform admin, makes owners)."""
    allowed = [r for r in ROLES if r != "owner" or user.at_least("owner")]
    if user.principal.platform_admin:
        allowed = list(ROLES)
    return {r: user.tr(f"admin.role.{r}") for r in allowed}


def when(unix: int | float | None) -> str:
    """A Unix time as 'YYYY-MM-DD HH:MM' UTC, or a dash."""
    if not unix:
        return "—"
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%d %H:%M")


async def confirm(user: ConsoleUser, message: str) -> bool:
    """The console's confirmation dialog, with a "Confirm" button (revoke, disable, delete)."""
    return await layout.confirm(user, message, user.tr("admin.confirm"))


@contextmanager
def table(headers: list[str], testid: str) -> Iterator[None]:
    """A plain HTML table (native semantics for screen readers); rows go in with ``cells``."""
    with (
        ui.element("div").classes("w-full overflow-x-auto"),
        ui.element("table").classes("w-full text-sm").props(f'data-testid="{testid}"'),
    ):
        with ui.element("thead"), ui.element("tr").classes("text-left border-b"):
            for header in headers:
                with ui.element("th").classes("px-2 py-1 font-semibold").props('scope="col"'):
                    ui.label(header)
        with ui.element("tbody"):
            yield


def cell(text: Any = "", classes: str = "") -> ui.element:
    """One table cell holding ``text`` (callers may add more inside with ``with``)."""
    with ui.element("td").classes("px-2 py-1 align-middle " + classes) as td:
        if text != "":
            ui.label(str(text))
    return td


async def tenant_choices(user: ConsoleUser) -> dict[str, str] | None:
    """Organizations a platform admin may look into (id → name); None for everyone else."""
    if not user.principal.platform_admin:
        return None
    tenants = (await user.api.get("/api/tenants"))["data"]
    return {t["id"]: t["name"] for t in tenants}


def day_range(days: int) -> tuple[str, str]:
    """The last ``days`` days up to today (UTC, as the audit log counts days), as ISO dates."""
    today = datetime.now(UTC).date()
    return (today - timedelta(days=days - 1)).isoformat(), today.isoformat()


def limit_field(user: ConsoleUser, label_key: str, testid: str) -> ui.number:
    """A positive whole-number limit, empty for none. Out of range is refused with a message
    under the field, never changed behind the person's back: ``ui.number(min=1)`` turns -5 or
    0 into 1 when the field loses focus, and a limit nobody chose is then saved."""
    return ui.number(
        user.tr(label_key),
        format="%d",
        validation={user.tr("admin.limit_range"): valid_limit},
    ).props(f'outlined dense data-testid="{testid}"')


def valid_limit(value: float | None) -> bool:
    """Empty (no limit) or a whole number of at least 1."""
    return value is None or (value >= 1 and float(value).is_integer())
