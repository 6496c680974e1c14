"""Admin › Users and roles: people of the organization, their roles, and groups."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import ui

from aigc.console import i18n, layout
from aigc.console.api import ApiError
from aigc.console.attrs import attrs
from aigc.console.pages.admin_common import admin_frame, cell, confirm, role_options, table, when
from aigc.console.session import ConsoleUser, gate

i18n.add(
    {
        "en": {
            "admin.users.new": "New user",
            "admin.users.username": "Username",
            "admin.users.display_name": "Display name",
            "admin.users.password": "Password (at least 8 characters)",
            "admin.users.role": "Role",
            "admin.users.created": "User {name} created.",
            "admin.users.role_changed": "{name} is now {role}.",
            "admin.users.you": "(you)",
            "admin.groups.title": "Groups",
            "admin.groups.name": "Group name",
            "admin.groups.members": "Members",
            "admin.groups.add": "Add member",
            "admin.groups.remove": "Remove {name} from the group",
        },
        "zh-CN": {
            "admin.users.new": "新建用户",
            "admin.users.username": "用户名",
            "admin.users.display_name": "显示名称",
            "admin.users.password": "密码（至少 8 个字符）",
            "admin.users.role": "角色",
            "admin.users.created": "已创建用户 {name}。",
            "admin.users.role_changed": "{name} 的角色已改为{role}。",
            "admin.users.you": "（您）",
            "admin.groups.title": "用户组",
            "admin.groups.name": "组名",
            "admin.groups.members": "成员",
            "admin.groups.add": "添加成员",
            "admin.groups.remove": "将 {name} 移出该组",
        },
    }
)


class UsersView:
    """The user list with inline role changes, the create form, and the groups below."""

    def __init__(self, user: ConsoleUser) -> None:
        self.user = user
        self.tr = user.tr
        self.users: list[dict[str, Any]] = []

    async def build(self) -> None:
        tr = self.tr
        with ui.card().classes("w-full"):
            ui.label(tr("admin.users.new")).classes("text-lg font-semibold")
            with ui.row().classes("items-end gap-3 w-full"):
                self.username = ui.input(tr("admin.users.username")).props(
                    'outlined dense data-testid="user-username"'
                )
                self.display = ui.input(tr("admin.users.display_name")).props(
                    'outlined dense data-testid="user-display"'
                )
                self.password = ui.input(tr("admin.users.password"), password=True).props(
                    'outlined dense autocomplete="new-password" data-testid="user-password"'
                )
                self.role = ui.select(
                    role_options(self.user), value="member", label=tr("admin.users.role")
                ).props('outlined dense data-testid="user-role"')
                ui.button(tr("common.create"), icon="person_add", on_click=self.create).props(
                    'color=primary data-testid="user-create"'
                )
        self.area = ui.column().classes("w-full gap-2")
        self.groups_area = ui.column().classes("w-full gap-2")
        await self.refresh()

    async def refresh(self) -> None:
        try:
            self.users = (await self.user.api.get("/api/users"))["data"]
            groups = (await self.user.api.get("/api/groups"))["data"]
        except ApiError as exc:
            layout.show_error(self.user, exc)
            return
        self.area.clear()
        with self.area:
            self._user_table()
        self.groups_area.clear()
        with self.groups_area:
            self._groups(groups)

    def _user_table(self) -> None:
        tr = self.tr
        headers = [
            tr("admin.users.username"),
            tr("admin.users.display_name"),
            tr("admin.users.role"),
            tr("admin.state"),
            tr("admin.created"),
            tr("admin.actions"),
        ]
        options = role_options(self.user)
        with table(headers, "users-table"):
            for row in self.users:
                me = row["id"] == self.user.principal.user_id
                with attrs(
                    ui.element("tr").classes("border-b"), {"data-testid": f"user-{row['username']}"}
                ):
                    cell(row["username"] + (" " + tr("admin.users.you") if me else ""))
                    cell(row["display_name"])
                    with cell():
                        choices = options | {row["role"]: tr(f"admin.role.{row['role']}")}
                        ui.select(
                            choices,
                            value=row["role"],
                            on_change=lambda e, r=row: self.change_role(r, e.value),
                        ).props(
                            f'dense outlined aria-label="{tr("admin.users.role")}" '
                            'data-testid="user-role-select"'
                        ).set_enabled(not me and row["role"] in options)
                    cell(tr("admin.disabled") if row["disabled"] else tr("admin.active"))
                    cell(when(row["created_at"]))
                    with cell(), ui.row().classes("gap-1 no-wrap"):
                        if not me:
                            ui.button(
                                tr("admin.enable") if row["disabled"] else tr("admin.disable"),
                                on_click=lambda r=row: self.toggle(r),
                            ).props('flat dense data-testid="user-toggle"')
                            ui.button(
                                tr("common.delete"), on_click=lambda r=row: self.remove(r)
                            ).props('flat dense color=negative data-testid="user-delete"')

    def _groups(self, groups: list[dict[str, Any]]) -> None:
        tr = self.tr
        names = {u["id"]: u["username"] for u in self.users}
        ui.label(tr("admin.groups.title")).classes("text-lg font-semibold mt-4")
        with ui.row().classes("items-end gap-3"):
            name = ui.input(tr("admin.groups.name")).props(
                'outlined dense data-testid="group-name"'
            )
            ui.button(
                tr("common.create"), icon="group_add", on_click=lambda: self.create_group(name)
            ).props('data-testid="group-create"')
        for group in groups:
            with (
                attrs(ui.card().classes("w-full"), {"data-testid": f"group-{group['name']}"}),
                ui.row().classes("items-center gap-2 w-full"),
            ):
                ui.label(group["name"]).classes("font-semibold min-w-32")
                for member in group["members"]:
                    chip = ui.chip(
                        names.get(member, member),
                        removable=True,
                        on_value_change=lambda _e, g=group, m=member: self.unassign(g, m),
                    )
                    remove = tr("admin.groups.remove", name=names.get(member, member))
                    attrs(chip, {"aria-label": remove})
                candidates = {uid: n for uid, n in names.items() if uid not in group["members"]}
                if candidates:
                    ui.select(
                        candidates,
                        label=tr("admin.groups.add"),
                        on_change=lambda e, g=group: self.assign(g, e.value),
                    ).props('dense outlined data-testid="group-add-member"').classes("min-w-48")
                ui.space()
                ui.button(tr("common.delete"), on_click=lambda g=group: self.delete_group(g)).props(
                    'flat dense color=negative data-testid="group-delete"'
                )

    async def _act(self, call: Any, note: str | None = None) -> bool:
        """Run one API call, tell the user how it went, and redraw the lists."""
        try:
            await call
        except ApiError as exc:
            layout.show_error(self.user, exc)
            await self.refresh()
            return False
        if note:
            ui.notify(note, type="positive")
        await self.refresh()
        return True

    async def create(self) -> None:
        body = {
            "username": (self.username.value or "").strip(),
            "display_name": (self.display.value or "").strip(),
            "password": self.password.value or "",
            "role": self.role.value,
        }
        note = self.tr("admin.users.created", name=body["username"])
        if await self._act(self.user.api.post("/api/users", body), note):
            self.username.value = self.display.value = self.password.value = ""

    async def change_role(self, row: dict[str, Any], role: str) -> None:
        if role == row["role"]:
            return
        note = self.tr(
            "admin.users.role_changed", name=row["username"], role=self.tr(f"admin.role.{role}")
        )
        await self._act(self.user.api.patch(f"/api/users/{row['id']}", {"role": role}), note)

    async def toggle(self, row: dict[str, Any]) -> None:
        if not row["disabled"] and not await confirm(
            self.user, f"{self.tr('admin.disable')}: {row['username']}?"
        ):
            return
        body = {"disabled": not row["disabled"]}
        await self._act(
            self.user.api.patch(f"/api/users/{row['id']}", body), self.tr("admin.saved")
        )

    async def remove(self, row: dict[str, Any]) -> None:
        if await confirm(self.user, self.tr("common.confirm_delete", name=row["username"])):
            await self._act(self.user.api.delete(f"/api/users/{row['id']}"))

    async def create_group(self, name: ui.input) -> None:
        if await self._act(self.user.api.post("/api/groups", {"name": name.value or ""})):
            name.value = ""

    async def delete_group(self, group: dict[str, Any]) -> None:
        if await confirm(self.user, self.tr("common.confirm_delete", name=group["name"])):
            await self._act(self.user.api.delete(f"/api/groups/{group['id']}"))

    async def assign(self, group: dict[str, Any], user_id: str | None) -> None:
        if user_id:
            body = {"user_id": user_id}
            await self._act(self.user.api.post(f"/api/groups/{group['id']}/members", body))

    async def unassign(self, group: dict[str, Any], user_id: str) -> None:
        await self._act(self.user.api.delete(f"/api/groups/{group['id']}/members/{user_id}"))


@ui.page("/admin/users")
async def users_page(request: Request) -> RedirectResponse | None:
    user = await gate(request, "admin")
    if isinstance(user, RedirectResponse):
        return user
    with admin_frame(user, "users"):
        await UsersView(user).build()
    return None
