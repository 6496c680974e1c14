"""The generate stage of a streamed ``/v1/responses``: the model's pieces, through the same guard
as a streamed chat choice, as the Responses API's server-sent events.

    response.created, response.in_progress
    per output item:  response.output_item.added
        text:         response.content_part.added, response.output_text.delta …,
                      (grounded: response.output_text.annotation.added per citation),
                      response.output_text.done, response.content_part.done
        call:         response.function_call_arguments.delta …,
                      response.function_call_arguments.done
                      response.output_item.done
    response.completed (or response.incomplete: cut by max_output_tokens, or blocked;
                        response.failed: the model failed mid-stream, nothing is stored)

An item is closed before the next one opens, as OpenAI streams them. The tokens are settled
(limits, audit) however the stream ends, the client going away included.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aigc.errors import APIError
from aigc.gateway.context import RequestRecord
from aigc.gateway.pipeline import Prepared, StreamedChoice, guard_field, settle
from aigc.gateway.response_items import (
    call_item,
    citation_annotations,
    message_item,
    new_id,
    text_part,
)
from aigc.gateway.response_objects import Draft, item_status
from aigc.gateway.services import Services
from aigc.infra import metrics
from aigc.knowledge.citing import MarkerMode, response_fields
from aigc.models.protocols import ReasoningDelta, ToolCallDelta

Finished = Callable[[dict[str, Any]], Awaitable[None]]


class _Events:
    """Numbered SSE events and the output items they build. ``cited_so_far`` gives a grounded
    answer's citations of the markers it has written so far (their numbers are final: markers
    are numbered in order of first use as the text streams), so a message that a tool call
    closes mid-answer is annotated on closing, as one that closes at the end is."""

    def __init__(
        self,
        cited_so_far: Callable[[], list[dict[str, Any]]] | None = None,
        mode: MarkerMode = "text",
    ) -> None:
        self.cited_so_far = cited_so_far
        self.mode = mode  # where the answer's markers may stand (citing.MarkerMode)
        self.sequence = 0
        self.output: list[dict[str, Any]] = []
        self.open: dict[str, Any] | None = None  # the item being streamed
        self.text = ""

    def event(self, kind: str, **fields: Any) -> bytes:
        payload = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        data = json.dumps(payload, ensure_ascii=False)
        return f"event: {kind}\ndata: {data}\n\n".encode()

    def open_text(self) -> list[bytes]:
        if self.open is not None and self.open["type"] == "message":
            return []
        out = self.close()
        self.open, self.text = message_item(new_id("msg"), "", "in_progress"), ""
        self.open["content"] = []
        index = len(self.output)
        out.append(self.event("response.output_item.added", output_index=index, item=self.open))
        out.append(
            self.event(
                "response.content_part.added",
                item_id=self.open["id"],
                output_index=index,
                content_index=0,
                part=text_part(""),
            )
        )
        return out

    def text_delta(self, delta: str) -> list[bytes]:
        out = self.open_text()
        self.text += delta
        assert self.open is not None
        out.append(
            self.event(
                "response.output_text.delta",
                item_id=self.open["id"],
                output_index=len(self.output),
                content_index=0,
                delta=delta,
                logprobs=[],
            )
        )
        return out

    def call_delta(self, piece: ToolCallDelta) -> list[bytes]:
        out: list[bytes] = []
        if piece.id is not None or piece.name is not None or self.open is None:
            out = self.close(self.cited_so_far() if self.cited_so_far else None)
            call_id = piece.id or new_id("call")
            self.open = call_item(new_id("fc"), call_id, piece.name or "", "", "in_progress")
            item = dict(self.open)
            out.append(
                self.event("response.output_item.added", output_index=len(self.output), item=item)
            )
        assert self.open is not None
        if piece.arguments:
            self.open["arguments"] += piece.arguments
            out.append(
                self.event(
                    "response.function_call_arguments.delta",
                    item_id=self.open["id"],
                    output_index=len(self.output),
                    delta=piece.arguments,
                )
            )
        return out

    def close(
        self, citations: list[dict[str, Any]] | None = None, status: str = "completed"
    ) -> list[bytes]:
        """The open item's done events; it joins the output. A message of a grounded answer
        gets the annotations of its [n] markers (``citations``: those known when it closes);
        ``status``: incomplete for the last item of an answer that was cut."""
        item, self.open = self.open, None
        if item is None:
            return []
        index, out = len(self.output), []
        item["status"] = status
        if item["type"] == "message":
            annotations = citation_annotations(self.text, citations or [], self.mode)
            part = text_part(self.text, annotations)
            item["content"] = [part]
            where = {"item_id": item["id"], "output_index": index, "content_index": 0}
            for number, annotation in enumerate(annotations):
                out.append(
                    self.event(
                        "response.output_text.annotation.added",
                        **where,
                        annotation_index=number,
                        annotation=annotation,
                    )
                )
            out.append(
                self.event("response.output_text.done", **where, text=self.text, logprobs=[])
            )
            out.append(self.event("response.content_part.done", **where, part=part))
        else:
            out.append(
                self.event(
                    "response.function_call_arguments.done",
                    item_id=item["id"],
                    output_index=index,
                    name=item["name"],
                    arguments=item["arguments"],
                )
            )
        out.append(self.event("response.output_item.done", output_index=index, item=item))
        self.output.append(item)
        return out


def _failed(events: _Events, draft: Draft, error: APIError) -> bytes:
    """``response.failed`` for a failure after the stream began: the response's error as
    OpenAI's (code and message) and, beside the response, the kind and values a header would
    have carried (``error_details``, as chat's error event), so a client says it in its
    reader's language."""
    said = {"code": error.code or error.type, "message": error.message}
    fields: dict[str, Any] = {"response": draft.view("failed", events.output, error=said)}
    if error.details:
        fields["error_details"] = error.details
    return events.event("response.failed", **fields)


async def stream(
    services: Services,
    prepared: Prepared,
    record: RequestRecord,
    draft: Draft,
    finished: Finished,
) -> AsyncIterator[bytes]:
    """The events of one streamed response; ``finished`` gets the final response object (to
    store it) before ``response.completed`` is sent."""
    sources = prepared.sources
    events = _Events(sources.citations, sources.mode) if sources is not None else _Events()
    used = 0
    metrics.ACTIVE_STREAMS.inc()
    try:
        yield events.event("response.created", response=draft.view("in_progress", []))
        yield events.event("response.in_progress", response=draft.view("in_progress", []))
        choice = StreamedChoice(prepared, prepared.requests[0], record)
        try:
            async for piece in choice.pieces:
                if isinstance(piece, ToolCallDelta):
                    for chunk in events.call_delta(piece):
                        yield chunk
                elif isinstance(piece, ReasoningDelta):
                    continue  # as at OpenAI, a response carries no thinking's text
                else:
                    for chunk in events.text_delta(piece):
                        yield chunk
        except APIError as exc:  # the model failed mid-stream (an upstream error, a timeout)
            yield _failed(events, draft, exc)
            return
        finally:
            used += choice.bounded.tokens
        unfinished = choice.unfinished()
        if unfinished is not None:  # the grammar dead-ended: the text is not in the format
            yield _failed(events, draft, unfinished)
            return
        finish, _ = choice.finish()
        if events.open is None and not events.output:
            for chunk in events.open_text():  # nothing said: one empty message, as OpenAI
                yield chunk
        draft.extra = guard_field(record.guard) | response_fields(prepared.sources)
        for chunk in events.close(draft.extra.get("citations"), item_status(finish)):
            yield chunk
        final = draft.view("completed", events.output, (prepared.prompt_tokens, used), finish)
        await finished(final)
        kind = "response.completed" if final["status"] == "completed" else "response.incomplete"
        yield events.event(kind, response=final)
    finally:
        metrics.ACTIVE_STREAMS.dec()
        await settle(services, prepared, record, used)
