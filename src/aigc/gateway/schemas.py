"""Request bodies of the OpenAI-compatible API (Pydantic v2).

Unknown fields are ignored, as vLLM does; fields we cannot honour are refused by name in
``refuse_unsupported`` rather than silently dropped. The fields read from the body's extras
(``knowledge_bases``, ``response_format``, ``guided_*``) and those refused unless unused are
written into the JSON schema too (``_document_extras``), so the OpenAPI document shows every
value the server takes: a client built from it sends nothing the server refuses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from aigc.errors import InvalidRequest, refused_value, value_problem
from aigc.gateway.fields import (
    Flag,
    Positive,
    Seed,
    TokenId,
    TopLogprobs,
    Whole,
    branch_rules,
)
from aigc.gateway.token_prompts import token_lists
from aigc.infra import untrusted


class ImageURL(BaseModel):
    """OpenAI's ``image_url`` object: a base64 data URL or an http(s) URL, and a detail level."""

    model_config = ConfigDict(extra="allow")
    url: str = Field(min_length=1)
    detail: Literal["auto", "low", "high"] = "auto"


class ContentPart(BaseModel):
    """One part of a message's content: ``text``, or ``image_url`` (user messages; read by
    ``gateway/vision.py``). A part of any other type is refused by name (``message_text``).

    Any part parses, so that the refusal can name it; the schema says what is taken."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "oneOf": [
                {
                    "properties": {"type": {"const": "text"}, "text": {"type": "string"}},
                    "required": ["type", "text"],
                },
                {
                    "properties": {
                        "type": {"const": "image_url"},
                        "image_url": {"type": "object"},
                    },
                    "required": ["type", "image_url"],
                },
            ]
        },
    )
    type: str
    text: str | None = None
    image_url: ImageURL | None = None


class FunctionCall(BaseModel):
    """A call the model made, as a client sends it back (``function`` of a tool call, or the
    legacy ``function_call`` of an assistant message)."""

    model_config = ConfigDict(extra="allow")
    name: str = Field(min_length=1, max_length=64)
    arguments: str


class ToolCallPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str = Field(min_length=1, max_length=256)
    type: Literal["function"] = "function"
    function: FunctionCall


_NO_CALLS: dict[str, Any] = {  # what a message that is not the assistant's carries: no calls
    "tool_calls": {"anyOf": [{"type": "null"}, {"type": "array", "maxItems": 0}]},
    "function_call": {"type": "null"},
}
_TEXT_ONLY: dict[
    str, Any
] = {  # content without images, which only user messages take (gateway/vision.py)
    "anyOf": [
        {"type": "string"},
        {"type": "null"},
        {"type": "array", "items": {"properties": {"type": {"const": "text"}}}},
    ]
}


class Message(BaseModel):
    # Only user messages take images; only assistant messages carry calls; a tool message
    # names the call it answers (gateway/tooling.py). Which call that is, across messages, no
    # schema can say.
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "anyOf": [
                {"properties": {"role": {"const": "user"}, **_NO_CALLS}},
                {"properties": {"role": {"const": "assistant"}, "content": _TEXT_ONLY}},
                {
                    "properties": {
                        "role": {"enum": ["system", "developer", "function"]},
                        "content": _TEXT_ONLY,
                        **_NO_CALLS,
                    }
                },
                {
                    "properties": {
                        "role": {"const": "tool"},
                        "tool_call_id": {"type": "string"},
                        "content": _TEXT_ONLY,
                        **_NO_CALLS,
                    },
                    "required": ["tool_call_id"],
                },
            ]
        },
    )
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    # parts first: a malformed part is then the error reported, not "not a string"
    content: list[ContentPart] | str | None = None
    name: str | None = None
    # Function calling (gateway/tooling.py turns these into the model's ChatMessage).
    tool_calls: list[ToolCallPart] | None = None
    tool_call_id: str | None = Field(default=None, max_length=256)
    function_call: FunctionCall | None = None  # legacy, before tool_calls


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: Flag = False


# OpenAI's reasoning controls (its ReasoningEffort and Verbosity enums).
ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]
Verbosity = Literal["low", "medium", "high"]
MAX_STOPS = 4  # stop sequences a request may give, as OpenAI allows
FUNCTION_NAME = r"^[A-Za-z0-9_-]{1,64}$"  # OpenAI's rule for function (and schema) names
_ONE_CONSTRAINT = " (one of response_format, guided_json, guided_regex and guided_choice at most)"
# response_format / guided_* (aigc.guard.structured.parse_constraint). That
# one at most is given is said in words: a "not" over pairs of fields would state it, but
# generators and fuzzers of request bodies do not take "not".
_STRUCTURED: dict[str, Any] = {
    "response_format": {
        "anyOf": [
            {"type": "null"},
            {
                "type": "object",
                "properties": {"type": {"const": "text"}},
                "required": ["type"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {"type": {"const": "json_object"}},
                "required": ["type"],
            },
            {
                "type": "object",
                "properties": {
                    "type": {"const": "json_schema"},
                    "json_schema": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string", "pattern": FUNCTION_NAME},
                            "schema": {"type": "object"},
                        },
                        "required": ["name", "schema"],
                    },
                },
                "required": ["type", "json_schema"],
            },
        ],
        "description": "JSON output, or output valid under a JSON schema the guard compiles, "
        "from models that decode here" + _ONE_CONSTRAINT,
    },
    "guided_json": {
        "anyOf": [{"type": "null"}, {"type": "object"}, {"type": "string"}],
        "description": "vLLM's: output valid under this JSON schema (an object, or its JSON "
        "text), as response_format's json_schema" + _ONE_CONSTRAINT,
    },
    "guided_regex": {
        "type": ["string", "null"],
        "description": "Output matching this RE2 pattern" + _ONE_CONSTRAINT,
    },
    "guided_choice": {
        "anyOf": [{"type": "null"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}],
        "description": "Output that is one of these strings" + _ONE_CONSTRAINT,
    },
}


_NONE_OR_EMPTY = {"anyOf": [{"type": "null"}, {"type": "array", "maxItems": 0}]}
_NAMED = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
# tool_choice and the legacy function_call (gateway/tooling.py). A named function must be
# among the tools, and a choice other than none or auto needs tools: across fields, in words.
_TOOL_CHOICES: dict[str, Any] = {
    "tool_choice": {
        "anyOf": [
            {"type": "null"},
            {"enum": ["none", "auto", "required"]},
            {
                "type": "object",
                "properties": {"type": {"const": "function"}, "function": _NAMED},
                "required": ["type", "function"],
            },
        ],
        "description": "required or a named function only with tools; the name one of theirs",
    },
    "function_call": {
        "anyOf": [{"type": "null"}, {"enum": ["none", "auto"]}, _NAMED],
        "description": "Legacy: a named function only with functions; the name one of theirs",
    },
}


def _only(value: Any) -> dict[str, Any]:
    """The schema of exactly ``value`` (``const: null`` would be dropped from the document)."""
    if value is None:
        return {"type": "null"}
    if value == {}:
        return {"type": "object", "maxProperties": 0}
    return {"const": value}


# The extra field that grounds an answer (chat completions and responses).
KNOWLEDGE_BASES = {
    "type": "array",
    "items": {"type": "string", "minLength": 1},
    "minItems": 1,
    "maxItems": 20,
    "description": "Answer from these knowledge bases, with citations",
}


def unused_only(unused: Mapping[str, Any]) -> dict[str, Any]:
    """The schema of fields refused unless unused (``refuse_used``): each field takes only the
    values that mean "not used" (one, or a tuple of them)."""
    properties = {}
    for field, nothing in unused.items():
        allowed = nothing if isinstance(nothing, tuple) else (nothing,)
        properties[field] = {
            "description": "Not supported yet: only the value that means 'not used'",
            "anyOf": [_only(value) for value in allowed],
        }
    return properties


def _document_extras(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """The fields read from the body's extras, and those refused unless unused, in the schema."""
    properties = schema.setdefault("properties", {})
    properties |= unused_only(_UNSUPPORTED)
    properties["modalities"] = {"anyOf": [{"type": "null"}, {"const": ["text"]}]}
    properties |= _STRUCTURED
    if issubclass(model, ChatCompletionRequest):
        properties["knowledge_bases"] = KNOWLEDGE_BASES
        properties |= _TOOL_CHOICES
        schema["anyOf"] = [  # tools or the legacy functions, not both
            {"properties": {field: _NONE_OR_EMPTY}} for field in ("tools", "functions")
        ]
    else:
        for field in _CHAT_ONLY:
            properties[field] = {"type": "null", "description": "Chat only"}


