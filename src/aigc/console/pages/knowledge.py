"""Console: knowledge bases — list and create, documents (upload, status, delete), access
grants, retrieval test and the chunk viewer that chat citations link to.

Everything goes through ``/api/kb`` as the signed-in user, so the tenant and grant checks of
``aigc.knowledge.bases`` decide what a person sees: a KB they may not read is "not found"
here exactly as in the API. Citation links have the form
``/knowledge/{kb_id}/documents/{doc_id}?chunk={chunk_id}`` (see ``chunk_url``).

The pages are here; the retrieval and access tabs are components of their own
(``knowledge_panels``), and what pages, panels and the chat page share is in
``knowledge_common``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import events, ui

from aigc.console import layout
from aigc.console.api import ApiError
from aigc.console.i18n import add
from aigc.console.pages.knowledge_common import (
    PROCESSING,
    can_manage,
    can_write,
    chunk_url,
    failure_reason,
    file_size,
    missing,
    read_notes,
    refusal_text,
    shown_status,
    status_chip,
    update_failed,
    when,
    with_testid,
)
from aigc.console.pages.knowledge_lines import ingest_line
from aigc.console.pages.knowledge_panels import AccessPanel, SearchPanel
from aigc.console.session import ConsoleUser, gate, services
from aigc.console.uploads import labelled_upload

POLL_S = 1.0
PROCESSING_JOBS = ("queued", "running")


# --- /knowledge: the list and "new knowledge base" -----------------------------------------


@ui.page("/knowledge")
async def knowledge_list(request: Request) -> RedirectResponse | None:
    user = await gate(request)
    if isinstance(user, RedirectResponse):
        return user
    tr = user.tr
    with layout.frame(user, "/knowledge", "nav.knowledge"):
        if user.at_least("member"):
            _create_form(user)
        try:
            kbs = (await user.api.get("/api/kb"))["data"]
        except ApiError as exc:
            layout.show_error(user, exc)
            kbs = []
        if not kbs:
            ui.label(tr("kb.empty")).props('data-testid="kb-empty"')
        with ui.column().classes("w-full gap-2").props('role="list"'):
            for kb in kbs:
                with ui.card().classes("w-full").props('role="listitem" data-testid="kb-item"'):
                    ui.link(kb["name"], f"/knowledge/{kb['id']}").classes("text-lg font-medium")
                    if kb["description"]:
                        ui.label(kb["description"]).classes("text-grey-8")
                    ui.label(tr("kb.created", at=when(kb["created_at"]))).classes(
                        "text-xs text-grey-7"
                    )
    return None


def _create_form(user: ConsoleUser) -> None:
    tr = user.tr
    visibility = {"tenant": tr("kb.visibility.tenant"), "private": tr("kb.visibility.private")}
    with (
        ui.expansion(tr("kb.new"), icon="add")
        .classes("w-full border rounded")
        .props('data-testid="kb-new"')
    ):
        name = ui.input(tr("kb.name")).props('outlined data-testid="kb-name"').classes("w-full")
        description = (
            ui.input(tr("kb.description"))
            .props('outlined data-testid="kb-description"')
            .classes("w-full")
        )
        access = ui.select(visibility, value="tenant", label=tr("kb.visibility")).props(
            'outlined data-testid="kb-visibility"'
        )

        async def create() -> None:
            body: dict[str, Any] = {"name": name.value or "", "description": description.value}
            if access.value == "private":
                body["access"] = []  # admins, and the creator's own grant added by the API
            try:
                kb = await user.api.post("/api/kb", body)
            except ApiError as exc:
                layout.show_error(user, exc)
                return
            ui.navigate.to(f"/knowledge/{kb['id']}")

        ui.button(tr("common.create"), icon="add", on_click=create).props(
            'color=primary data-testid="kb-create"'
        )


# --- /knowledge/{kb_id}: documents, search, access ------------------------------------------


@ui.page("/knowledge/{kb_id}")
async def knowledge_base(request: Request, kb_id: str) -> RedirectResponse | None:
    user = await gate(request)
    if isinstance(user, RedirectResponse):
        return user
    with layout.frame(user, f"/knowledge/{kb_id}", "nav.knowledge"):
        try:
            kb = await user.api.get(f"/api/kb/{quote(kb_id, safe='')}")
        except ApiError as exc:
            missing(user, exc)
            return None
        await KbPage(user, kb).build()
    return None


class KbPage:
    """One knowledge base's page: its documents stay fresh while any is being processed."""

    def __init__(self, user: ConsoleUser, kb: dict[str, Any]) -> None:
        self.user = user
        self.kb = kb
        self.base = f"/api/kb/{quote(kb['id'], safe='')}"
        self.writable = can_write(user, kb)
        self.manageable = can_manage(user, kb)
        self.docs: list[dict[str, Any]] = []
        self.uploads: dict[str, dict[str, Any]] = {}  # filename → {status, error, doc}
        self.job_id: str | None = None  # the latest upload's ingestion job, while shown
        self.job_line: ui.label | None = None
        self.doc_area: ui.column
        self.upload_area: ui.column
        self.timer: ui.timer

    async def build(self) -> None:
        tr = self.user.tr
        with ui.row().classes("w-full items-center justify-between"):
            with ui.column().classes("gap-0"):
                ui.label(self.kb["name"]).classes("text-xl font-medium").props(
                    'data-testid="kb-title"'
                )
                if self.kb["description"]:
                    ui.label(self.kb["description"]).classes("text-grey-8")
            with ui.row():
                ui.link(tr("kb.back"), "/knowledge")
                if self.manageable:
                    ui.button(tr("kb.delete"), icon="delete", on_click=self.delete_kb).props(
                        'outline color=negative data-testid="kb-delete"'
                    )
        with ui.tabs().classes("w-full") as tabs:
            docs_tab = ui.tab(tr("kb.tab.documents")).props('data-testid="tab-documents"')
            search_tab = ui.tab(tr("kb.tab.search")).props('data-testid="tab-search"')
            access_tab = ui.tab(tr("kb.tab.access")).props('data-testid="tab-access"')
        with ui.tab_panels(tabs, value=docs_tab).classes("w-full"):
            with ui.tab_panel(docs_tab):
                self._documents_panel()
            with ui.tab_panel(search_tab):
                SearchPanel(self.user, self.kb["id"], self.base).build()
            with ui.tab_panel(access_tab):
                await AccessPanel(self.user, self.kb, self.manageable).build()
        self.timer = ui.timer(POLL_S, self.refresh, active=False)
        await self.refresh()

    def _documents_panel(self) -> None:
        tr = self.user.tr
        if self.writable:
            ui.label(tr("kb.upload.hint")).classes("text-sm text-grey-8")
            # No "accept": the API names what it refuses.
            most = services().settings.kb_max_document_bytes
            labelled_upload(
                self.user, tr("kb.upload"), self.on_upload, max_bytes=most, multiple=True
            ).props('data-testid="kb-upload"').classes("w-full")
            self.upload_area = (
                ui.column()
                .classes("w-full gap-1")
                .props('data-testid="upload-status" aria-live="polite"')
            )
            # what the ingestion job says it is doing, in the page's language
            self.job_line = ui.label("").classes("text-sm text-grey-8")
            self.job_line.props('data-testid="ingest-line"')
            self.job_line.set_visibility(False)
        ui.label(tr("kb.documents")).classes("text-lg font-medium")
        self.doc_area = ui.column().classes("w-full gap-1").props('aria-live="polite"')

    # -- uploads: browser → console (QUploader's own bar) → API (status here) → ingestion --

    async def on_upload(self, event: events.UploadEventArguments) -> None:
        name = event.file.name
        self.uploads[name] = {"status": "uploading", "error": None, "doc": None}
        self._render_uploads()
        try:
            data = await event.file.read()
            answer = await self.user.api.post(
                f"{self.base}/documents",
                files=[("files", (name, data, event.file.content_type or "text/plain"))],
            )
            result = answer["data"][0]
            self.job_id = (answer.get("job") or {}).get("id") or self.job_id
        except ApiError as exc:  # one file a request: its refusal is the request's error
            result = {
                "error": {
                    "message": exc.message,
                    "code": exc.code,
                    "status": exc.status,
                    "details": exc.details,
                }
            }
        if "id" not in result:  # refused: the API says why for this file alone
            error = result["error"]
            reason = refusal_text(
                self.user.tr,
                error.get("message") or "",
                error.get("code"),
                error.get("status", 400),
                error.get("details"),
            )
            self.uploads[name] = {"status": "failed", "error": reason, "doc": None}
        else:
            self.uploads[name] = {
                "status": shown_status(result["status"]),
                "error": result.get("error"),
                "doc": result["id"],
            }
        self._render_uploads()
        await self.refresh()

    def _render_uploads(self) -> None:
        self.upload_area.clear()
        with self.upload_area:
            for name, state in self.uploads.items():
                with with_testid(ui.row().classes("items-center gap-2"), "upload-row"):
                    ui.label(name).classes("font-medium")
                    status_chip(self.user, state["status"])
                    if state["error"]:
                        ui.label(state["error"]).classes("text-negative text-sm").props(
                            'data-testid="upload-error"'
                        )

    # -- the document list, polled while anything is processing --

    async def refresh(self) -> None:
        try:
            docs = (await self.user.api.get(f"{self.base}/documents"))["data"]
        except ApiError as exc:
            self.timer.active = False
            layout.show_error(self.user, exc)
            return
        by_id = {d["id"]: d for d in docs}
        changed_uploads = False
        for state in self.uploads.values():
            doc = by_id.get(state["doc"] or "")
            if doc is not None and shown_status(doc["status"]) != state["status"]:
                state["status"] = shown_status(doc["status"])
                state["error"] = failure_reason(self.user, doc) if doc["error"] else None
                changed_uploads = True
        if changed_uploads and self.writable:
            self._render_uploads()
        await self._show_job_line()
        if docs != self.docs or not self.doc_area.default_slot.children:
            self.docs = docs
            self._render_docs()
        self.timer.active = self.job_id is not None or any(d["status"] in PROCESSING for d in docs)

    async def _show_job_line(self) -> None:
        """The latest upload's ingestion job's line (``ingest_line``), kept once it ends."""
        if self.job_id is None or self.job_line is None:
            return
        try:
            job = await self.user.api.get(f"/api/jobs/{quote(self.job_id, safe='')}")
        except ApiError:  # the line is a courtesy: the documents' statuses say the rest
            return
        self.job_line.text = ingest_line(self.user.tr, job)
        self.job_line.set_visibility(bool(self.job_line.text))
        if job.get("status") not in PROCESSING_JOBS:
            self.job_id = None  # settled: its last line stays, nothing more to ask

    def _render_docs(self) -> None:
        tr = self.user.tr
        self.doc_area.clear()
        with self.doc_area:
            if not self.docs:
                ui.label(tr("kb.no_documents")).props('data-testid="no-documents"')
            for doc in self.docs:
                with with_testid(ui.card().classes("w-full").props("flat bordered"), "doc-row"):
                    with ui.row().classes("w-full items-center gap-3"):
                        if doc["status"] == "ready":
                            ui.link(doc["filename"], chunk_url(self.kb["id"], doc["id"])).classes(
                                "font-medium"
                            ).props('data-testid="doc-open"')
                        else:
                            ui.label(doc["filename"]).classes("font-medium")
                        status_chip(self.user, shown_status(doc["status"]))
                        meta = tr(
                            "kb.doc.meta", chunks=doc["chunks"] or 0, size=file_size(doc["bytes"])
                        )
                        ui.label(meta).classes("text-sm text-grey-7")
                        ui.space()
                        if self.writable:
                            ui.button(
                                icon="delete", on_click=lambda d=doc: self.delete_doc(d)
                            ).props(
                                f'flat round color=negative data-testid="doc-delete" '
                                f'aria-label="{tr("kb.doc.delete")}"'
                            )
                    if doc["status"] == "failed":
                        ui.label(
                            tr("kb.doc.failed", reason=failure_reason(self.user, doc))
                        ).classes("text-negative text-sm").props('data-testid="doc-error"')
                    elif doc.get("notes"):
                        read_notes(self.user, doc)
                    if doc.get("update_error"):
                        update_failed(self.user, doc)

    async def delete_doc(self, doc: dict[str, Any]) -> None:
        if not await layout.confirm(
            self.user, self.user.tr("common.confirm_delete", name=doc["filename"])
        ):
            return
        try:
            await self.user.api.delete(f"{self.base}/documents/{quote(doc['id'], safe='')}")
        except ApiError as exc:
            layout.show_error(self.user, exc)
            return
        self.uploads.pop(doc["filename"], None)
        if self.writable:
            self._render_uploads()
        await self.refresh()

    async def delete_kb(self) -> None:
        if not await layout.confirm(
            self.user, self.user.tr("common.confirm_delete", name=self.kb["name"])
        ):
            return
        try:
            await self.user.api.delete(self.base)
        except ApiError as exc:
            layout.show_error(self.user, exc)
            return
        ui.navigate.to("/knowledge")


