"""Console: the Chat page — streamed answers, stored history, knowledge bases, feedback, guard.

Everything goes through the API as the signed-in user: ``/v1/models`` and
``/v1/chat/completions`` (streamed), ``/api/conversations`` (history, kept server-side per
person), ``/api/kb`` (grounding and the cited chunks) and ``/api/feedback``. The console picks
each request's id (``x-request-id``) so feedback names the request the audit log recorded.
Stop cancels the task reading the stream: the HTTP stream closes and the server stops
generating and frees the model's slot. One answer and its controls are drawn by
``chat_answer``; images attached to a message go as OpenAI ``image_url`` parts of the same
request (``chat_attach``: the button and previews; ``chat_images``: checks, parts, what is kept).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import ui

from aigc.console import layout
from aigc.console.api import ApiError
from aigc.console.api_errors import explain_error
from aigc.console.i18n import add
from aigc.console.pages.chat_answer import Answer, AnswerBubble
from aigc.console.pages.chat_attach import AttachTray, image_tag
from aigc.console.pages.chat_images import (
    ImageLimits,
    Preview,
    fitted,
    message_content,
    previews,
    stored_images,
)
from aigc.console.session import ConsoleUser, gate, services

HISTORY_TURNS = 20  # messages of the conversation sent back to the model
REDRAW_S = 0.05  # the answer is redrawn at most this often while it streams
# Max tokens as the page opens: none, so the gateway fits the answer to the model's context.
DEFAULT_MAX_TOKENS: int | None = None


def chat_body(
    model: str,
    system: str,
    history: list[dict[str, Any]],
    temperature: float,
    top_p: float,
    max_tokens: float | None,
    knowledge_bases: list[str] | None = None,
) -> dict[str, Any]:
    """The chat request of the page's settings. An empty Max tokens sends none: the gateway
    then fits the answer to the model's context, where a set max_tokens beyond it is a 400
    for a checkpoint held to its window (a fixed 512 would refuse every long turn of a
    Hugging Face model near its context's end)."""
    messages: list[dict[str, Any]] = []
    if system.strip():
        messages.append({"role": "system", "content": system.strip()})
    messages += history
    body: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "temperature": temperature,
        "top_p": top_p,
    }
    if max_tokens:
        body["max_tokens"] = int(max_tokens)
    if knowledge_bases:
        body["knowledge_bases"] = knowledge_bases
    return body


