"""Console: the Models page (what is registered, where it runs, how busy it is).

Everyone sees the models their organization may use, with what ``GET /api/models/{id}/status``
says about each (loaded, device, memory, queue, running batch). Admins add upstreams (the API
key is sent once and never shown again), see the upstream allow-list (the platform admin edits
it) and delete their organization's models; the platform admin also registers local
checkpoints by server path (the API checks the import roots).
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import ui

from aigc.console import i18n, layout
from aigc.console.api import ApiError
from aigc.console.pages.models_allowlist import allowlist_card
from aigc.console.session import ConsoleUser, gate

# Families a local checkpoint folder can be registered as (``POST /api/models`` with a path).

i18n.add(
    {
        "en": {
            "models.col.name": "Name",
            "models.col.family": "Family",
            "models.col.kind": "Kind",
            "models.col.status": "Status",
            "models.col.loaded": "Loaded",
            "models.col.device": "Device",
            "models.col.memory": "Memory",
            "models.col.queue": "Queue",
            "models.col.running": "Running",
            "models.col.actions": "Actions",
            "models.yes": "yes",
            "models.no": "no",
            "models.shared": "shared",
            "models.state.ready": "ready",
            "models.state.training": "training",
            "models.state.failed": "failed",
            "models.kind.text": "text",
            "models.kind.image": "image",
            "models.kind.multimodal": "multimodal",
            "models.chat": "Chat",
            "models.count": "{n} models",
            "models.add_upstream": "Add an upstream",
            "models.add_upstream.help": "Any OpenAI-compatible server (vLLM, Ollama, another "
            "aigc). The API key is stored encrypted and never shown again.",
            "models.add_checkpoint": "Add a local checkpoint",
            "models.add_checkpoint.help": "A model folder on this server, under the import "
            "roots (AIGC_IMPORT_ROOTS).",
            "models.field.name": "Model id",
            "models.field.family": "Family",
            "models.field.path": "Folder on the server",
            "models.field.base_url": "Base URL",
            "models.field.upstream_model": "Model name at the upstream",
            "models.field.api_key": "API key (optional)",
            "models.add": "Add",
            "models.added": "Added {name}.",
            "models.deleted": "Deleted {name}.",
            "models.status_unknown": "status unavailable",
        },
        "zh-CN": {
            "models.col.name": "名称",
            "models.col.family": "类别",
            "models.col.kind": "类型",
            "models.col.status": "状态",
            "models.col.loaded": "已加载",
            "models.col.device": "设备",
            "models.col.memory": "内存",
            "models.col.queue": "排队",
            "models.col.running": "运行中",
            "models.col.actions": "操作",
            "models.yes": "是",
            "models.no": "否",
            "models.shared": "共享",
            "models.state.ready": "就绪",
            "models.state.training": "训练中",
            "models.state.failed": "失败",
            "models.kind.text": "文本",
            "models.kind.image": "图像",
            "models.kind.multimodal": "多模态",
            "models.chat": "对话",
            "models.count": "共 {n} 个模型",
            "models.add_upstream": "添加上游服务",
            "models.add_upstream.help": "任何兼容 OpenAI 的服务（vLLM、Ollama、另一个 aigc）。"
            "API 密钥加密保存，之后不再显示。",
            "models.add_checkpoint": "添加本地检查点",
            "models.add_checkpoint.help": "本服务器上的模型目录，须位于导入根目录"
            "（AIGC_IMPORT_ROOTS）之下。",
            "models.field.name": "模型 ID",
            "models.field.family": "类别",
            "models.field.path": "服务器上的目录",
            "models.field.base_url": "基础 URL",
            "models.field.upstream_model": "上游的模型名",
            "models.field.api_key": "API 密钥（可选）",
            "models.add": "添加",
            "models.added": "已添加 {name}。",
            "models.deleted": "已删除 {name}。",
            "models.status_unknown": "状态不可用",
        },
    }
)

_ACTIONS_SLOT = r"""
<q-td :props="props" class="q-gutter-xs">
  <q-btn v-if="props.row.ready" flat dense size="sm" color="primary" icon="chat"
         :label="props.row.chat_label" :href="props.row.chat_href"
         :data-testid="'chat-' + props.row.name" />
  <q-btn v-if="props.row.deletable" flat dense size="sm" color="negative" icon="delete"
         :aria-label="props.row.delete_label + ' ' + props.row.name"
         :data-testid="'delete-' + props.row.name"
         @click="() => $parent.$emit('delete', props.row)" />