# --- /knowledge/{kb_id}/documents/{doc_id}: the chunk viewer ------------------------------


@ui.page("/knowledge/{kb_id}/documents/{doc_id}")
async def chunk_viewer(
    request: Request, kb_id: str, doc_id: str, chunk: str = ""
) -> RedirectResponse | None:
    user = await gate(request)
    if isinstance(user, RedirectResponse):
        return user
    tr = user.tr
    base = f"/api/kb/{quote(kb_id, safe='')}"
    with layout.frame(user, chunk_url(kb_id, doc_id, chunk or None), "kb.chunks.title"):
        try:
            kb = await user.api.get(base)
            doc = await user.api.get(f"{base}/documents/{quote(doc_id, safe='')}")
            chunks = (await user.api.get(f"{base}/documents/{quote(doc_id, safe='')}/chunks"))[
                "data"
            ]
        except ApiError as exc:
            missing(user, exc)
            return None
        with ui.row().classes("items-center gap-3"):
            ui.link(kb["name"], f"/knowledge/{quote(kb_id, safe='')}")
            ui.label("›")
            ui.label(doc["filename"]).classes("font-medium").props('data-testid="doc-title"')
            status_chip(user, shown_status(doc["status"]))
            ui.label(tr("kb.chunks.count", n=len(chunks))).classes("text-sm text-grey-7")
        if doc["status"] == "failed":
            ui.label(tr("kb.doc.failed", reason=failure_reason(user, doc))).classes("text-negative")
        elif doc.get("notes"):
            read_notes(user, doc)
        if doc.get("update_error"):
            update_failed(user, doc)
        if not chunks:
            ui.label(tr("kb.chunks.none")).props('data-testid="chunks-none"')
        target = next((c for c in chunks if str(c["id"]) == chunk), None)
        for item in chunks:
            chosen = item is target
            card = (
                ui.card()
                .classes("w-full " + ("bg-yellow-1 border-2 border-amber-600" if chosen else ""))
                .props("flat bordered")
            )
            card._props["id"] = f"chunk-{item['id']}"
            card._props["data-testid"] = "chunk"
            card._props["data-highlighted"] = "true" if chosen else "false"
            if chosen:
                card._props["aria-current"] = "true"
            with card:
                meta = [tr("kb.chunks.ordinal", n=item["ordinal"] + 1)]
                if item["page"]:
                    meta.append(tr("kb.chunks.page", n=item["page"]))
                meta.append(tr("kb.chunks.tokens", n=item["tokens"]))
                ui.label(" · ".join(meta)).classes("text-xs text-grey-7")
                if item["headings"]:
                    ui.label(" › ".join(item["headings"])).classes("text-sm font-medium")
                ui.label(item["text"]).classes("whitespace-pre-wrap")
        if chunk and target is None:
            ui.notify(tr("kb.chunks.missing"), type="warning")
    if target is not None:
        await ui.context.client.connected()
        ui.run_javascript(
            f"document.getElementById('chunk-{target['id']}')?.scrollIntoView({{block: 'center'}})"
        )
    return None