add(
    {
        "en": {
            "chat.read_only": "Your role is viewer: you can look around but not chat. Ask an "
            "administrator for the member role.",
            "chat.new": "New chat",
            "chat.search": "Search conversations",
            "chat.untitled": "Untitled",
            "chat.no_conversations": "No conversations yet.",
            "chat.delete": "Delete conversation",
            "chat.model": "Model",
            "chat.no_models": "No text model is ready. Ask an administrator to add one.",
            "chat.use_kb": "Answer from knowledge bases",
            "chat.kbs": "Knowledge bases",
            "chat.no_kbs": "No knowledge base you may read.",
            "chat.params": "Parameters",
            "chat.temperature": "Temperature",
            "chat.top_p": "Top p",
            "chat.max_tokens": "Max tokens",
            "chat.max_tokens_hint": "Empty: what the model's context leaves",
            "chat.system": "System prompt",
            "chat.input": "Your message",
            "chat.input_hint": "Enter sends, Shift+Enter makes a new line",
            "chat.send": "Send",
            "chat.stop": "Stop",
            "chat.you": "You",
            "chat.assistant": "Assistant",
            "chat.empty": "Ask anything to start a conversation.",
            "chat.stopped": "Stopped: the answer is incomplete.",
            "chat.filtered": "The answer was stopped by the content policy.",
            "chat.length": "The answer reached the token limit.",
            "chat.failed": "No answer: {message}",
            "chat.connection_lost": "the connection to the platform broke off mid-answer; "
            "try again",
            "chat.sources": "Sources",
            "chat.page": "p. {page}",
            "chat.chunk_title": "Source [{index}]: {filename}",
            "chat.chunk_missing": "This source is no longer available.",
            "chat.chunk_open": "Open in the knowledge base",
            "chat.guard.redact": "{n} kind(s) of data redacted: {kinds}",
            "chat.guard.pseudonymize": "{n} kind(s) of personal data replaced for the model "
            "and restored: {kinds}",
            "chat.guard.block": "Blocked by the content policy (rule “{rule}”)",
            "chat.guard.flag": "Flagged by the content policy (rule “{rule}”)",
            "chat.guard.source": "A source was withheld by the content policy (rule “{rule}”)",
            "chat.good": "Good answer",
            "chat.bad": "Bad answer",
            "chat.correction": "What should the answer have been? (optional)",
            "chat.send_feedback": "Send feedback",
            "chat.rated_good": "You rated this answer helpful.",
            "chat.rated_bad": "You rated this answer unhelpful.",
            "chat.thanks": "Thank you: your feedback was recorded.",
        },
        "zh-CN": {
            "chat.read_only": "您的角色是只读访客：可以浏览，但不能对话。"
            "请联系管理员授予成员角色。",
            "chat.new": "新对话",
            "chat.search": "搜索对话",
            "chat.untitled": "未命名",
            "chat.no_conversations": "还没有对话。",
            "chat.delete": "删除对话",
            "chat.model": "模型",
            "chat.no_models": "没有可用的文本模型，请联系管理员添加。",
            "chat.use_kb": "根据知识库回答",
            "chat.kbs": "知识库",
            "chat.no_kbs": "没有您可读取的知识库。",
            "chat.params": "参数",
            "chat.temperature": "温度",
            "chat.top_p": "Top p",
            "chat.max_tokens": "最大 token 数",
            "chat.max_tokens_hint": "留空：模型上下文剩余的长度",
            "chat.system": "系统提示词",
            "chat.input": "您的消息",
            "chat.input_hint": "回车发送，Shift+回车换行",
            "chat.send": "发送",
            "chat.stop": "停止",
            "chat.you": "您",
            "chat.assistant": "助手",
            "chat.empty": "输入问题，开始新的对话。",
            "chat.stopped": "已停止：回答不完整。",
            "chat.filtered": "回答被内容策略中止。",
            "chat.length": "回答达到了 token 上限。",
            "chat.failed": "没有回答：{message}",
            "chat.connection_lost": "与平台的连接在回答途中中断，请重试",
            "chat.sources": "来源",
            "chat.page": "第 {page} 页",
            "chat.chunk_title": "来源 [{index}]：{filename}",
            "chat.chunk_missing": "该来源已不存在。",
            "chat.chunk_open": "在知识库中打开",
            "chat.guard.redact": "已遮盖 {n} 类数据：{kinds}",
            "chat.guard.pseudonymize": "{n} 类个人信息已替换后交给模型，并在回答中还原：{kinds}",
            "chat.guard.block": "已被内容策略拦截（规则“{rule}”）",
            "chat.guard.flag": "已被内容策略标记（规则“{rule}”）",
            "chat.guard.source": "一条来源被内容策略排除（规则“{rule}”）",
            "chat.good": "回答很好",
            "chat.bad": "回答不好",
            "chat.correction": "正确的回答应该是什么？（可选）",
            "chat.send_feedback": "提交反馈",
            "chat.rated_good": "您认为这个回答有帮助。",
            "chat.rated_bad": "您认为这个回答没有帮助。",
            "chat.thanks": "谢谢，您的反馈已记录。",
        },
    }
)

STYLE = """
.aigc-chat { height: calc(100vh - 150px); min-height: 520px; }
.aigc-chat .nicegui-markdown pre {
  white-space: pre-wrap; background: #f3f3f3; padding: 8px; border-radius: 4px;
}
.aigc-bubble-user { background: #e3f2fd; }
.aigc-conv-title { flex: 1 1 auto; min-width: 0; }
.aigc-conv-title .q-btn__content { flex-wrap: nowrap; min-width: 0; justify-content: flex-start; }
.aigc-conv-title .q-btn__content > span {
  overflow: hidden; text-overflow: ellipsis; white-space: nowrap;
}
"""


