"""Console: one answer on the Chat page — what a streamed answer has produced (``Answer``)
and how it is shown (``AnswerBubble``): its growing text, status, guard notes, cited sources
and the feedback controls.

Split from the page (``chat``), which owns the conversation, the stream and the controls; an
answer needs from it only the person, the thread to draw in and the conversation's id
(``AnswerHost``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from nicegui import ui

from aigc.console import layout
from aigc.console.api import ApiError
from aigc.console.i18n import Translator
from aigc.console.pages.knowledge_common import chunk_url
from aigc.console.session import ConsoleUser


class AnswerHost(Protocol):
    """What an answer bubble needs of the chat page that shows it."""

    user: ConsoleUser
    tr: Translator
    thread: ui.column
    conversation_id: str | None


def guard_notes(tr: Any, codes: list[str]) -> list[str]:
    """The guard's decision codes (``stage:rule:action:detail``) in words for the person."""
    notes = []
    for code in codes:
        parts = code.split(":", 3)
        if len(parts) < 3:
            continue
        stage, rule, action = parts[0], parts[1], parts[2]
        detail = parts[3] if len(parts) > 3 else ""
        if stage == "retrieval" and action in ("block", "drop"):  # a source left out
            notes.append(tr("chat.guard.source", rule=rule))
        elif action in ("redact", "pseudonymize"):
            kinds = [k for k in detail.split("+") if k]
            notes.append(tr(f"chat.guard.{action}", n=len(kinds), kinds=", ".join(kinds)))
        elif action in ("block", "flag"):
            notes.append(tr(f"chat.guard.{action}", rule=rule))
    return notes


@dataclass
class Answer:
    """What one streamed answer has produced so far (kept when it is stopped)."""

    request_id: str
    text: str = ""
    finish_reason: str | None = None
    citations: list[dict[str, Any]] = field(default_factory=list)
    guard: list[str] = field(default_factory=list)
    error: str | None = None
    stopped: bool = False
    message_id: str | None = None  # the stored assistant message, once saved
    rating: int | None = None  # the owner's thumbs, remembered with the message
    grounding_note: str | None = None  # why a grounded answer cites nothing (server's words)

    def meta(self, model: str) -> dict[str, Any]:
        meta: dict[str, Any] = {"request_id": self.request_id, "model": model}
        for key in ("finish_reason", "error"):
            if getattr(self, key):
                meta[key] = getattr(self, key)
        if self.citations:
            meta["citations"] = self.citations
        if self.grounding_note:
            meta["grounding_note"] = self.grounding_note
        if self.guard:
            meta["guard"] = self.guard
        if self.stopped:
            meta["stopped"] = True
        return meta