class SamplingFields(BaseModel):
    """Fields shared by chat and text completions."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_document_extras)

    model: str = Field(min_length=1)
    max_tokens: Positive | None = None
    temperature: float = Field(default=1.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    n: Whole = Field(default=1, ge=1, le=16)
    stop: str | list[str] | None = Field(
        default=None,
        json_schema_extra=branch_rules(array={"maxItems": MAX_STOPS}),  # _stop_list
    )
    seed: Seed | None = None
    stream: Flag = False
    stream_options: StreamOptions | None = None
    presence_penalty: float = Field(default=0.0, ge=-2.0, le=2.0)
    frequency_penalty: float = Field(default=0.0, ge=-2.0, le=2.0)
    user: str | None = None
    # Decoding extras accepted as vLLM accepts them (honoured by models that declare them).
    top_k: Whole = Field(default=0, ge=-1)
    min_p: float = Field(default=0.0, ge=0.0, le=1.0)
    repetition_penalty: float = Field(default=1.0, gt=0.0, le=10.0)
    use_beam_search: Flag = False
    num_beams: Whole = Field(default=1, ge=1, le=16)
    length_penalty: float = 1.0
    early_stopping: Flag = False
    no_repeat_ngram_size: Whole = Field(default=0, ge=0)
    min_tokens: Whole = Field(default=0, ge=0)

    @field_validator("stop")
    @classmethod
    def _stop_list(cls, value: str | list[str] | None) -> list[str] | None:
        if value is None:
            return None
        stops = [value] if isinstance(value, str) else value
        if len(stops) > MAX_STOPS:
            raise value_problem(
                "stop_too_many", "at most {max} stop sequences are allowed", max=MAX_STOPS
            )
        return stops

    @property
    def stop_list(self) -> list[str]:
        return list(self.stop or [])

    @property
    def output_limit(self) -> int | None:
        """The cap on generated tokens the request asked for (chat has a second field)."""
        return self.max_tokens

    @property
    def output_limit_param(self) -> str:
        """The field ``output_limit`` comes from, as a 400 about it names it."""
        return "max_tokens"


class FunctionDef(BaseModel):
    """A function the model may call (``tools[i].function``, or a legacy ``functions`` item)."""

    model_config = ConfigDict(extra="allow")
    name: str = Field(pattern=FUNCTION_NAME)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: Flag | None = None


class ToolDef(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["function"]
    function: FunctionDef


class ChatCompletionRequest(SamplingFields):
    messages: list[Message] = Field(min_length=1)
    max_completion_tokens: Positive | None = None
    logprobs: Flag | None = None
    top_logprobs: TopLogprobs | None = None
    # Function calling; the choices are checked in gateway/tooling.py (400 naming the field).
    tools: list[ToolDef] | None = Field(default=None, max_length=128)
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: Flag | None = None
    functions: list[FunctionDef] | None = Field(default=None, max_length=128)  # legacy
    function_call: str | dict[str, Any] | None = None  # legacy
    # Reasoning models' controls (OpenAI's, as vLLM takes them): an upstream model gets them.
    reasoning_effort: ReasoningEffort | None = None
    verbosity: Verbosity | None = None

    @property
    def output_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    @property
    def output_limit_param(self) -> str:
        return "max_completion_tokens" if self.max_completion_tokens else "max_tokens"


class CompletionRequest(SamplingFields):
    # Text, texts, or token ids of the model's own tokenizer (one prompt's, or several; their
    # range checked by gateway/token_prompts.py).
    prompt: str | list[str] | list[TokenId] | list[Annotated[list[TokenId], Field(min_length=1)]]
    echo: Flag = False
    suffix: str | None = None
    best_of: Whole | None = None
    logprobs: TopLogprobs | None = None


# Field → the value that means "not used". Anything else is a feature we do not have yet.
_UNSUPPORTED: dict[str, Any] = {
    "logit_bias": (None, {}),
    "audio": None,
    "prediction": None,
    "store": (None, False),
    # Bookkeeping on OpenAI's side: "auto" and "default" ask for nothing that changes the answer.
    "service_tier": (None, "auto", "default"),
    "web_search_options": None,
    "suffix": None,
    "echo": False,
    "best_of": (None, 1),
    # vLLM's other structured-output extras (guided_json, guided_regex and guided_choice are
    # honoured): refused by name, never ignored. The backend is ours to choose: xgrammar.
    "guided_grammar": None,
    "guided_whitespace_pattern": None,
    "guided_decoding_backend": (None, "auto", "xgrammar"),
    "structural_tag": None,
    "structured_outputs": None,
    # vLLM's other sampling and prompt extras, not implemented here: each was answered 200 as
    # if absent (ignore_eos: true still ended at the end-of-text token).
    "ignore_eos": False,
    "stop_token_ids": (None, []),
    "include_stop_str_in_output": False,
    "skip_special_tokens": True,
    "spaces_between_special_tokens": True,
    "allowed_token_ids": None,
    "bad_words": (None, []),
    "logits_processors": None,
    "truncate_prompt_tokens": None,
    "prompt_logprobs": None,
    "return_tokens_as_token_ids": False,
    "chat_template": None,
    "chat_template_kwargs": (None, {}),
    "add_generation_prompt": True,
    "continue_final_message": False,
    "documents": None,
}


# Chat-only fields that /v1/completions would otherwise accept as unknown extras.
_CHAT_ONLY = (
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "functions",
    "function_call",
    "reasoning_effort",
    "verbosity",
)


def refuse_unsupported(body: SamplingFields) -> None:
    """A field we cannot honour is a 400 naming it, never silently dropped."""
    values = body.model_dump(exclude_unset=True)
    if isinstance(body, CompletionRequest):
        for field in _CHAT_ONLY:
            if values.get(field) is not None:
                raise refused_value(
                    "chat_field",
                    "'{name}' is a chat field; use /v1/chat/completions",
                    param=field,
                    code="unsupported_parameter",
                    name=field,
                )
    refuse_used(values, _UNSUPPORTED)
    refuse_inconsistent(body, values)
    # response_format / guided_json / guided_regex / guided_choice: aigc.guard.structured
    modalities = values.get("modalities")
    if modalities not in (None, ["text"]):
        raise refused_value(
            "text_modality_only",
            "Only the text modality is supported",
            param="modalities",
            code="unsupported_parameter",
        )


_CONTENT_REQUIRED = ("system", "developer", "user", "tool")  # only assistant content is optional


def refuse_inconsistent(body: SamplingFields, values: dict[str, Any]) -> None:
    """Values OpenAI refuses, which we would otherwise ignore or read as something else: a
    400 naming the field, so a client learns of its mistake here as it would at OpenAI."""
    if body.stream_options is not None and not body.stream:
        raise refused_value(
            "only_when_true",
            "'{name}' is only allowed when '{flag}' is true",
            param="stream_options",
            name="stream_options",
            flag="stream",
        )
    if isinstance(body, ChatCompletionRequest):
        if body.top_logprobs is not None and body.logprobs is not True:
            raise refused_value(
                "only_when_true",
                "'{name}' is only allowed when '{flag}' is true",
                param="top_logprobs",
                name="top_logprobs",
                flag="logprobs",
            )
        for i, message in enumerate(body.messages):
            if message.content is None and message.role in _CONTENT_REQUIRED:
                sent = "content" in message.model_fields_set
                raise refused_value(
                    "message_content_not_null" if sent else "message_content_required",
                    "A {role} message needs its 'content'"
                    + (", which cannot be null" if sent else ""),
                    param=f"messages[{i}].content",
                    code="invalid_value" if sent else "missing_required_parameter",
                    role=message.role,
                )
    response_format = values.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        spec = response_format.get("json_schema")
        if isinstance(spec, dict):
            check_schema_name(spec, "response_format.json_schema.name")


def check_schema_name(spec: dict[str, Any], param: str) -> None:
    """A json_schema format's ``name``, required by OpenAI (and the SDK's ``parse`` helpers
    send one): a format without it works there nowhere, so it is refused here too."""
    if "name" not in spec:
        raise InvalidRequest(
            f"Missing required parameter: '{param}'",
            param=param,
            code="missing_required_parameter",
        )
    name = spec["name"]
    if not isinstance(name, str) or re.fullmatch(FUNCTION_NAME, name) is None:
        raise refused_value(
            "function_name_form",
            f"Invalid '{param}': " + "a name of 1 to 64 letters, digits, '_' or '-'",
            param=param,
        )


# Decoding fields a model honours only if it says so (``decoding_fields`` on the model): the
# request field → the value that means "not used".
DECODING_FIELDS: dict[str, Any] = {
    "top_k": (0, -1),
    "min_p": 0.0,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
    "repetition_penalty": 1.0,
    "use_beam_search": False,
    "num_beams": 1,
    "length_penalty": 1.0,
    "early_stopping": False,
    "no_repeat_ngram_size": 0,
    "min_tokens": 0,
    "logprobs": (None, False),
    "top_logprobs": (None, 0),
    # Function calling: a model that takes tools lists "tools" in its decoding_fields.
    "tools": (None, []),
    "functions": (None, []),
    "tool_choice": None,
    "function_call": None,
    "parallel_tool_calls": None,
    # A reasoning model's controls: only an upstream (OpenAI, vLLM) can honour them.
    "reasoning_effort": None,
    "verbosity": None,
}
# Fields only an upstream model takes: the 400 for another model says which models do.
UPSTREAM_ONLY = frozenset({"reasoning_effort", "verbosity"})
_FIELD_FEATURE = {  # the model capability a field needs
    "use_beam_search": "num_beams",
    "functions": "tools",
    "tool_choice": "tools",
    "function_call": "tools",
    "parallel_tool_calls": "tools",
}


def refuse_undecodable(body: SamplingFields, supported: frozenset[str]) -> None:
    """A decoding field the chosen model cannot honour is a 400 naming it."""
    lacking = {
        field: unused
        for field, unused in DECODING_FIELDS.items()
        if _FIELD_FEATURE.get(field, field) not in supported
    }
    field = used_field(body.model_dump(exclude_unset=True), lacking)
    if field in UPSTREAM_ONLY:
        raise refused_value(
            "upstream_only",
            "'{name}' is not supported by the model '{model}': only upstream models (served "
            "by an OpenAI-compatible server such as vLLM or OpenAI) take it; remove it from "
            "the request or choose such a model",
            param=field,
            code="unsupported_parameter",
            name=field,
            model=str(untrusted.field(body.model)),
        )
    if field is not None:
        raise refused_value(
            "not_supported_by_model",
            "'{name}' is not supported by the model '{model}'; remove it from the request",
            param=field,
            code="unsupported_parameter",
            name=field,
            model=str(untrusted.field(body.model)),
        )


def refuse_used(values: Mapping[str, Any], unused: Mapping[str, Any]) -> None:
    """A 400 naming the first field of ``unused`` that ``values`` uses: a field we cannot
    honour is refused, never silently dropped."""
    used = used_field(values, unused)
    if used is not None:
        raise refused_value(
            "not_supported_yet",
            "'{name}' is not supported by this server yet; remove it from the request",
            param=used,
            code="unsupported_parameter",
            name=used,
        )


def used_field(values: Mapping[str, Any], unused: Mapping[str, Any]) -> str | None:
    """The first field of ``unused`` that ``values`` sets to anything but the value that means
    "not used" (or one of a tuple of them), else None. Compared by type too, as the document's
    enums compare JSON: completions' ``logprobs=0`` is a request, not False."""
    for field, nothing in unused.items():
        if field not in values:
            continue
        value = values[field]
        allowed = nothing if isinstance(nothing, tuple) else (nothing,)
        if not any(value is a or (type(value) is type(a) and value == a) for a in allowed):
            return field
    return None


