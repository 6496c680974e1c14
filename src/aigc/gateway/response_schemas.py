"""The body of ``POST /v1/responses`` (OpenAI's Responses API), as far as this server honours it.

Input items stay loose dicts here: ``gateway/response_items.py`` reads each by its ``type`` and
answers a 400 naming ``input[i]`` for one it cannot take. Fields we cannot honour are refused by
name (``refuse_unsupported``), never silently dropped; unknown ones are ignored, as in chat.
"""

from __future__ import annotations

from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from aigc.errors import refused_value, value_problem
from aigc.gateway.fields import Flag, Positive, Whole, branch_rules
from aigc.gateway.schemas import (
    FUNCTION_NAME,
    KNOWLEDGE_BASES,
    ReasoningEffort,
    Verbosity,
    used_field,
)

# Field → the values that mean "not used". Anything else is a feature we do not have.
_UNSUPPORTED: dict[str, tuple[Any, ...]] = {
    "background": (None, False),
    "conversation": (None,),
    "prompt": (None,),
    "max_tool_calls": (None,),
    "truncation": (None, "disabled"),
    # Bookkeeping on OpenAI's side: "auto" and "default" ask for nothing that changes the answer.
    "service_tier": (None, "auto", "default"),
    "top_logprobs": (None, 0),  # log probabilities are not carried onto output_text here
}
# A bound on the ``include`` list (repeats are harmless, as at OpenAI; the document states it).
MAX_INCLUDE = 64
# ``include`` values that ask for the parts of items this server never makes (hosted tools,
# reasoning) or keeps anyway (input images): taken, and nothing to add. OpenAI's last one,
# "message.output_text.logprobs", asks for what is not returned here, so it is refused.
INCLUDE_NOTHING_MORE = (
    "file_search_call.results",
    "web_search_call.results",
    "web_search_call.action.sources",
    "message.input_image.image_url",
    "computer_call_output.output.image_url",
    "code_interpreter_call.outputs",
    "reasoning.encrypted_content",
)
_LOGPROBS = "message.output_text.logprobs"


# What response_items reads, for the document: it checks each item itself, naming input[i] in
# its 400s. Images only in user messages, calls of 64-character names, ids of 256 (chat's).
def _parts(*kinds: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [{"type": "string"}, {"type": "array", "items": {"anyOf": list(kinds)}}]}


_TEXT = {
    "type": "object",
    "properties": {
        "type": {"enum": ["input_text", "output_text", "text"]},
        "text": {"type": "string"},
    },
    "required": ["type", "text"],
}
_REFUSAL = {
    "type": "object",
    "properties": {"type": {"const": "refusal"}, "refusal": {"type": "string"}},
    "required": ["type", "refusal"],
}
_IMAGE = {
    "type": "object",
    "properties": {
        "type": {"const": "input_image"},
        "image_url": {"type": "string", "minLength": 1},
        "detail": {"enum": ["auto", "low", "high", None]},
    },
    "required": ["type", "image_url"],
}
_CALL_ID = {"type": "string", "minLength": 1, "maxLength": 256}


def _message(roles: list[str], content: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"type": {"const": "message"}, "role": {"enum": roles}, "content": content},
        "required": ["role", "content"],
    }


INPUT_ITEM: dict[str, Any] = {
    "anyOf": [
        _message(["user"], _parts(_TEXT, _REFUSAL, _IMAGE)),
        _message(["system", "developer", "assistant"], _parts(_TEXT, _REFUSAL)),
        {
            "type": "object",
            "properties": {
                "type": {"const": "function_call"},
                "call_id": _CALL_ID,
                "name": {"type": "string", "minLength": 1, "maxLength": 64},
                "arguments": {"type": "string"},
            },
            "required": ["type", "call_id", "name", "arguments"],
        },
        {
            "type": "object",
            "properties": {
                "type": {"const": "function_call_output"},
                "call_id": _CALL_ID,
                "output": _parts(_TEXT, _REFUSAL),
            },
            "required": ["type", "call_id", "output"],
        },
    ],
    "description": "A message, a function call, or a call's output (which answers a call of the "
    "turn before it, by call_id)",
}
TOOL: dict[str, Any] = {
    "type": "object",
    "properties": {
        "type": {"const": "function"},
        "name": {"type": "string", "pattern": FUNCTION_NAME},
        "description": {"type": ["string", "null"]},
        "parameters": {"type": ["object", "null"]},
        "strict": {"type": ["boolean", "null"]},
    },
    "required": ["type", "name"],
}
TOOL_CHOICE: dict[str, Any] = {
    "anyOf": [
        {"type": "null"},
        {"enum": ["none", "auto", "required"]},
        {
            "type": "object",
            "properties": {"type": {"const": "function"}, "name": {"type": "string"}},
            "required": ["type", "name"],
        },
    ],
    "description": "required or a named function only with tools; the name one of theirs",
}
TEXT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "verbosity": {"enum": [*get_args(Verbosity), None]},
        "format": {
            "anyOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "properties": {"type": {"enum": ["text", "json_object"]}},
                    "required": ["type"],
                },
                {
                    "type": "object",
                    "properties": {
                        "type": {"const": "json_schema"},
                        "name": {"type": "string", "pattern": FUNCTION_NAME},
                        "schema": {"type": "object"},
                    },
                    "required": ["type", "name", "schema"],
                },
            ]
        },
    },
}


