"""The Responses API's ``response`` object, built from what the chat pipeline produced.

A chat finish reason becomes the response's status: ``length`` → ``incomplete`` with
``incomplete_details.reason = "max_output_tokens"``, ``content_filter`` (the guard blocked) →
``incomplete`` with ``content_filter``; anything else → ``completed``. The output item the cut
fell in (the last) says ``incomplete`` too, as OpenAI's does (``item_status``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from aigc.gateway.response_items import new_id, output_items
from aigc.gateway.response_schemas import ResponseRequest
from aigc.knowledge.citing import MarkerMode
from aigc.models.protocols import ToolCall

_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


@dataclass
class Draft:
    """One response as it is built: its id and time are fixed before the first event."""

    body: ResponseRequest
    id: str = field(default_factory=lambda: new_id("resp"))
    created_at: int = field(default_factory=lambda: int(time.time()))
    extra: dict[str, Any] = field(default_factory=dict)  # guard codes, citations, grounding

    def view(
        self,
        status: str,
        output: list[dict[str, Any]],
        usage: tuple[int, int] | None = None,
        finish: str | None = None,
        error: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The response object as OpenAI shows it (``status`` in_progress while streaming,
        failed with ``error`` when the model failed mid-stream)."""
        body = self.body
        reason = _INCOMPLETE.get(finish or "")
        if status == "completed" and reason is not None:
            status = "incomplete"
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "error": error,
            "incomplete_details": {"reason": reason} if status == "incomplete" else None,
            "instructions": body.instructions,
            "max_output_tokens": body.max_output_tokens,
            "model": body.model,
            "output": output,
            "parallel_tool_calls": body.parallel_tool_calls is not False,
            "previous_response_id": body.previous_response_id,
            "reasoning": {
                "effort": body.reasoning.effort if body.reasoning else None,
                "summary": None,
            },
            "store": body.stored,
            "temperature": 1.0 if body.temperature is None else body.temperature,
            "text": {"format": (body.text or {}).get("format") or {"type": "text"}},
            "tool_choice": body.tool_choice if body.tool_choice is not None else "auto",
            "tools": body.tools or [],
            "top_p": 1.0 if body.top_p is None else body.top_p,
            "truncation": "disabled",
            "usage": None if usage is None else usage_view(*usage),
            "user": body.user,
            "metadata": body.metadata or {},
            **self.extra,
        }


def item_status(finish: str | None) -> str:
    """The status of the last output item: ``incomplete`` where the answer was cut (the
    response is incomplete), else ``completed``."""
    return "incomplete" if finish in _INCOMPLETE else "completed"


def usage_view(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    """OpenAI's ``ResponseUsage``: both cache counts are required fields of its schema (the SDK's
    strict model rejects a usage without ``cache_write_tokens``); no prompt cache here, so 0."""
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


def from_chat(draft: Draft, payload: dict[str, Any], mode: MarkerMode = "text") -> dict[str, Any]:
    """A chat completion (``pipeline.complete``) as the response object (``mode``: where the
    grounded answer's [n] markers stand, as its ``SourceUse`` read them)."""
    choice = payload["choices"][0]
    message = choice["message"]
    calls = [
        ToolCall(c["id"], c["function"]["name"], c["function"]["arguments"])
        for c in message.get("tool_calls") or []
    ]
    draft.extra = {k: payload[k] for k in ("guard", "citations", "grounding") if k in payload}
    usage = payload["usage"]
    output = output_items(
        message.get("content") or "", calls, citations=payload.get("citations"), mode=mode
    )
    if output:
        output[-1]["status"] = item_status(choice["finish_reason"])
    return draft.view(
        "completed",
        output,
        (usage["prompt_tokens"], usage["completion_tokens"]),
        choice["finish_reason"],
    )