def message_text(message: Message, index: int) -> str:
    """A message's text: its text parts joined. Image parts are left to ``gateway/vision.py``;
    audio, file or any other parts are refused by name."""
    if message.content is None:
        return ""
    if isinstance(message.content, str):
        return message.content
    texts = []
    for part_index, part in enumerate(message.content):
        if part.type == "image_url":
            continue
        if part.type != "text":
            raise refused_value(
                "content_part_type_not_read",
                "Content parts of type '{type}' are not supported by this model",
                param=f"messages[{index}].content[{part_index}]",
                code="unsupported_content",
                type=part.type,
            )
        if part.text is None:
            raise InvalidRequest(
                "A text part needs its 'text'",
                param=f"messages[{index}].content[{part_index}].text",
                code="missing_required_parameter",
            )
        texts.append(part.text)
    return "".join(texts)


def _tool_chars(message: Message) -> int:
    """Characters of the calls an assistant message carries (arguments the model reads)."""
    calls = [c.function for c in message.tool_calls or []]
    if message.function_call is not None:
        calls.append(message.function_call)
    return sum(len(c.name) + len(c.arguments) for c in calls)


def _content_chars(message: Message) -> int:
    if message.content is None:
        return 0
    if isinstance(message.content, str):
        return len(message.content)
    return sum(len(part.text or "") for part in message.content)