def _document(schema: dict[str, Any]) -> None:
    """What response_items and refuse_unsupported check, written into the schema (the fields
    themselves stay loose, so their 400s name input[i] as the client wrote it)."""
    properties = schema.setdefault("properties", {})
    branch_rules(string={"minLength": 1}, array={"items": INPUT_ITEM, "minItems": 1})(
        properties["input"]
    )
    branch_rules(array={"items": TOOL})(properties["tools"])
    branch_rules(object=TEXT)(properties["text"])
    properties["tool_choice"] |= TOOL_CHOICE
    properties["include"] = {
        "anyOf": [
            {
                "type": "array",
                "items": {"enum": list(INCLUDE_NOTHING_MORE)},
                "maxItems": MAX_INCLUDE,
            },
            {"type": "null"},
        ],
        "description": f"Nothing to add for these; {_LOGPROBS} is not supported",
    }
    properties["knowledge_bases"] = KNOWLEDGE_BASES  # an extra field, passed on to chat
    for name, unused in _UNSUPPORTED.items():  # refused unless unused, as in chat
        properties[name] = {
            "description": "Not supported yet: only the value that means 'not used'",
            "enum": list(unused),
        }


class ReasoningOptions(BaseModel):
    """``reasoning``: its ``effort`` goes to chat's ``reasoning_effort`` (an upstream model
    takes it); a summary or any other option asks for what is not made here (refused)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "additionalProperties": {"type": "null", "description": "Not supported yet"}
        },
    )

    effort: ReasoningEffort | None = None


class ResponseRequest(BaseModel):
    """OpenAI's ``ResponseCreateParams`` subset: text and message input, function tools."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_document)

    model: str = Field(min_length=1)
    # Required here (OpenAI lets a stored prompt stand in, which is not taken): a new turn.
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    tools: list[dict[str, Any]] | None = Field(default=None, max_length=128)
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: Flag | None = None
    max_output_tokens: Positive | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    stream: Flag = False
    store: Flag | None = None  # OpenAI's default is to store
    previous_response_id: str | None = Field(default=None, max_length=100)
    metadata: dict[str, str] | None = Field(default=None, max_length=16)
    text: dict[str, Any] | None = None
    user: str | None = None
    seed: Whole | None = None
    include: list[str] | None = Field(default=None, max_length=MAX_INCLUDE)
    reasoning: ReasoningOptions | None = None

    @field_validator("input")
    @classmethod
    def _not_empty(cls, value: str | list[dict[str, Any]]) -> str | list[dict[str, Any]]:
        if not value:  # named "input", not a branch of the union
            raise value_problem("input_empty", "'input' is empty")
        return value

    @property
    def stored(self) -> bool:
        return self.store is not False


def refuse_unsupported(body: ResponseRequest) -> None:
    """A Responses field this server cannot honour is a 400 naming it."""
    name = used_field(body.model_dump(exclude_unset=True), _UNSUPPORTED)
    if name is not None:
        raise refused_value(
            "not_supported_yet",
            "'{name}' is not supported by this server yet; remove it from the request",
            param=name,
            code="unsupported_parameter",
            name=name,
        )
    for option, value in (body.reasoning.model_extra or {} if body.reasoning else {}).items():
        if value is not None:  # summary, context, mode: none is made or kept here
            raise refused_value(
                "not_supported_yet",
                "'{name}' is not supported by this server yet; remove it from the request",
                param=f"reasoning.{option}",
                code="unsupported_parameter",
                name=f"reasoning.{option}",
            )
    for index, value in enumerate(body.include or []):
        if value == _LOGPROBS:
            raise refused_value(
                "include_logprobs_unsupported",
                "'include' value '{value}' is not supported by this server yet: log "
                "probabilities are not returned on /v1/responses; remove it from the request",
                param=f"include[{index}]",
                code="unsupported_parameter",
                value=_LOGPROBS,
            )
        if value not in INCLUDE_NOTHING_MORE:
            raise refused_value(
                "param_choice",
                f"Invalid value for 'include[{index}]': " + "'{value}' is not one of {choices}",
                param=f"include[{index}]",
                value=value,
                choices=", ".join((*INCLUDE_NOTHING_MORE, _LOGPROBS)),
            )
