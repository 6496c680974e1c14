"""Admin › Policies: the organization's guard policies, edited as YAML.

The API validates; this page only points at the lines its problems name, so an admin sees
where to fix a policy instead of a list of field paths.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import yaml
from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import ui

from aigc.console import i18n, layout
from aigc.console.api import ApiError
from aigc.console.attrs import attrs
from aigc.console.pages.admin_common import admin_frame, cell, confirm, table, when
from aigc.console.problems import problem_text
from aigc.console.session import ConsoleUser, gate

NEW_POLICY = """\
name: my-policy
description: What this policy is for.
rules:
  - id: emails
    stage: input
    detector: pii
    entities: [EMAIL_ADDRESS]
    action: redact
"""
STYLE = ".aigc-error-line { background: #fdecea; }"
_YAML_LINE = re.compile(r"line (\d+), column \d+")
_PATH = re.compile(r"^([\w.\-]+): ")

i18n.add(
    {
        "en": {
            "admin.policies.name": "Name",
            "admin.policies.enabled": "Enabled",
            "admin.policies.updated": "Updated",
            "admin.policies.edit": "Edit",
            "admin.policies.new": "New policy",
            "admin.policies.editor": "Policy YAML",
            "admin.policies.editing": "Editing: {name}",
            "admin.policies.creating": "A new policy (its name comes from the YAML)",
            "admin.policies.problems": "The policy was not saved:",
            "admin.policies.line": "line {line}",
            "admin.policies.saved": "Policy {name} saved.",
            "admin.policies.none": "No policies yet: the built-in default policy applies.",
            "admin.policies.help": "Rules have a stage (input, retrieval, output), a detector "
            "(pii, injection, moderation, regex, keywords) and an action (block, redact, "
            "pseudonymize, flag). Saving a policy with an existing name replaces it.",
        },
        "zh-CN": {
            "admin.policies.name": "名称",
            "admin.policies.enabled": "启用",
            "admin.policies.updated": "更新时间",
            "admin.policies.edit": "编辑",
            "admin.policies.new": "新建策略",
            "admin.policies.editor": "策略 YAML",
            "admin.policies.editing": "正在编辑：{name}",
            "admin.policies.creating": "新策略（名称取自 YAML）",
            "admin.policies.problems": "策略未保存：",
            "admin.policies.line": "第 {line} 行",
            "admin.policies.saved": "策略 {name} 已保存。",
            "admin.policies.none": "尚无策略：将使用内置默认策略。",
            "admin.policies.help": "规则包含阶段（input、retrieval、output）、检测器（pii、"
            "injection、moderation、regex、keywords）和动作（block、redact、pseudonymize、"
            "flag）。保存同名策略会替换原策略。",
        },
    }
)


def _node_line(text: str, path: list[str]) -> int | None:
    """1-based line of the YAML node at ``path`` ('rules', '0', 'stage'), or its deepest parent."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for step in path:
        if isinstance(node, yaml.MappingNode):
            found = next(((k, v) for k, v in node.value if str(k.value) == step), None)
            if found is None:
                break
            line, node = found[0].start_mark.line + 1, found[1]
        elif isinstance(node, yaml.SequenceNode) and step.isdigit() and int(step) < len(node.value):
            node = node.value[int(step)]
            line = node.start_mark.line + 1
        else:
            break
    return line


def problem_lines(text: str, message: str) -> list[tuple[int | None, str]]:
    """The API's 'Invalid policy: a; b' message → each problem with the line it points at.

    YAML syntax errors carry 'line N, column M'; schema errors carry a field path such as
    'rules.0.stage', looked up in the document itself.
    """
    body = message.removeprefix("Invalid policy: ")
    problems = [body] if body.startswith("not valid YAML") else body.split("; ")
    result: list[tuple[int | None, str]] = []
    for problem in problems:
        syntax = _YAML_LINE.search(problem)
        path = _PATH.match(problem)
        if syntax:
            line: int | None = int(syntax.group(1))
        elif path and path.group(1) != "policy":
            line = _node_line(text, path.group(1).split("."))
        else:
            line = None
        result.append((line, problem))
    return result


def said_problems(
    tr: i18n.Translator, text: str, details: list[dict[str, Any]]
) -> list[tuple[int | None, str]]:
    """The API's problems by type and values (``details``) → each in the page's language, with
    the line it points at; one whose type has no words here keeps the API's English."""
    result: list[tuple[int | None, str]] = []
    for detail in details:
        loc = detail.get("loc")
        ctx = detail.get("ctx") or {}
        said = problem_text(tr, detail) or str(detail.get("message") or "")
        if detail.get("type") == "yaml_syntax":
            line = ctx.get("line") if isinstance(ctx.get("line"), int) else None
        elif isinstance(loc, str) and loc != "policy":
            line = _node_line(text, loc.split("."))
        else:
            line = None
        shown = f"{loc}: {said}" if isinstance(loc, str) and loc != "policy" else said
        result.append((line, shown))
    return result