def _too_long(param: str, length: int, limit: int) -> InvalidRequest:
    return refused_value(
        "text_too_long_in_all",
        f"Invalid '{param}': "
        + "too long. Expected at most {max_length} characters in all, but got {length} "
        "characters instead.",
        param=param,
        code="string_above_max_length",
        max_length=limit,
        length=length,
    )


def _too_many(param: str, count: int, limit: int) -> InvalidRequest:
    return refused_value(
        "array_too_long",
        f"Invalid '{param}': "
        + "array too long. Expected an array with maximum length {max_length}, but got an "
        "array with length {count} instead.",
        param=param,
        code="array_above_max_length",
        max_length=limit,
        count=count,
    )


def check_input_size(
    body: SamplingFields, max_chars: int, max_messages: int, max_prompts: int
) -> int:
    """The request's input characters; a 400 naming the parameter when over a cap.

    Checked before any model, guard or template sees the text, so the work a single request
    can cause is bounded (the body as a whole is bounded by the middleware's 413)."""
    if isinstance(body, ChatCompletionRequest):
        if len(body.messages) > max_messages:
            raise _too_many("messages", len(body.messages), max_messages)
        total = 0
        for i, message in enumerate(body.messages):
            chars = _content_chars(message) + _tool_chars(message)
            if chars > max_chars:
                raise _too_long(f"messages[{i}].content", chars, max_chars)
            total += chars
        if total > max_chars:
            raise _too_long("messages", total, max_chars)
        return total
    assert isinstance(body, CompletionRequest)
    ids = token_lists(body.prompt)
    prompts: Sequence[Sequence[Any]]  # texts, or token ids (each counts as a character)
    if ids is not None:
        prompts = ids
    else:
        prompts = [body.prompt] if isinstance(body.prompt, str) else list(body.prompt)  # type: ignore[arg-type]
    if len(prompts) > max_prompts:
        raise _too_many("prompt", len(prompts), max_prompts)
    total = sum(len(p) for p in prompts)  # token ids count as characters: fewer than they spell
    if total > max_chars:
        raise _too_long("prompt", total, max_chars)
    return total
