"""Structured output with xgrammar through the shared decoding path: every sample of a small
random GPT-2 (with a BPE tokenizer trained here) parses and validates; bad formats are 400s."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from aigc.errors import InvalidRequest
from aigc.guard import structured
from aigc.models.protocols import ChatMessage, TextRequest
from aigc.models.text import neural
from aigc.models.text.tokenizers import train_tokenizer

SCHEMAS = [
    {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 12},
            "age": {"type": "integer", "minimum": 0, "maximum": 120},
        },
        "required": ["name", "age"],
        "additionalProperties": False,
    },
    {
        "type": "object",
        "properties": {
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 6}, "maxItems": 3},
            "ok": {"type": "boolean"},
        },
        "required": ["tags", "ok"],
        "additionalProperties": False,
    },
    {
        "type": "object",
        "properties": {"level": {"enum": ["low", "medium", "high"]}, "note": {"type": "null"}},
        "required": ["level", "note"],
        "additionalProperties": False,
    },
]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> neural.NeuralTextModel:
    directory = tmp_path_factory.mktemp("tok")
    train_tokenizer("bpe", neural.pydoc_texts()[:200], vocab_size=400).save(directory)
    tokenizer = neural.load_text_tokenizer(Path(directory))
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(tokenizer.hf), n_positions=512, n_embd=32, n_layer=1, n_head=2
    )
    return neural.NeuralTextModel(neural.HFCausalLM(GPT2LMHeadModel(config)), tokenizer)


def _run(model: neural.NeuralTextModel, constraint: structured.Constraint, seed: int) -> str:
    request = TextRequest(
        messages=[ChatMessage("user", "Give me the record as JSON.")],
        max_tokens=256,
        temperature=1.0,
        seed=seed,
        logits_processors=(structured.processor_for(model, constraint),),
    )
    return "".join(model.generate(request))


@pytest.mark.parametrize("schema", SCHEMAS)
def test_json_schema_samples_parse_and_validate(
    model: neural.NeuralTextModel, schema: dict
) -> None:
    constraint = structured.parse_constraint(
        {"response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": schema}}}
    )
    assert constraint is not None
    for seed in range(4):
        text = _run(model, constraint, seed)
        assert structured.validate(constraint, text) is None, text


def test_json_object_regex_and_choice(model: neural.NeuralTextModel) -> None:
    obj = structured.parse_constraint({"response_format": {"type": "json_object"}})
    assert obj is not None
    assert isinstance(json.loads(_run(model, obj, 1)), dict)
    regex = structured.parse_constraint({"guided_regex": r"[A-Z]{2}-\d{3}"})
    assert regex is not None and re.fullmatch(r"[A-Z]{2}-\d{3}", _run(model, regex, 2))
    choice = structured.parse_constraint({"guided_choice": ["yes", "no", "不确定"]})
    assert choice is not None and _run(model, choice, 3) in ("yes", "no", "不确定")


def test_bad_formats_and_models_are_refused() -> None:
    with pytest.raises(InvalidRequest):
        structured.parse_constraint({"response_format": {"type": "yaml"}})
    with pytest.raises(InvalidRequest):
        structured.parse_constraint(
            {"response_format": {"type": "json_schema", "json_schema": {"schema": {"type": 3}}}}
        )
    with pytest.raises(InvalidRequest):
        structured.parse_constraint({"guided_regex": "(", "response_format": None})
    with pytest.raises(InvalidRequest) as refused:
        structured.processor_for(object(), structured.Constraint("json_object"))
    assert refused.value.code == "unsupported_parameter"
    assert (
        structured.validate(structured.Constraint("json_object"), "[1]") == "is not a JSON object"
    )


def _schema_format(schema: dict) -> dict:
    spec = {"name": "x", "schema": schema}
    return {"response_format": {"type": "json_schema", "json_schema": spec}}


def _nested(levels: int) -> dict:
    """A schema of ``levels`` objects, each the ``items`` of the one around it."""
    schema: dict = {"type": "string"}
    for _ in range(levels - 1):
        schema = {"type": "array", "items": schema}
    return schema


@pytest.mark.parametrize(
    ("schema", "reason"),
    [
        ({"enum": []}, "Invalid JSON schema: enum array must not be empty"),
        (
            {"type": "integer", "minimum": 5, "maximum": 2},
            "Invalid JSON schema: Invalid range: minimum greater than maximum",
        ),
        (
            {"$ref": "#/$defs/x", "$defs": {"x": {"$ref": "#/$defs/x"}}},
            "Invalid JSON schema: Circular $ref chain with no schema content: "
            "#/$defs/x -> #/$defs/x",
        ),
    ],
)
def test_a_schema_no_grammar_can_hold_is_a_400_before_any_model(schema: dict, reason: str) -> None:
    """The metaschema allows these; xgrammar's compile for the model raised a RuntimeError (a
    500). Now the body's reading builds the grammar and says why not, without xgrammar's log
    prefix ('[11:38:28] /project/cpp/json_schema_converter.cc:5082: ')."""
    with pytest.raises(InvalidRequest) as refused:
        structured.parse_constraint(_schema_format(schema))
    assert refused.value.message == reason
    assert refused.value.param == "response_format.json_schema.schema"
    assert refused.value.code == "invalid_json_schema"


def test_a_schema_nested_past_the_limit_is_a_400_that_says_so() -> None:
    """200 levels hit a RecursionError in jsonschema's metaschema check (a 500); the bound is
    checked first, without recursion, and the message names it."""
    limit = structured.MAX_SCHEMA_DEPTH
    assert structured.parse_constraint(_schema_format(_nested(limit))) is not None
    for levels in (limit + 1, 200, 5000):
        with pytest.raises(InvalidRequest) as refused:
            structured.parse_constraint(_schema_format(_nested(levels)))
        assert f"more than {limit} levels" in refused.value.message
        assert refused.value.code == "invalid_json_schema"
    deep_list: list = [0]
    for _ in range(limit):
        deep_list = [deep_list]
    with pytest.raises(InvalidRequest) as listed:  # arrays count as levels too
        structured.check_schema({"enum": deep_list}, "tools[0].function.parameters")
    assert listed.value.param == "tools[0].function.parameters"


def test_a_schema_the_metaschema_refuses_is_named_by_place_without_python_reprs() -> None:
    """jsonschema's message quoted the offending value as a Python repr, whole: "{'x': [1, 2,
    3, ...]} is not valid under any of the given schemas". Now a JSON pointer and the rule."""
    bad_type = {"type": "object", "properties": {"a": {"type": {"x": [1, 2, 3] * 50}}}}
    with pytest.raises(InvalidRequest) as refused:
        structured.parse_constraint(_schema_format(bad_type))
    assert refused.value.message == (
        "Invalid JSON schema: /properties/a/type must be a type name (string, number, integer, "
        "object, array, boolean, null) or a list of distinct ones"
    )
    assert refused.value.code == "invalid_json_schema"
    with pytest.raises(InvalidRequest) as refused:
        structured.check_schema({"enum": 5}, "tools[0].function.parameters")
    assert refused.value.message == "Invalid JSON schema: /enum must be of type array"
    with pytest.raises(InvalidRequest) as refused:
        structured.check_schema({"pattern": "(("}, "p")
    assert refused.value.message == "Invalid JSON schema: /pattern must be a valid regex"