class AnswerBubble:
    """One answer: Markdown that grows while streaming, then its status, guard notes, sources
    and feedback controls."""

    def __init__(self, view: AnswerHost, question: str) -> None:
        self.view = view
        self.tr = view.tr
        self.question = question
        with view.thread, ui.column().classes("w-full rounded p-2 gap-1 bg-grey-1") as self.box:
            self.box.props('data-testid="chat-answer-box"')
            ui.label(self.tr("chat.assistant")).classes("text-xs text-grey-8")
            self.markdown = ui.markdown("").classes("w-full").props('data-testid="chat-answer"')
            self.footer = ui.column().classes("w-full gap-1")

    def draw_text(self, text: str) -> None:
        self.markdown.set_content(text)

    def show(self, answer: Answer) -> None:
        """The finished (or stopped) answer with everything known about it."""
        tr = self.tr
        self.draw_text(answer.text)
        self.footer.clear()
        with self.footer:
            status = None
            if answer.error:
                status = tr("chat.failed", message=answer.error)
            elif answer.stopped:
                status = tr("chat.stopped")
            elif answer.finish_reason == "content_filter":
                status = tr("chat.filtered")
            elif answer.finish_reason == "length":
                status = tr("chat.length")
            if status:
                ui.label(status).classes("text-orange-10 text-sm").props(
                    'role="status" data-testid="chat-status"'
                )
            for note in guard_notes(tr, answer.guard):
                with ui.row().classes("items-center gap-1 text-sm text-deep-purple-9"):
                    ui.icon("shield")
                    ui.label(note).props('data-testid="chat-guard"')
            if answer.citations:
                self._sources(answer.citations)
            if answer.grounding_note:  # e.g. a template model: the sources were not read
                with ui.row().classes("items-center gap-1 text-sm text-grey-8"):
                    ui.icon("info")
                    ui.label(answer.grounding_note).props('data-testid="chat-grounding-note"')
            if answer.rating in (1, -1):
                self._rated(answer.rating)
            elif answer.text and answer.request_id and not answer.error:
                self._feedback(answer)

    def _sources(self, citations: list[dict[str, Any]]) -> None:
        tr = self.tr
        with ui.row().classes("items-center gap-1 flex-wrap"):
            ui.label(tr("chat.sources")).classes("text-sm text-grey-8")
            for cited in citations:
                label = f"[{cited['index']}] {cited['filename']}"
                if cited.get("page"):
                    label += " · " + tr("chat.page", page=cited["page"])
                button = ui.button(label, on_click=lambda c=cited: self._open_chunk(c)).props(
                    "flat dense no-caps size=sm color=primary icon=description "
                    'data-testid="chat-citation"'
                )
                about = cited_context(cited)
                if about:  # which document, period and section: seen on hover
                    with button:
                        ui.tooltip(about).props('data-testid="chat-citation-context"')

    async def _open_chunk(self, cited: dict[str, Any]) -> None:
        tr = self.tr
        path = f"/api/kb/{cited['knowledge_base']}/documents/{cited['document']}/chunks"
        try:
            chunks = (await self.view.user.api.get(path))["data"]
        except ApiError as exc:
            if exc.status != 404:
                layout.show_error(self.view.user, exc)
                return
            chunks = []
        chunk = next((c for c in chunks if c["id"] == cited["chunk"]), None)
        with (
            ui.dialog() as dialog,
            ui.card().classes("w-[720px] max-w-full").props('data-testid="chat-chunk-dialog"'),
        ):
            ui.label(
                tr("chat.chunk_title", index=cited["index"], filename=cited["filename"])
            ).classes("text-lg font-semibold")
            about = cited_context(cited)
            if about:
                ui.label(about).classes("text-sm text-grey-8").props(
                    'data-testid="chat-chunk-context"'
                )
            if chunk is None:
                ui.label(tr("chat.chunk_missing")).props('role="alert"')
            else:
                with ui.scroll_area().classes("h-80 w-full border rounded"):
                    ui.label(chunk["text"]).classes("whitespace-pre-wrap p-2").props(
                        'data-testid="chat-chunk-text"'
                    )
            with ui.row().classes("w-full items-center justify-end gap-4"):
                if chunk is not None:
                    url = chunk_url(cited["knowledge_base"], cited["document"], cited["chunk"])
                    ui.link(tr("chat.chunk_open"), url, new_tab=True).props(
                        'data-testid="chat-chunk-open"'
                    )
                ui.button(tr("common.close"), on_click=dialog.close).props(
                    'flat data-testid="chat-chunk-close"'
                )
        dialog.on("hide", dialog.delete)
        dialog.open()

    def _rated(self, rating: int) -> None:
        """A rating given earlier: shown, not asked again."""
        good = rating > 0
        with ui.row().classes("items-center gap-1 text-sm text-grey-8"):
            ui.icon("thumb_up" if good else "thumb_down")
            ui.label(self.tr("chat.rated_good" if good else "chat.rated_bad")).props(
                'data-testid="chat-rated"'
            )

    def _feedback(self, answer: Answer) -> None:
        tr = self.tr
        with ui.row().classes("items-center gap-1") as row:
            up = ui.button(icon="thumb_up").props(
                f'flat round dense size=sm aria-label="{tr("chat.good")}" '
                'data-testid="chat-thumb-up"'
            )
            down = ui.button(icon="thumb_down").props(
                f'flat round dense size=sm aria-label="{tr("chat.bad")}" '
                'data-testid="chat-thumb-down"'
            )
        with ui.column().classes("w-full gap-1") as box:
            correction = (
                ui.textarea(tr("chat.correction"))
                .props('dense outlined autogrow data-testid="chat-correction"')
                .classes("w-full")
            )
            send = ui.button(tr("chat.send_feedback")).props(
                'dense color=primary data-testid="chat-feedback-send"'
            )
        box.set_visibility(False)

        async def post(rating: int) -> None:
            body: dict[str, Any] = {
                "request_id": answer.request_id,
                "rating": rating,
                "prompt": self.question,
                "answer": answer.text,
            }
            text = (correction.value or "").strip()
            if rating < 0 and text:
                body["correction"] = text
            api = self.view.user.api
            try:
                await api.post("/api/feedback", body)
                if answer.message_id and self.view.conversation_id:  # shown again on reopening
                    await api.request(
                        "PUT",
                        f"/api/conversations/{self.view.conversation_id}/messages/"
                        f"{answer.message_id}/rating",
                        json={"rating": rating, "correction": body.get("correction")},
                    )
            except ApiError as exc:
                layout.show_error(self.view.user, exc)
                return
            answer.rating = rating
            row.clear()
            box.delete()
            with row:
                ui.label(tr("chat.thanks")).classes("text-sm text-positive").props(
                    'role="status" data-testid="chat-feedback-done"'
                )

        def ask_correction() -> None:
            box.set_visibility(True)
            correction.run_method("focus")

        up.on_click(lambda: post(1))
        down.on_click(ask_correction)
        send.on_click(lambda: post(-1))


def cited_context(cited: dict[str, Any]) -> str:
    """A citation's document title, period and section path on one line ("" when unknown)."""
    parts = [cited.get("title") or "", cited.get("period") or ""]
    parts.append(" › ".join(cited.get("headings") or []))
    return " · ".join(p for p in parts if p)