add(
    {
        "en": {
            "kb.empty": "No knowledge bases you can read yet.",
            "kb.created": "Created {at}",
            "kb.new": "New knowledge base",
            "kb.name": "Name",
            "kb.description": "Description (optional)",
            "kb.visibility": "Who can use it",
            "kb.visibility.tenant": "Everyone here reads; members and above add documents",
            "kb.visibility.private": "Only administrators and me (grant more later)",
            "kb.not_found": "This knowledge base or document does not exist, or you have no "
            "access to it.",
            "kb.back": "All knowledge bases",
            "kb.delete": "Delete knowledge base",
            "kb.tab.documents": "Documents",
            "kb.tab.search": "Test retrieval",
            "kb.tab.access": "Access",
            "kb.upload": "Upload documents",
            "kb.upload.hint": "Text, Markdown, HTML and saved web pages (.mht), PDF, OFD, Word, "
            "RTF, PowerPoint, Excel (also .xls), OpenDocument text, slides and spreadsheets, CSV, "
            "JSON, images "
            "(read by OCR), e-mails (.eml), plain-text files such as logs or code, or a .zip of "
            "these; a .doc or .xls that a program exported as a web page or text is read as "
            "such. Each file is checked on its own; a refused file does not stop the others.",
            "kb.documents": "Documents",
            "kb.no_documents": "No documents yet.",
            "kb.status.uploading": "uploading",
            "kb.status.processing": "processing",
            "kb.status.ready": "ready",
            "kb.status.failed": "failed",
            "kb.doc.meta": "{chunks} chunks · {size}",
            "kb.doc.delete": "Delete document",
            "kb.doc.failed": "Could not be used: {reason}",
            "kb.doc.update_failed": "The last upload was not used: {reason}",
            "kb.doc.notes": "How it was read: {notes}",
            "kb.search.query": "Ask or type words to look for",
            "kb.search.mode": "Method",
            "kb.search.mode.hybrid": "Hybrid",
            "kb.search.mode.dense": "Meaning (dense)",
            "kb.search.mode.keyword": "Keywords",
            "kb.search.top_k": "Results",
            "kb.search.run": "Search",
            "kb.search.none": "Nothing found.",
            "kb.search.missing": "Type a question or words to look for first.",
            "kb.search.score": "score {score}",
            "kb.search.dense": "meaning {score}",
            "kb.search.meaning": "word meanings {score}",
            "kb.search.keyword": "keywords {score}",
            "kb.access.hint": "Administrators can always do everything. A role grant covers "
            "that role and every higher one. Write adds uploading and deleting documents to "
            "read; manage adds renaming, changing this list and deleting the knowledge base. "
            "Viewers only ever read.",
            "kb.access.none": "No grants: only administrators can use this knowledge base.",
            "kb.access.role": "Role",
            "kb.access.group": "Group",
            "kb.access.user": "User",
            "kb.access.you": "You",
            "kb.access.someone": "A member of the organization",
            "kb.access.kind": "Grant to",
            "kb.access.subject": "Who",
            "kb.access.level": "Access",
            "kb.access.level.read": "read",
            "kb.access.level.write": "read and write documents",
            "kb.access.level.manage": "manage",
            "kb.access.add": "Add",
            "kb.role.viewer": "viewers and above",
            "kb.role.member": "members and above",
            "kb.role.admin": "administrators and owners",
            "kb.role.owner": "owners",
            "kb.access.remove": "Remove grant",
            "kb.access.saved": "Access saved.",
            "kb.access.username": "Their exact username",
            "kb.access.no_such_person": "No one in your organization has the username {name}.",
            "kb.chunks.title": "Document chunks",
            "kb.chunks.count": "{n} chunks",
            "kb.chunks.none": "This document has no chunks (it is not ready, or it is empty).",
            "kb.chunks.ordinal": "Chunk {n}",
            "kb.chunks.page": "page {n}",
            "kb.chunks.tokens": "{n} tokens",
            "kb.chunks.missing": "The cited chunk is no longer in this document (it was "
            "re-indexed); showing all chunks.",
        },
        "zh-CN": {
            "kb.empty": "暂无您可以读取的知识库。",
            "kb.created": "创建于 {at}",
            "kb.new": "新建知识库",
            "kb.name": "名称",
            "kb.description": "描述（可选）",
            "kb.visibility": "可用范围",
            "kb.visibility.tenant": "组织内所有人可读；成员及以上可添加文档",
            "kb.visibility.private": "仅管理员和我（之后可再授权）",
            "kb.not_found": "该知识库或文档不存在，或您无权访问。",
            "kb.back": "全部知识库",
            "kb.delete": "删除知识库",
            "kb.tab.documents": "文档",
            "kb.tab.search": "检索测试",
            "kb.tab.access": "访问权限",
            "kb.upload": "上传文档",
            "kb.upload.hint": "支持文本、Markdown、HTML 及网页存档（.mht）、PDF、OFD、Word、RTF、"
            "PowerPoint、Excel（含 .xls）、OpenDocument 文本/演示文稿/表格、CSV、JSON、"
            "图片（OCR 识别）、"
            "邮件（.eml）、"
            "日志或代码等纯文本文件，或以上文件的 .zip 压缩包；"
            "系统导出为网页或文本的 .doc、.xls 文件按其实际内容读取。"
            "每个文件单独检查，被拒绝的文件不影响其他文件。",
            "kb.documents": "文档",
            "kb.no_documents": "暂无文档。",
            "kb.status.uploading": "上传中",
            "kb.status.processing": "处理中",
            "kb.status.ready": "就绪",
            "kb.status.failed": "失败",
            "kb.doc.meta": "{chunks} 个分块 · {size}",
            "kb.doc.delete": "删除文档",
            "kb.doc.failed": "无法使用：{reason}",
            "kb.doc.update_failed": "最近上传的新版本未被采用：{reason}",
            "kb.doc.notes": "读取说明：{notes}",
            "kb.search.query": "输入问题或关键词",
            "kb.search.mode": "方式",
            "kb.search.mode.hybrid": "混合",
            "kb.search.mode.dense": "语义（稠密）",
            "kb.search.mode.keyword": "关键词",
            "kb.search.top_k": "结果数",
            "kb.search.run": "检索",
            "kb.search.none": "未找到结果。",
            "kb.search.missing": "请先输入问题或关键词。",
            "kb.search.score": "得分 {score}",
            "kb.search.dense": "语义 {score}",
            "kb.search.meaning": "词义 {score}",
            "kb.search.keyword": "关键词 {score}",
            "kb.access.hint": "管理员始终拥有全部权限。按角色授权时包含该角色及更高角色。"
            "写权限在读权限之上可上传和删除文档；管理权限还可重命名、修改此列表和删除知识库。"
            "查看者始终只读。",
            "kb.access.none": "没有授权：只有管理员可以使用此知识库。",
            "kb.access.role": "角色",
            "kb.access.group": "用户组",
            "kb.access.user": "用户",
            "kb.access.you": "您本人",
            "kb.access.someone": "组织中的一位成员",
            "kb.access.kind": "授权对象类型",
            "kb.access.subject": "对象",
            "kb.access.level": "权限",
            "kb.access.level.read": "只读",
            "kb.access.level.write": "读写文档",
            "kb.access.level.manage": "管理",
            "kb.access.add": "添加",
            "kb.role.viewer": "访客及以上",
            "kb.role.member": "成员及以上",
            "kb.role.admin": "管理员和所有者",
            "kb.role.owner": "所有者",
            "kb.access.remove": "移除授权",
            "kb.access.saved": "访问权限已保存。",
            "kb.access.username": "对方的准确用户名",
            "kb.access.no_such_person": "您的组织中没有用户名为 {name} 的人。",
            "kb.chunks.title": "文档分块",
            "kb.chunks.count": "{n} 个分块",
            "kb.chunks.none": "此文档没有分块（尚未就绪或内容为空）。",
            "kb.chunks.ordinal": "第 {n} 块",
            "kb.chunks.page": "第 {n} 页",
            "kb.chunks.tokens": "{n} 个词元",
            "kb.chunks.missing": "引用的分块已不在此文档中（文档已重新索引），显示全部分块。",
        },
    }
)