class ChatView:
    """One person's chat page: history on the left, the conversation and controls on the right."""

    def __init__(self, user: ConsoleUser, wanted_model: str | None = None) -> None:
        self.user = user
        self.tr = user.tr
        self.wanted_model = wanted_model  # /chat?model=... (the models table, a trained model)
        self.conversation_id: str | None = None
        self.conversation_model = ""
        # role/content sent back to the model; a user message's content is OpenAI's parts
        # when images came with it (kept at full size while the page is open)
        self.history: list[dict[str, Any]] = []
        self.task: asyncio.Task[None] | None = None
        self.models: list[str] = []
        self.vision: set[str] = set()  # the models that read images ("vision" capability)
        self.limits = ImageLimits.of(services().settings)
        self.kbs: dict[str, str] = {}

    # --- building ------------------------------------------------------------------------

    async def build(self) -> None:
        tr = self.tr
        await self._load_choices()
        ui.add_css(STYLE)
        with ui.row().classes("aigc-chat w-full no-wrap gap-4 items-stretch"):
            with ui.column().classes("w-64 shrink-0 gap-2"):
                ui.button(tr("chat.new"), icon="add", on_click=self.new_chat).props(
                    'outline data-testid="conv-new"'
                ).classes("w-full")
                self.search = (
                    ui.input(tr("chat.search"), on_change=self.refresh_list)
                    .props('dense outlined clearable type=search data-testid="conv-search"')
                    .classes("w-full")
                )
                with ui.scroll_area().classes("grow w-full border rounded"):
                    self.list_box = (
                        ui.column()
                        .classes("w-full gap-1")
                        .props('role="list" data-testid="conv-list"')
                    )
            with ui.column().classes("grow min-w-0 gap-2"):
                self._controls()
                with (
                    ui.scroll_area()
                    .classes("grow w-full border rounded")
                    .props('data-testid="chat-messages"') as self.scroller
                ):
                    self.thread = (
                        ui.column().classes("w-full gap-3 p-2").props('aria-live="polite"')
                    )
                self._input_row()
        await self.refresh_list()
        self._show_empty()
        ui.context.client.on_disconnect(self.stop)  # a closed tab stops its answer too

    async def _load_choices(self) -> None:
        try:
            models = await self.user.api.get("/v1/models")
            ready = [
                m
                for m in models["data"]
                if "chat" in m.get("capabilities", []) and m.get("status") == "ready"
            ]
            self.models = sorted(m["id"] for m in ready)
            self.vision = {m["id"] for m in ready if "vision" in m.get("capabilities", [])}
            kbs = await self.user.api.get("/api/kb")
            self.kbs = {kb["id"]: kb["name"] for kb in kbs["data"]}
        except ApiError as exc:
            layout.show_error(self.user, exc)

    def _controls(self) -> None:
        tr = self.tr
        with ui.row().classes("w-full items-center gap-4 no-wrap"):
            self.model = (
                ui.select(self.models, label=tr("chat.model"), value=self._default_model())
                .props('dense outlined options-dense data-testid="chat-model"')
                .classes("w-64")
            )
            self.model.on_value_change(self._model_changed)
            if not self.models:
                ui.label(tr("chat.no_models")).classes("text-orange-9").props('role="alert"')
            self.use_kb = ui.switch(tr("chat.use_kb"), on_change=self._kb_toggled).props(
                'data-testid="chat-kb-toggle"'
            )
            self.kb_select = (
                ui.select(self.kbs, label=tr("chat.kbs"), multiple=True, value=[])
                .props('dense outlined use-chips data-testid="chat-kb-select"')
                .classes("w-72")
            )
            self.kb_select.set_enabled(False)
            if not self.kbs:
                self.use_kb.set_enabled(False)
                self.use_kb.tooltip(tr("chat.no_kbs"))
        with (
            ui.expansion(tr("chat.params"), icon="tune")
            .classes("w-full border rounded")
            .props('dense data-testid="chat-params"'),
            ui.row().classes("w-full items-start gap-6"),
        ):
            with ui.column().classes("w-48 gap-0"):
                ui.label(tr("chat.temperature")).classes("text-sm")
                self.temperature = ui.slider(min=0, max=2, step=0.05, value=0.7).props(
                    f'label-always aria-label="{tr("chat.temperature")}" '
                    'data-testid="chat-temperature"'
                )
            with ui.column().classes("w-48 gap-0"):
                ui.label(tr("chat.top_p")).classes("text-sm")
                self.top_p = ui.slider(min=0.05, max=1, step=0.05, value=1.0).props(
                    f'label-always aria-label="{tr("chat.top_p")}" data-testid="chat-top-p"'
                )
            self.max_tokens = ui.number(
                tr("chat.max_tokens"), value=DEFAULT_MAX_TOKENS, min=1, max=32768, step=1
            ).props(
                f'dense outlined clearable hint="{tr("chat.max_tokens_hint")}" '
                'data-testid="chat-max-tokens"'
            )
            self.system = (
                ui.textarea(tr("chat.system"))
                .props('dense outlined autogrow data-testid="chat-system"')
                .classes("grow")
            )

    def _input_row(self) -> None:
        tr = self.tr
        self.tray = AttachTray(self.user, self.limits)
        with ui.row().classes("w-full items-end gap-2 no-wrap"):
            self.tray.button()
            self.input = (
                ui.textarea(tr("chat.input"), placeholder=tr("chat.input_hint"))
                .props('outlined dense rows=2 data-testid="chat-input"')
                .classes("grow")
            )
            self.input.on("keydown.enter.exact.prevent", self.send)
            self.send_button = ui.button(tr("chat.send"), icon="send", on_click=self.send).props(
                'color=primary data-testid="chat-send"'
            )
            self.stop_button = ui.button(tr("chat.stop"), icon="stop", on_click=self.stop).props(
                'color=negative outline data-testid="chat-stop"'
            )
            self.stop_button.set_enabled(False)
        self.send_button.set_enabled(bool(self.models))

    def _default_model(self) -> str | None:
        if not self.models:
            return None
        if self.wanted_model in self.models:
            return self.wanted_model
        return "template-helpdesk" if "template-helpdesk" in self.models else self.models[0]

    def _model_changed(self) -> None:
        """Images waiting for a model that cannot read them: said at once, not at Send."""
        model = self.model.value
        blind = bool(self.tray.pending) and model is not None and model not in self.vision
        self.tray.say(self.tr("chat.attach.no_vision", model=model) if blind else "")

    def _kb_toggled(self) -> None:
        self.kb_select.set_enabled(bool(self.use_kb.value))

    def _show_empty(self) -> None:
        with self.thread:
            ui.label(self.tr("chat.empty")).classes("text-grey-7 p-4").props(
                'data-testid="chat-empty"'
            )

    # --- history -------------------------------------------------------------------------

    async def refresh_list(self) -> None:
        query = (self.search.value or "").strip() or None
        try:
            listed = await self.user.api.get("/api/conversations", q=query)
        except ApiError as exc:
            layout.show_error(self.user, exc)
            return
        self.list_box.clear()
        with self.list_box:
            if not listed["data"]:
                ui.label(self.tr("chat.no_conversations")).classes("text-grey-7 p-2")
            for item in listed["data"]:
                self._list_item(item)

    def _list_item(self, item: dict[str, Any]) -> None:
        title = item["title"] or self.tr("chat.untitled")
        current = item["id"] == self.conversation_id
        with (
            ui.row()
            .classes(
                "w-full items-center no-wrap gap-1 rounded px-1 "
                + ("bg-blue-1 font-bold" if current else "hover:bg-grey-3")
            )
            .props('role="listitem"') as row
        ):
            row._props["data-conv-id"] = item["id"]
            button = ui.button(title, on_click=lambda i=item["id"]: self.open(i)).props(
                'flat no-caps align=left dense data-testid="conv-item"'
            )
            button.classes("aigc-conv-title")
            ui.button(icon="delete", on_click=lambda i=item: self.delete(i)).props(
                f'flat round dense size=sm aria-label="{self.tr("chat.delete")}" '
                'data-testid="conv-delete"'
            )

    async def new_chat(self) -> None:
        if self.task is not None:
            return
        self.conversation_id = None
        self._remember_in_address()
        self.history = []
        self.thread.clear()
        self.tray.clear()
        self.tray.say("")
        self._show_empty()
        await self.refresh_list()
        self.input.run_method("focus")

    async def open(self, conversation_id: str) -> None:
        if self.task is not None:
            return
        try:
            found = await self.user.api.get(f"/api/conversations/{quote(conversation_id, safe='')}")
        except ApiError as exc:
            layout.show_error(self.user, exc)
            return
        self.conversation_id, self.conversation_model = conversation_id, found["model"]
        self._remember_in_address()
        self.history = []
        self.thread.clear()
        if found["model"] in self.models:
            self.model.value = found["model"]
        question = ""
        for message in found["messages"]:
            if message["role"] == "user":
                question = message["content"]
                self._user_bubble(question, previews(message["meta"]))
            elif message["role"] == "assistant":
                meta = message["meta"]
                answer = Answer(
                    meta.get("request_id", ""),
                    message["content"],
                    meta.get("finish_reason"),
                    meta.get("citations", []),
                    meta.get("guard", []),
                    meta.get("error"),
                    bool(meta.get("stopped")),
                    message["id"],
                    meta.get("rating"),
                    meta.get("grounding_note"),
                )
                bubble = AnswerBubble(self, question)
                bubble.show(answer)
            if message["role"] in ("user", "assistant") and message["content"]:
                self.history.append({"role": message["role"], "content": message["content"]})
        await self.refresh_list()
        self.scroller.scroll_to(percent=1.0)

    def _remember_in_address(self) -> None:
        """The open conversation in the page's address: a reload (or a bookmark) shows it."""
        if self.conversation_id is None:
            ui.navigate.history.replace("/chat")
        else:
            ui.navigate.history.replace(
                f"/chat?conversation={quote(self.conversation_id, safe='')}"
            )

    async def delete(self, item: dict[str, Any]) -> None:
        title = item["title"] or self.tr("chat.untitled")
        if not await layout.confirm(self.user, self.tr("common.confirm_delete", name=title)):
            return
        try:
            await self.user.api.delete(f"/api/conversations/{item['id']}")
        except ApiError as exc:
            layout.show_error(self.user, exc)
            return
        if item["id"] == self.conversation_id and self.task is None:
            await self.new_chat()
        else:
            await self.refresh_list()

    # --- asking --------------------------------------------------------------------------

    def _user_bubble(self, text: str, images: list[Preview] | None = None) -> None:
        bubble = "aigc-bubble-user self-end rounded p-2 max-w-[80%] gap-0"
        with self.thread, ui.column().classes(bubble):
            ui.label(self.tr("chat.you")).classes("text-xs text-grey-8")
            if images:
                with ui.row().classes("gap-2 py-1"):
                    for image in images:
                        label = self.tr("chat.attach.sent_image", name=image.name)
                        image_tag(image, label, "chat-question-image")
            if text or not images:
                ui.label(text).classes("whitespace-pre-wrap").props('data-testid="chat-question"')

    def _request_body(self, model: str) -> dict[str, Any]:
        return chat_body(
            model,
            self.system.value or "",
            fitted(self.history[-HISTORY_TURNS:], self.limits, model in self.vision),
            float(self.temperature.value),
            float(self.top_p.value),
            self.max_tokens.value,
            list(self.kb_select.value) if self.use_kb.value and self.kb_select.value else None,
        )

    async def send(self) -> None:
        text = (self.input.value or "").strip()
        model = self.model.value
        attached = list(self.tray.pending)
        if not (text or attached) or not model or self.task is not None:
            return
        if attached and model not in self.vision:  # said here, before anything is sent
            self.tray.say(self.tr("chat.attach.no_vision", model=model))
            return
        user_message: dict[str, Any] = {"role": "user", "content": text}
        if attached:  # previews only: a stored message's meta is small (chat_images)
            user_message["meta"] = {"images": stored_images(attached)}
        api = self.user.api
        try:
            if self.conversation_id is None:
                made = await api.post("/api/conversations", {"model": model})
                self.conversation_id, self.conversation_model = made["id"], model
                self._remember_in_address()
                self.thread.clear()
            elif model != self.conversation_model:  # reopened later with this model
                await api.patch(f"/api/conversations/{self.conversation_id}", {"model": model})
                self.conversation_model = model
            conversation = self.conversation_id
            await api.post(f"/api/conversations/{conversation}/messages", user_message)
        except ApiError as exc:
            layout.show_error(self.user, exc)
            return
        self.input.value = ""
        self.tray.clear()
        self.tray.say("")
        self._user_bubble(text, [Preview(a.name, a.thumb) for a in attached])
        self.history.append({"role": "user", "content": message_content(text, attached)})
        body = self._request_body(model)
        answer = Answer(f"req_{secrets.token_hex(12)}")
        bubble = AnswerBubble(self, text)
        self.scroller.scroll_to(percent=1.0)
        self._busy(True)
        self.task = asyncio.create_task(self._consume(body, answer, bubble))
        try:
            await asyncio.wait({self.task})
            answer.stopped = self.task.cancelled()
        finally:
            self.task = None
            self._busy(False)
        bubble.show(answer)
        self.scroller.scroll_to(percent=1.0)
        if answer.text:
            self.history.append({"role": "assistant", "content": answer.text})
        # only the images a later request could still carry stay in memory
        self.history = fitted(self.history, self.limits, takes_images=True)
        try:
            saved = await api.post(
                f"/api/conversations/{conversation}/messages",
                {"role": "assistant", "content": answer.text, "meta": answer.meta(model)},
            )
            answer.message_id = saved["id"]
        except ApiError as exc:
            layout.show_error(self.user, exc)
        await self.refresh_list()

    async def _consume(self, body: dict[str, Any], answer: Answer, bubble: AnswerBubble) -> None:
        """Read the stream into ``answer``, redrawing as it grows (cancelled by Stop)."""
        drawn = 0.0
        try:
            stream = self.user.api.stream(
                "/v1/chat/completions", body, headers={"x-request-id": answer.request_id}
            )
            async for chunk in stream:
                if "citations" in chunk:
                    answer.citations = chunk["citations"]
                    answer.grounding_note = (chunk.get("grounding") or {}).get("note")
                for choice in chunk.get("choices", []):
                    answer.text += (choice.get("delta") or {}).get("content") or ""
                    if choice.get("finish_reason"):
                        answer.finish_reason = choice["finish_reason"]
                if "guard" in chunk:
                    answer.guard = chunk["guard"]
                now = time.monotonic()
                if now - drawn >= REDRAW_S:
                    drawn = now
                    bubble.draw_text(answer.text)
                    self.scroller.scroll_to(percent=1.0)
        except ApiError as exc:
            answer.error = explain_error(self.user.tr, exc)
        except httpx.HTTPError:  # the server went away mid-answer
            answer.error = self.user.tr("chat.connection_lost")

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def _busy(self, busy: bool) -> None:
        self.send_button.set_enabled(not busy and bool(self.models))
        self.stop_button.set_enabled(busy)


@ui.page("/chat")
async def chat_page(request: Request) -> RedirectResponse | None:
    user = await gate(request, "viewer")
    if isinstance(user, RedirectResponse):
        return user
    with layout.frame(user, "/chat", "nav.chat"):
        if not user.at_least("member"):
            ui.label(user.tr("chat.read_only")).classes("text-lg").props(
                'role="status" data-testid="chat-readonly"'
            )
            return None
        view = ChatView(user, request.query_params.get("model"))
        await view.build()
        conversation = request.query_params.get("conversation")
        if conversation:
            await view.open(conversation)
    return None
