"""Structured output as vLLM's clients ask for it, through a live server and the official
``openai`` SDK: ``guided_json`` (LangChain's and LlamaIndex's vLLM integrations send it in the
body's extras) was ignored, the answer free text; schema keywords the grammar does not enforce
(``multipleOf`` on numbers, formats xgrammar does not know) were let through unchecked, and
vLLM's other structured-output extras (``guided_grammar``, ``structured_outputs``) ignored.
Now ``guided_json`` is honoured, and the rest is a 400 naming what cannot be enforced.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from typing import Any, Literal

import openai
import pytest
from jsonschema import Draft202012Validator, FormatChecker
from pydantic import BaseModel, Field

from tests.e2e.server import Server, new_admin_key
from tests.engine.tiny_lm import save_tiny_gpt2

MODELS = ["gpt-tiny", "gpt-tiny-engine"]  # the neural decoder and the batching engine
ASK = [{"role": "user", "content": "Fill in the form"}]
FORM = {
    "type": "object",
    "properties": {
        "n": {"type": "integer", "minimum": 0, "maximum": 99, "multipleOf": 5},
        "day": {"type": "string", "format": "date"},
        "id": {"type": "string", "format": "uuid"},
    },
    "required": ["n", "day", "id"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("guided-model")
    save_tiny_gpt2(root / "tiny", vocab_size=257)  # the tokenizer's 256 bytes and end-of-text
    data = tmp_path_factory.mktemp("guided-server") / "data"
    server = Server(data, new_admin_key(), AIGC_IMPORT_ROOTS=str(root)).start()
    tiny = str(root / "tiny")
    server.register_shared(
        {
            "gpt-tiny": {"path": tiny},
            "gpt-tiny-engine": {"path": tiny, "engine": {"max_running": 4, "max_queue": 8}},
        }
    )
    yield server
    server.stop()


def _valid(text: str) -> dict[str, Any]:
    value = json.loads(text)
    checker = FormatChecker(formats=["uuid"])  # the format checked too, not an annotation
    Draft202012Validator(FORM, format_checker=checker).validate(value)
    assert value["n"] % 5 == 0
    datetime.date.fromisoformat(value["day"])  # a real date, not only its shape
    return dict(value)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("as_text", [False, True])
def test_guided_json_is_honoured_on_chat(srv: Server, model: str, as_text: bool) -> None:
    """As vLLM takes it: the schema as an object, or as its JSON text."""
    schema: Any = json.dumps(FORM) if as_text else FORM
    reply = srv.sdk().chat.completions.create(
        model=model,
        messages=ASK,  # type: ignore[arg-type]
        max_tokens=120,
        seed=3,
        extra_body={"guided_json": schema},
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "stop", choice
    _valid(choice.message.content or "")


DAYS = 12  # a random model's day: 31 in a 30-day month or February 30 about one in 16


@pytest.mark.parametrize("model", MODELS)
def test_every_date_decoded_is_a_real_one(srv: Server, model: str) -> None:
    """xgrammar's grammar for ``format: date`` is its shape (day 01-31 in any month): the
    random model wrote 3986-02-30 among these, and the SDK's pydantic refused the reply. Now
    the format is the calendar's pattern, so each day parses as a date."""

    class Days(BaseModel):
        days: list[datetime.date] = Field(min_length=DAYS, max_length=DAYS)

    reply = srv.sdk().chat.completions.parse(
        model=model,
        messages=ASK,  # type: ignore[arg-type]
        max_tokens=DAYS * 15 + 20,  # '"3986-02-28", ' is 14 tokens; the model holds 256
        seed=1,
        response_format=Days,
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "stop", choice
    days = json.loads(choice.message.content or "")["days"]
    assert len(days) == DAYS
    assert all(datetime.date.fromisoformat(day) for day in days)
    assert choice.message.parsed is not None and len(choice.message.parsed.days) == DAYS


@pytest.mark.parametrize("stream", [False, True])
def test_guided_json_is_honoured_on_completions(srv: Server, stream: bool) -> None:
    c = srv.sdk()
    kwargs: dict[str, Any] = {"model": "gpt-tiny", "prompt": "Form:", "max_tokens": 120}
    kwargs["extra_body"] = {"guided_json": FORM}
    if stream:
        text = "".join(ch.choices[0].text for ch in c.completions.create(stream=True, **kwargs))
    else:
        text = c.completions.create(**kwargs).choices[0].text
    _valid(text)


def _refused(srv: Server, extra: dict[str, Any], **fields: Any) -> openai.BadRequestError:
    with pytest.raises(openai.BadRequestError) as refused:
        srv.sdk().chat.completions.create(
            model="gpt-tiny",
            messages=ASK,  # type: ignore[arg-type]
            max_tokens=20,
            extra_body=extra,
            **fields,
        )
    return refused.value


def _format(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "form", "schema": schema}}


