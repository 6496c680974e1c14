"""The body of ``POST /v1/responses`` (OpenAI's Responses API), as far as this server honours it.

Input items stay loose dicts here: ``gateway/response_items.py`` reads each by its ``type`` and
answers a 400 naming ``input[i]`` for one it cannot take. Fields we cannot honour are refused by
name (``refuse_unsupported``), never silently dropped; unknown ones are ignored, as in chat.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from aigc.errors import InvalidRequest

# Field → the values that mean "not used". Anything else is a feature we do not have.
_UNSUPPORTED: dict[str, tuple[Any, ...]] = {
    "background": (None, False),
    "conversation": (None,),
    "prompt": (None,),
    "max_tool_calls": (None,),
    "reasoning": (None, {}, {"effort": None}, {"effort": None, "summary": None}),
    "truncation": (None, "disabled"),
}


class ResponseRequest(BaseModel):
    """OpenAI's ``ResponseCreateParams`` subset: text and message input, function tools."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    # Required here (OpenAI lets a stored prompt stand in, which is not taken): a new turn.
    input: str | list[dict[str, Any]]

    @field_validator("input")
    @classmethod
    def _not_empty(cls, value: str | list[dict[str, Any]]) -> str | list[dict[str, Any]]:
        if not value:  # named "input", not a branch of the union
            raise ValueError("'input' is empty")
        return value

    instructions: str | None = None
    tools: list[dict[str, Any]] | None = Field(default=None, max_length=128)
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    max_output_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    stream: bool = False
    store: bool | None = None  # OpenAI's default is to store
    previous_response_id: str | None = Field(default=None, max_length=100)
    metadata: dict[str, str] | None = Field(default=None, max_length=16)
    text: dict[str, Any] | None = None
    user: str | None = None
    seed: int | None = None

    @property
    def stored(self) -> bool:
        return self.store is not False


def refuse_unsupported(body: ResponseRequest) -> None:
    """A Responses field this server cannot honour is a 400 naming it."""
    values = body.model_dump(exclude_unset=True)
    for name, unused in _UNSUPPORTED.items():
        if name in values and values[name] not in unused:
            raise InvalidRequest(
                f"'{name}' is not supported by this server yet; remove it from the request",
                param=name,
                code="unsupported_parameter",
            )