</q-td>
"""


def megabytes(size: Any) -> str:
    return f"{size / 2**20:,.1f} MB" if isinstance(size, int | float) and size else "—"


def _word(user: ConsoleUser, group: str, value: str) -> str:
    """A status or kind the API names, in the page's language (an unknown one as it is)."""
    key = f"models.{group}.{value}"
    shown = user.tr(key)
    return value if shown == key else shown


def status_row(user: ConsoleUser, model: dict[str, Any], status: dict[str, Any] | None) -> dict:
    """One table row: the model's listing plus what its status endpoint says."""
    tr = user.tr
    status = status or {}
    engine = status.get("engine") or {}
    gate_view = status.get("concurrency") or {}
    queue = engine.get("waiting", gate_view.get("waiting"))
    running = engine.get("running", gate_view.get("active"))
    state = model.get("status", "")
    return {
        "name": model["id"],
        "family": model.get("family", ""),
        "kind": _word(user, "kind", model.get("kind", "")),
        "status": _word(user, "state", state)
        + (f" · {tr('models.shared')}" if model.get("shared") else ""),
        "loaded": (tr("models.yes") if status.get("loaded") else tr("models.no"))
        if status
        else tr("models.status_unknown"),
        "device": status.get("device") or "—",
        "memory": megabytes(status.get("memory_bytes")),
        "queue": "—" if queue is None else queue,
        "running": "—" if running is None else running,
        "ready": state == "ready" and model.get("kind", "text") == "text",
        "chat_href": f"/chat?model={quote(model['id'])}",
        "chat_label": tr("models.chat"),
        "deletable": user.is_admin and (not model.get("shared") or user.principal.platform_admin),
        "delete_label": tr("common.delete"),
    }


async def load_rows(user: ConsoleUser) -> list[dict[str, Any]]:
    """Every visible model with its status, the status calls made side by side."""
    models = (await user.api.get("/api/models"))["data"]

    async def status(name: str) -> dict[str, Any] | None:
        try:
            return await user.api.get(f"/api/models/{quote(name, safe='')}/status")
        except ApiError:
            return None  # deleted meanwhile, or the status is unavailable: the row says so

    statuses = await asyncio.gather(*(status(m["id"]) for m in models))
    return [status_row(user, m, s) for m, s in zip(models, statuses, strict=True)]


def columns(user: ConsoleUser) -> list[dict[str, Any]]:
    tr = user.tr
    names = ("name", "family", "kind", "status", "loaded", "device", "memory", "queue", "running")
    cols = [
        {"name": n, "label": tr(f"models.col.{n}"), "field": n, "align": "left", "sortable": True}
        for n in names
    ]
    return [*cols, {"name": "actions", "label": tr("models.col.actions"), "field": "name"}]


@ui.page("/models")
async def models_page(request: Request) -> RedirectResponse | None:
    user = await gate(request, "viewer")
    if isinstance(user, RedirectResponse):
        return user
    tr = user.tr
    with layout.frame(user, "/models", "nav.models"):
        with ui.row().classes("items-center gap-4"):
            refresh_button = ui.button(tr("common.refresh"), icon="refresh").props(
                'outline data-testid="models-refresh"'
            )
            count = ui.label("").classes("text-sm text-grey-8").props('data-testid="models-count"')
        table = (
            ui.table(columns=columns(user), rows=[], row_key="name")
            .classes("w-full")
            .props('flat bordered data-testid="models-table"')
        )
        table.add_slot("body-cell-actions", _ACTIONS_SLOT)

        async def refresh() -> None:
            try:
                rows = await load_rows(user)
            except ApiError as exc:
                layout.show_error(user, exc)
                return
            table.rows = rows
            table.update()
            count.text = tr("models.count", n=len(rows))

        refresh_button.on_click(refresh)
        table.on("delete", lambda e: confirm_delete(user, e.args["name"], refresh))
        if user.is_admin:
            with ui.row().classes("w-full gap-4 items-start"):
                upstream_form(user, refresh)
                await allowlist_card(user)
                if user.principal.platform_admin:
                    listed = (await user.api.get("/api/families"))["data"]
                    folders = [f["name"] for f in listed if f.get("from_folder")]
                    checkpoint_form(user, refresh, folders)
        await refresh()
    return None