class PoliciesView:
    def __init__(self, user: ConsoleUser) -> None:
        self.user = user
        self.tr = user.tr

    async def build(self) -> None:
        tr = self.tr
        ui.add_css(STYLE)
        ui.label(tr("admin.policies.help")).classes("text-sm text-grey-8")
        self.area = ui.column().classes("w-full")
        with ui.card().classes("w-full"):
            with ui.row().classes("items-center w-full"):
                self.heading = ui.label(tr("admin.policies.creating")).classes(
                    "text-lg font-semibold"
                )
                ui.space()
                ui.button(tr("admin.policies.new"), icon="add", on_click=self.new).props(
                    'flat data-testid="policy-new"'
                )
            ui.label(tr("admin.policies.editor")).classes("text-sm")
            self.editor = (
                ui.codemirror(NEW_POLICY, language="YAML", indent="  ")
                .classes("w-full h-80 border")
                .props('data-testid="policy-editor"')
            )
            self.problems = (
                ui.column()
                .classes("w-full gap-1")
                .props('role="alert" data-testid="policy-problems"')
            )
            with ui.row().classes("items-center gap-4"):
                self.enabled = ui.checkbox(tr("admin.policies.enabled"), value=True).props(
                    'data-testid="policy-enabled"'
                )
                ui.button(tr("common.save"), icon="save", on_click=self.save).props(
                    'color=primary data-testid="policy-save"'
                )
        await self.refresh()

    async def refresh(self) -> None:
        try:
            policies = (await self.user.api.get("/api/policies"))["data"]
        except ApiError as exc:
            layout.show_error(self.user, exc)
            return
        tr = self.tr
        self.area.clear()
        with self.area:
            if not policies:
                ui.label(tr("admin.policies.none")).props('data-testid="policies-empty"')
                return
            headers = [
                tr("admin.policies.name"),
                tr("admin.policies.enabled"),
                tr("admin.policies.updated"),
                tr("admin.actions"),
            ]
            with table(headers, "policies-table"):
                for policy in policies:
                    with attrs(
                        ui.element("tr").classes("border-b"),
                        {"data-testid": f"policy-{policy['name']}"},
                    ):
                        cell(policy["name"], "font-mono")
                        with cell():
                            toggle = ui.switch(
                                value=policy["enabled"],
                                on_change=lambda e, p=policy: self.set_enabled(p, e.value),
                            ).props('data-testid="policy-toggle"')
                            label = f"{tr('admin.policies.enabled')}: {policy['name']}"
                            attrs(toggle, {"aria-label": label})
                        cell(when(policy["updated_at"]))
                        with cell(), ui.row().classes("gap-1 no-wrap"):
                            ui.button(
                                tr("admin.policies.edit"), on_click=lambda p=policy: self.edit(p)
                            ).props('flat dense data-testid="policy-edit"')
                            ui.button(
                                tr("common.delete"), on_click=lambda p=policy: self.remove(p)
                            ).props('flat dense color=negative data-testid="policy-delete"')

    def _show_problems(self, found: list[tuple[int | None, str]]) -> None:
        self.problems.clear()
        self.editor.decorations = [
            {"kind": "line", "line": line, "class": "aigc-error-line"} for line, _ in found if line
        ]
        self.editor.line_tooltips = {line: problem for line, problem in found if line}
        if not found:
            return
        with self.problems:
            ui.label(self.tr("admin.policies.problems")).classes("text-negative font-semibold")
            for line, problem in found:
                where = self.tr("admin.policies.line", line=line) + ": " if line else ""
                ui.label(where + problem).classes("text-negative font-mono text-sm").props(
                    'data-testid="policy-problem"'
                )

    def new(self) -> None:
        self.heading.text = self.tr("admin.policies.creating")
        self.editor.value = NEW_POLICY
        self.enabled.value = True
        self._show_problems([])

    def edit(self, policy: dict[str, Any]) -> None:
        self.heading.text = self.tr("admin.policies.editing", name=policy["name"])
        self.editor.value = policy["yaml"]
        self.enabled.value = policy["enabled"]
        self._show_problems([])

    async def save(self) -> None:
        text = self.editor.value or ""
        try:
            saved = await self.user.api.post(
                "/api/policies", {"yaml": text, "enabled": bool(self.enabled.value)}
            )
        except ApiError as exc:
            if exc.code == "invalid_policy" or exc.status == 422:
                found = said_problems(self.tr, text, exc.details) if self.tr.lang != "en" else []
                found = found or problem_lines(text, exc.message) or [(None, exc.message)]
                self._show_problems(found)
            else:
                layout.show_error(self.user, exc)
            return
        self._show_problems([])
        self.heading.text = self.tr("admin.policies.editing", name=saved["name"])
        ui.notify(self.tr("admin.policies.saved", name=saved["name"]), type="positive")
        await self.refresh()

    async def set_enabled(self, policy: dict[str, Any], enabled: bool) -> None:
        if enabled == policy["enabled"]:
            return
        try:
            await self.user.api.post("/api/policies", {"yaml": policy["yaml"], "enabled": enabled})
        except ApiError as exc:
            layout.show_error(self.user, exc)
        await self.refresh()

    async def remove(self, policy: dict[str, Any]) -> None:
        if not await confirm(self.user, self.tr("common.confirm_delete", name=policy["name"])):
            return
        try:
            await self.user.api.delete(f"/api/policies/{quote(policy['name'], safe='')}")
        except ApiError as exc:
            layout.show_error(self.user, exc)
        await self.refresh()


@ui.page("/admin/policies")
async def policies_page(request: Request) -> RedirectResponse | None:
    user = await gate(request, "admin")
    if isinstance(user, RedirectResponse):
        return user
    with admin_frame(user, "policies"):
        await PoliciesView(user).build()
    return None