def test_a_pattern_xgrammar_cannot_build_is_a_400() -> None:
    """RE2 takes (?i) and NUL, xgrammar does not: its compile for the model was a 500."""
    with pytest.raises(InvalidRequest) as regex:
        structured.parse_constraint({"guided_regex": "(?i)abc"})
    assert regex.value.param == "guided_regex"
    assert regex.value.message == (
        "'guided_regex' cannot be enforced while decoding: Regex parsing error at position 3: "
        "Group modifier flag is not supported yet"
    )
    with pytest.raises(InvalidRequest) as choice:
        structured.parse_constraint({"guided_choice": ["yes", "n\0o"]})
    assert choice.value.param == "guided_choice"


class _Tokenizer:
    """Stands in for a tokenizer object: only its identity matters to the cache."""


def test_a_tokenizer_at_a_freed_tokenizers_address_gets_its_own_entry() -> None:
    """Python reuses the id of a freed object: a model unloaded and another loaded at the same
    address once got the first one's grammar compiler (a bitmask of the wrong vocabulary width,
    'should be (batch_size, 12)')."""
    import gc

    cache: structured.PerTokenizer[str] = structured.PerTokenizer()
    old = _Tokenizer()
    assert cache.get(old, lambda: "the old vocabulary's compiler") == (
        "the old vocabulary's compiler"
    )
    del old
    gc.collect()
    new = _Tokenizer()  # CPython usually hands it the freed object's address
    assert cache.get(new, lambda: "built for the new one") == "built for the new one"
    assert cache.get(new, lambda: "not built again") == "built for the new one"