async def confirm_delete(user: ConsoleUser, name: str, after: Any) -> None:
    """Ask first; deleting a model cannot be undone."""
    tr = user.tr
    if not await layout.confirm(user, tr("common.confirm_delete", name=name)):
        return
    try:
        await user.api.delete(f"/api/models/{quote(name, safe='')}")
    except ApiError as exc:
        layout.show_error(user, exc)
        return
    ui.notify(tr("models.deleted", name=name), type="positive")
    await after()


def upstream_form(user: ConsoleUser, after: Any) -> None:
    tr = user.tr
    with ui.card().classes("w-96 items-stretch").props('data-testid="upstream-form"'):
        ui.label(tr("models.add_upstream")).classes("text-lg font-medium").props(
            'role="heading" aria-level=2'
        )
        ui.label(tr("models.add_upstream.help")).classes("text-sm text-grey-8")
        name = ui.input(tr("models.field.name")).props(
            'prefix="upstream-" outlined dense data-testid="upstream-name"'
        )
        base_url = ui.input(tr("models.field.base_url"), placeholder="https://…/v1").props(
            'outlined dense type=url data-testid="upstream-url"'
        )
        remote = ui.input(tr("models.field.upstream_model")).props(
            'outlined dense data-testid="upstream-model"'
        )
        key = ui.input(tr("models.field.api_key"), password=True).props(
            'outlined dense autocomplete="off" data-testid="upstream-key"'
        )

        async def add() -> None:
            model_id = f"upstream-{(name.value or '').strip()}"
            config: dict[str, Any] = {
                "base_url": (base_url.value or "").strip(),
                "model": (remote.value or "").strip(),
            }
            if key.value:
                config["api_key"] = key.value
            try:
                await user.api.post("/api/models", {"id": model_id, "config": config})
            except ApiError as exc:
                layout.show_error(user, exc)
                return
            finally:
                key.value = ""  # write-only: never kept in the page once sent
            name.value = base_url.value = remote.value = ""
            ui.notify(tr("models.added", name=model_id), type="positive")
            await after()

        ui.button(tr("models.add"), icon="add", on_click=add).props(
            'color=primary data-testid="upstream-add"'
        )


def checkpoint_form(user: ConsoleUser, after: Any, families: list[str]) -> None:
    """Register a model folder under the import roots, for the families that load one
    (``from_folder`` in ``GET /api/families``)."""
    tr = user.tr
    with ui.card().classes("w-96 items-stretch").props('data-testid="checkpoint-form"'):
        ui.label(tr("models.add_checkpoint")).classes("text-lg font-medium").props(
            'role="heading" aria-level=2'
        )
        ui.label(tr("models.add_checkpoint.help")).classes("text-sm text-grey-8")
        first = families[0] if families else ""
        family = ui.select(families, value=first, label=tr("models.field.family"))
        family.props('outlined dense data-testid="checkpoint-family"')
        name = ui.input(tr("models.field.name")).props(
            f'prefix="{first}-" outlined dense data-testid="checkpoint-name"'
        )
        family.on_value_change(lambda e: name.props(f'prefix="{e.value}-"'))
        path = ui.input(tr("models.field.path"), placeholder="/srv/models/…").props(
            'outlined dense data-testid="checkpoint-path"'
        )

        async def add() -> None:
            model_id = f"{family.value}-{(name.value or '').strip()}"
            body = {"id": model_id, "config": {"path": (path.value or "").strip()}}
            try:
                await user.api.post("/api/models", body)
            except ApiError as exc:
                layout.show_error(user, exc)
                return
            name.value = path.value = ""
            ui.notify(tr("models.added", name=model_id), type="positive")
            await after()

        ui.button(tr("models.add"), icon="add", on_click=add).props(
            'color=primary data-testid="checkpoint-add"'
        )