@pytest.mark.parametrize(
    ("keyword", "schema"),
    [
        (
            "multipleOf",
            {"type": "object", "properties": {"x": {"type": "number", "multipleOf": 0.5}}},
        ),
        ("multipleOf", {"type": "object", "properties": {"x": {"multipleOf": 3}}}),
        (
            "format",
            {"type": "object", "properties": {"x": {"type": "string", "format": "idn-email"}}},
        ),
        ("format", {"type": "object", "properties": {"x": {"format": "date"}}}),
        ("format", {"type": "array", "items": {"type": "string", "format": "x-mine"}}),
        (  # xgrammar kept the format and dropped the pattern: 2023-01-01 was let through
            "pattern",
            {"type": "array", "items": {"type": "string", "format": "date", "pattern": "^2024"}},
        ),
    ],
)
def test_a_keyword_the_grammar_cannot_enforce_is_a_400(
    srv: Server, keyword: str, schema: dict[str, Any]
) -> None:
    """The answer would have been let through unchecked: 1.3 for ``multipleOf: 0.5``."""
    error = _refused(srv, {}, response_format=_format(schema))
    assert error.param == "response_format.json_schema.schema"
    assert error.code == "invalid_json_schema"
    assert keyword in error.message, error.message
    error = _refused(srv, {"guided_json": schema})
    assert error.param == "guided_json" and keyword in error.message


# Schemas no JSON satisfies, through a keyword xgrammar's grammar drops (or, for oneOf, takes
# as anyOf): each was answered 200 with JSON that breaks it ([0, 0, 0] for the first),
# finish_reason "stop".
_BIT = {"type": "integer", "minimum": 0, "maximum": 1}
_DIGIT = {"type": "integer", "minimum": 0, "maximum": 9}


@pytest.mark.parametrize(
    ("keyword", "schema"),
    [
        ("uniqueItems", {"type": "array", "items": _BIT, "minItems": 3, "uniqueItems": True}),
        ("not", _DIGIT | {"not": {"type": "integer"}}),
        ("contains", {"type": "array", "items": _BIT, "contains": {"const": 7}}),
        ("allOf", {"allOf": [_DIGIT, {"type": "integer", "minimum": 20}]}),
        ("then", _DIGIT | {"if": {"type": "integer"}, "then": {"type": "string"}}),
        ("dependentRequired", {"type": "object", "properties": {"a": _DIGIT},
                               "required": ["a"], "additionalProperties": False,
                               "dependentRequired": {"a": ["b"]}}),
        ("type", {"type": "string", "anyOf": [_DIGIT, {"type": "boolean"}]}),
        ("minimum", {"$defs": {"d": _DIGIT}, "$ref": "#/$defs/d", "minimum": 20}),
        ("oneOf", {"oneOf": [_DIGIT, {"type": "integer", "minimum": 0, "maximum": 9}]}),
    ],
)  # fmt: skip
def test_a_keyword_the_grammar_drops_is_a_400(
    srv: Server, keyword: str, schema: dict[str, Any]
) -> None:
    error = _refused(srv, {}, response_format=_format(schema))
    assert error.param == "response_format.json_schema.schema"
    assert error.code == "invalid_json_schema"
    assert keyword in error.message, error.message
    error = _refused(srv, {"guided_json": schema})
    assert error.param == "guided_json" and keyword in error.message


class _Cat(BaseModel):
    kind: Literal["cat"]
    lives: int


class _Dog(BaseModel):
    kind: Literal["dog"]
    good: bool


class _Home(BaseModel):
    city: str = Field(max_length=3)


class _Owner(BaseModel):
    home: _Home = Field(description="a $ref beside an annotation")
    work: _Home | None = None  # anyOf of a $ref and null
    pet: _Cat | _Dog = Field(discriminator="kind")  # oneOf of disjoint schemas