def test_an_entry_goes_with_its_tokenizer() -> None:
    import gc

    cache: structured.PerTokenizer[int] = structured.PerTokenizer()
    tokenizer = _Tokenizer()
    assert cache.get(tokenizer, lambda: 1) == 1 and len(cache) == 1
    del tokenizer
    gc.collect()
    assert len(cache) == 0


def test_an_upstream_is_sent_the_format_as_the_caller_asked() -> None:
    """``openai_format``: what an upstream that enforces formats itself is sent."""
    spec = {"name": "person", "description": "一个人", "strict": True, "schema": {"type": "object"}}
    asked = {"response_format": {"type": "json_schema", "json_schema": spec}}
    constraint = structured.parse_constraint(asked)
    assert constraint is not None
    assert structured.openai_format(constraint) == asked["response_format"]
    guided = structured.parse_constraint({"guided_json": '{"type": "object"}'})
    assert guided is not None and structured.openai_format(guided) == {
        "type": "json_schema",
        "json_schema": {"name": "response", "schema": {"type": "object"}},
    }
    regex = structured.parse_constraint({"guided_regex": "[0-9]+"})
    assert regex is not None and structured.openai_format(regex) is None  # no OpenAI field


# Each format's grammar, compiled as a request's is, against strings it must take and refuse.
# xgrammar's own grammar for date, date-time, time, ipv4, ipv6, hostname and email checked
# only the shape (8282-11-31, 23:59:60Z, 010.0.0.1, ::01.2.3.4 and a 64-letter label were
# taken; Example.COM and ::ff:1.2.3.4 were not).
FORMAT_CASES = {
    "date": (
        ["2024-02-29", "2000-02-29", "0004-02-29", "2023-11-30", "2023-12-31", "0001-01-01"],
        ["8282-11-31", "2023-02-30", "2023-02-29", "1900-02-29", "2023-04-31", "0000-01-01",
         "2023-13-01", "2023-1-01"],
    ),
    "date-time": (
        ["2024-02-29T23:59:59.123+05:30", "1999-12-31T00:00:00Z", "2023-06-30T12:00:00-08:00"],
        ["2023-06-31T12:00:00Z", "2023-02-29T00:00:00Z", "2024-01-01T24:00:00Z",
         "2024-01-01T23:59:60Z", "2024-01-01T00:00:00+24:00", "2024-01-01T00:00:00"],
    ),
    "time": (
        ["00:00:00Z", "23:59:59.5+14:00", "12:30:00-03:30"],
        ["24:00:00Z", "23:60:00Z", "23:59:60Z", "12:00:00", "12:00:00+01:60"],
    ),
    "ipv4": (
        ["0.0.0.0", "255.255.255.255", "192.168.1.10"],
        ["256.1.1.1", "1.2.3.04", "010.0.0.1", "1.2.3", "1.2.3.4.5"],
    ),
    "hostname": (
        ["example.com", "Example.COM", "a", "a-b.c", "a" * 63 + ".com"],
        ["a" * 64 + ".com", "-a.com", "a-.com", "a..b", "a_b.com"],
    ),
    "uuid": (
        ["123e4567-e89b-12d3-a456-426614174000", "ABCDEF01-2345-6789-abcd-ef0123456789"],
        ["123e4567-e89b-12d3-a456-42661417400", "123e4567e89b12d3a456426614174000"],
    ),
    "ipv6": (
        ["::", "::1", "1:2:3:4:5:6:7:8", "fe80::1", "::ffff:1.2.3.4", "::ff:1.2.3.4",
         "1:2:3:4:5:6:1.2.3.4", "1::2:3:4:5:6:7"],
        ["1::2::3", "1:2:3:4:5:6:7:8:9", "12345::", "::ffff:1.2.3.256", "fe80::1%eth0",
         "::01.2.3.4", "1::2:3:4:5:6:7:8"],
    ),
    "email": (
        ["a@b", "first.last+tag@example.com", "o'k{x}|y~@b.c"],
        ["a..b@c.d", ".a@b.c", "a.@b.c", "a@-b.c", "no-at-sign", "a@" + "b" * 64 + ".com"],
    ),
}  # fmt: skip


def _format_matcher(model: neural.NeuralTextModel, fmt: str, param: str) -> Any:
    import xgrammar as xgr

    schema = {"type": "string", "format": fmt}
    field = {"guided_json": schema} if param == "guided_json" else _schema_format(schema)
    constraint = structured.parse_constraint(field)
    assert constraint is not None
    compiled = structured.compile_constraint(constraint, model.tokenizer, model.vocab_size)
    return xgr.GrammarMatcher(compiled, terminate_without_stop_token=True)


def _takes(model: neural.NeuralTextModel, fmt: str, value: str, param: str) -> bool:
    matcher = _format_matcher(model, fmt, param)
    return bool(matcher.accept_string(json.dumps(value))) and bool(matcher.is_terminated())


@pytest.mark.parametrize("param", ["response_format", "guided_json"])
@pytest.mark.parametrize("fmt", sorted(FORMAT_CASES))
def test_a_formats_grammar_takes_valid_strings_and_refuses_invalid_ones(
    model: neural.NeuralTextModel, fmt: str, param: str
) -> None:
    valid, invalid = FORMAT_CASES[fmt]
    assert [v for v in valid if not _takes(model, fmt, v, param)] == []
    assert [v for v in invalid if _takes(model, fmt, v, param)] == []


def test_the_exact_date_is_the_calendars() -> None:
    """Every date the pattern takes is a real one, and every real one is taken: all days of
    years around leap rules (1900 no, 2000 yes, 2023 no, 2024 yes), against the calendar."""
    import datetime

    exact = re.compile(structured.EXACT_FORMATS["date"])
    for year in (1900, 2000, 2023, 2024):
        for month in range(1, 13):
            for day in range(1, 32):
                text = f"{year:04d}-{month:02d}-{day:02d}"
                try:
                    datetime.date.fromisoformat(text)
                    real = True
                except ValueError:
                    real = False
                assert bool(exact.fullmatch(text)) == real, text


def test_the_exact_ipv6_is_pythons() -> None:
    """The ipv6 pattern against ``ipaddress`` for addresses built of groups, embedded IPv4s
    (some with leading zeros or an octet over 255) and "::" anywhere, valid or not."""
    import ipaddress
    import random

    exact = re.compile(structured.EXACT_FORMATS["ipv6"])
    parts = ["0", "1", "ff", "abcd", "12345", "", "0001", "1.2.3.4", "01.2.3.4", "256.1.1.1"]
    rng, real = random.Random(0), 0
    for _ in range(3000):
        text = ":".join(rng.choice(parts) for _ in range(rng.randint(1, 9)))
        text = rng.choice(["", ":", "::"]) + text + rng.choice(["", ":", "::"])
        try:
            ipaddress.IPv6Address(text)
            valid = True
        except ValueError:
            valid = False
        real += valid
        assert bool(exact.fullmatch(text)) == valid, text
    assert real > 50  # the valid ones were tried too


def test_a_strict_tools_arguments_get_the_exact_formats() -> None:
    """Tool calls are decoded under the arguments' schema too: its date is the exact one."""
    from aigc.models.protocols import FunctionTool

    day = {"type": "object", "properties": {"d": {"type": "string", "format": "date"}}}
    arguments = structured._arguments(FunctionTool("f", None, day, True))
    assert arguments.json_schema["properties"]["d"] == {
        "type": "string",
        "pattern": structured.EXACT_FORMATS["date"],
    }
    assert day["properties"]["d"] == {"type": "string", "format": "date"}  # not changed


@pytest.mark.parametrize("fmt", ["date", "uuid", "email"])
def test_a_format_beside_a_pattern_is_a_400_naming_the_place(fmt: str) -> None:
    """xgrammar keeps the format's grammar and drops the pattern: "2023-01-01" was taken for
    ``^2024-``. Both cannot be held at once by the grammar, so the schema is refused."""
    schema = {
        "type": "object",
        "properties": {"d": {"type": "string", "format": fmt, "pattern": "^2024-"}},
    }
    with pytest.raises(InvalidRequest) as refused:
        structured.parse_constraint(_schema_format(schema))
    assert refused.value.code == "invalid_json_schema"
    assert refused.value.param == "response_format.json_schema.schema"
    assert "/properties/d" in str(refused.value) and "'pattern'" in str(refused.value)