@pytest.mark.parametrize("strict", [False, True])
def test_the_schemas_pydantic_and_the_sdk_write_are_taken(srv: Server, strict: bool) -> None:
    """What the refusals above must not catch: annotations beside a ``$ref``, ``anyOf`` with
    null, a discriminated ``oneOf`` (pydantic's schema, and the SDK's strict one)."""
    schema = (  # the SDK's strict schema, as its parse() sends it
        dict(openai.pydantic_function_tool(_Owner)["function"]["parameters"])
        if strict
        else _Owner.model_json_schema()
    )
    done = srv.sdk().chat.completions.create(
        model="gpt-tiny",
        messages=ASK,  # type: ignore[arg-type]
        max_tokens=200,
        temperature=0,
        response_format=_format(schema),  # type: ignore[arg-type]
    )
    if done.choices[0].finish_reason == "stop":  # the grammar held it: it parses
        _Owner.model_validate_json(done.choices[0].message.content or "")


def test_a_format_on_another_type_is_no_constraint(srv: Server) -> None:
    """``format`` constrains strings only (JSON Schema): ``int32`` on an integer is taken."""
    schema = {
        "type": "object",
        "properties": {"x": {"type": "integer", "format": "int32", "maximum": 9, "minimum": 0}},
        "required": ["x"],
        "additionalProperties": False,
    }
    reply = srv.sdk().chat.completions.create(
        model="gpt-tiny", messages=ASK, max_tokens=20, extra_body={"guided_json": schema}
    )  # type: ignore[arg-type]
    assert 0 <= json.loads(reply.choices[0].message.content or "")["x"] <= 9


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("guided_grammar", 'root ::= "yes"'),
        ("structured_outputs", {"json": {"type": "object"}}),
        ("guided_whitespace_pattern", " "),
        ("guided_decoding_backend", "outlines"),
        ("structural_tag", "{}"),
        # vLLM's sampling and prompt extras this server does not implement (answered 200 as if
        # absent: ignore_eos still ended at end-of-text)
        ("ignore_eos", True),
        ("stop_token_ids", [65]),
        ("include_stop_str_in_output", True),
        ("skip_special_tokens", False),
        ("allowed_token_ids", [65, 66]),
        ("bad_words", ["a"]),
        ("truncate_prompt_tokens", 3),
        ("prompt_logprobs", 1),
        ("chat_template", "{{ messages }}"),
        ("chat_template_kwargs", {"enable_thinking": False}),
        ("add_generation_prompt", False),
        ("continue_final_message", True),
        ("documents", [{"text": "x"}]),
    ],
)
def test_vllm_extras_not_honoured_are_a_400_naming_them(
    srv: Server, field: str, value: Any
) -> None:
    error = _refused(srv, {field: value})
    assert error.param == field and error.code == "unsupported_parameter"
    with pytest.raises(openai.BadRequestError) as on_completions:
        srv.sdk().completions.create(
            model="gpt-tiny", prompt="hi", max_tokens=4, extra_body={field: value}
        )
    assert on_completions.value.param == field


def test_vllm_extras_at_their_defaults_are_taken(srv: Server) -> None:
    """What vLLM clients send by default is no request for anything: taken."""
    defaults = {
        "ignore_eos": False,
        "skip_special_tokens": True,
        "stop_token_ids": [],
        "add_generation_prompt": True,
        "chat_template_kwargs": {},
    }
    done = srv.sdk().chat.completions.create(
        model="gpt-tiny",
        messages=ASK,  # type: ignore[arg-type]
        max_tokens=2,
        extra_body=defaults,
    )
    assert done.choices[0].finish_reason in ("stop", "length")


def test_guided_json_with_another_constraint_is_a_400(srv: Server) -> None:
    error = _refused(srv, {"guided_json": FORM}, response_format={"type": "json_object"})
    assert error.param == "response_format" and "guided_json" in error.message
    error = _refused(srv, {"guided_json": FORM, "guided_regex": "a+"})
    assert error.param == "guided_json"
    error = _refused(srv, {"guided_json": "{not json"})
    assert error.param == "guided_json"


def test_the_backend_vllm_clients_name_is_ours(srv: Server) -> None:
    reply = srv.sdk().chat.completions.create(
        model="gpt-tiny",
        messages=ASK,  # type: ignore[arg-type]
        max_tokens=120,
        extra_body={"guided_json": FORM, "guided_decoding_backend": "xgrammar"},
    )
    _valid(reply.choices[0].message.content or "")
