"""Structured output: ``response_format`` (json_object, json_schema) and the vLLM-style extras
``guided_regex`` / ``guided_choice``, enforced while decoding with xgrammar.

For a local neural model the constraint is a logits processor: after each token the grammar
matcher advances and masks every token that would break the grammar, so every completion
parses (and validates, for a schema) unless it runs out of ``max_tokens`` or the vocabulary
cannot go on along the path sampled (``unfinished``: an error, not the answer). Streaming works
unchanged: the constraint acts before sampling. Models that do not decode token by token here
(templates, n-grams) cannot be constrained: the constraint is a 400 there. An upstream
OpenAI-compatible server enforces a JSON format itself: it gets ``openai_format`` as the body's
``response_format`` (what LangChain's ``with_structured_output`` and the SDK's ``parse`` send).
``validate`` checks a finished answer against the format.

Function calling on a local chat model (``tool_processor``): xgrammar's structural tag for the
model's tool-call format. ``auto``: free text, but a started call must complete, naming an
offered function with arguments valid under its schema; ``required``: the answer is one call
or more (one when ``parallel_tool_calls`` is false); a named function: exactly that call.
xgrammar has no builder for Mistral's formats, whose markers are special tokens: their tags
are built here from xgrammar's structural-tag parts, keyed on the marker tokens' ids.

A model offers grammar-constrained decoding by having ``tokenizer`` (a ``TextTokenizer``) and
``vocab_size`` (the width of its logits): the neural models directly, the batching engine too.
"""

from __future__ import annotations

import functools
import json
import re
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from threading import Lock
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import torch

from aigc.errors import InvalidRequest, refused_value
from aigc.infra import linear_re, untrusted
from aigc.models.protocols import FunctionTool, ToolSet
from aigc.models.text.tool_calls import GRAMMAR_KEYS, MISTRAL

if TYPE_CHECKING:
    from jsonschema.exceptions import SchemaError

MAX_SCHEMA_DEPTH = 64
"""How deeply a JSON schema may nest its objects and arrays (the outermost object is level 1).
jsonschema's metaschema check walks a schema recursively, about eight Python frames a level
(``items`` in ``items``), so ~150 levels exhaust the interpreter's 1,000; this bound, checked
first without recursion, keeps every later walk far from that. Real schemas nest much less
(OpenAI's structured outputs allow 10 levels of properties)."""

SCHEMA_ERROR = "invalid_json_schema"  # the code of every 400 about a JSON schema
_SCHEMA_PARAM = "response_format.json_schema.schema"

# xgrammar starts its errors with a log prefix: "[11:38:28] /project/cpp/x.cc:5082: "
_XGRAMMAR_PREFIX = re.compile(r"^\[[0-9:.]+\]\s+\S+:\d+:\s*")


@dataclass(frozen=True)
class Constraint:
    kind: str  # json_object | json_schema | regex | choice
    schema: dict[str, Any] | None = None
    pattern: str | None = None
    choices: tuple[str, ...] = ()
    param: str = "response_format"  # the body's field that asked for it, as errors name it
    # json_schema's name, description and strict as the caller sent them: an upstream gets
    # them on as asked
    name: str = "response"
    description: str | None = None
    strict: bool | None = None


GUIDED = ("guided_json", "guided_regex", "guided_choice")  # vLLM's extras, honoured as vLLM


def parse_constraint(values: dict[str, Any]) -> Constraint | None:
    """The request's output constraint from its body fields, or None; 400 on a bad one."""
    response_format = values.get("response_format")
    regex, choice = values.get("guided_regex"), values.get("guided_choice")
    guided_json = values.get("guided_json")
    asked = response_format not in (None, {"type": "text"})
    if asked + sum(values.get(field) is not None for field in GUIDED) > 1:
        raise refused_value(
            "one_output_constraint",
            "Use one of response_format, guided_json, guided_regex and guided_choice",
            param="response_format" if asked else "guided_json",
        )
    if guided_json is not None:
        return _guided_json(guided_json)
    if regex is not None:
        if not isinstance(regex, str):
            raise refused_value("string_type", "'guided_regex' is a string", param="guided_regex")
        try:  # the caller's pattern: RE2 only, so checking an answer against it is linear
            linear_re.compile(regex)
        except linear_re.LinearRegexError as exc:
            raise refused_value(
                "policy_pattern_not_linear",
                "'guided_regex': {reason}",
                param="guided_regex",
                reason=str(exc),
            ) from None
        return _buildable(Constraint("regex", pattern=regex, param="guided_regex"), "guided_regex")
    if choice is not None:
        if (
            not isinstance(choice, list)
            or not choice
            or not all(isinstance(c, str) for c in choice)
        ):
            raise refused_value(
                "list_of_strings", "'guided_choice' is a list of strings", param="guided_choice"
            )
        if any("\0" in c for c in choice):
            raise refused_value(
                "choice_with_nul",
                "'guided_choice' strings cannot hold a NUL character",
                param="guided_choice",
            )
        constraint = Constraint("choice", choices=tuple(choice), param="guided_choice")
        return _buildable(constraint, "guided_choice")
    if response_format in (None, {"type": "text"}):
        return None
    if not isinstance(response_format, dict):
        raise refused_value("dict", "'response_format' is an object", param="response_format")
    kind = response_format.get("type")
    if kind == "json_object":
        return Constraint("json_object")
    if kind == "json_schema":
        found = response_format.get("json_schema")
        spec: dict[str, Any] = found if isinstance(found, dict) else {}
        schema = spec.get("schema")
        if not isinstance(schema, dict):
            raise refused_value(
                "schema_not_object",
                "'response_format.json_schema.schema' must be a JSON schema object",
                param=_SCHEMA_PARAM,
                code=SCHEMA_ERROR,
            )
        check_schema(schema, _SCHEMA_PARAM, grammar=True)
        name, description, strict = spec.get("name"), spec.get("description"), spec.get("strict")
        return Constraint(
            "json_schema",
            schema=schema,
            name=name if isinstance(name, str) and name else "response",
            description=description if isinstance(description, str) else None,
            strict=strict if isinstance(strict, bool) else None,
        )
    raise refused_value(
        "literal_error",
        "'response_format.type' is one of {expected}",
        param="response_format.type",
        expected="text, json_object, json_schema",
    )


def openai_format(constraint: Constraint) -> dict[str, Any] | None:
    """The constraint as OpenAI's ``response_format``, for a model that enforces it itself (an
    upstream OpenAI-compatible server); None for what OpenAI has no field for (a regex, a
    choice). ``guided_json`` goes up as the json_schema it is."""
    if constraint.kind == "json_object":
        return {"type": "json_object"}
    if constraint.kind != "json_schema":
        return None
    spec: dict[str, Any] = {"name": constraint.name, "schema": constraint.schema}
    if constraint.description is not None:
        spec["description"] = constraint.description
    if constraint.strict is not None:
        spec["strict"] = constraint.strict
    return {"type": "json_schema", "json_schema": spec}


def _guided_json(value: Any) -> Constraint:
    """vLLM's ``guided_json``: a JSON schema, as an object or as its JSON text."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise refused_value(
                "schema_text_not_json",
                "'guided_json' is a JSON schema; its text is not JSON ({reason})",
                param="guided_json",
                code=SCHEMA_ERROR,
                reason=exc.msg,
            ) from None
    if not isinstance(value, dict):
        raise refused_value(
            "schema_not_object",
            "'guided_json' must be a JSON schema object",
            param="guided_json",
            code=SCHEMA_ERROR,
        )
    check_schema(value, "guided_json", grammar=True)
    return Constraint("json_schema", schema=value, param="guided_json")


def check_schema(schema: dict[str, Any], param: str, grammar: bool = False) -> None:
    """400 naming ``param`` (code ``invalid_json_schema``) unless ``schema`` nests at most
    ``MAX_SCHEMA_DEPTH`` levels and the JSON Schema 2020-12 metaschema accepts it; with
    ``grammar`` (it will constrain decoding) xgrammar must also build its grammar, as schemas
    the metaschema allows can still be unsatisfiable (an empty ``enum``, ``minimum`` above
    ``maximum``, a ``$ref`` cycle), and enforce every ``format`` and ``multipleOf`` in it
    (``_unenforced``): what the grammar would let pass unchecked is refused, not ignored. A
    verdict is cached by the schema's JSON text, so a schema sent with every request is
    checked once."""
    reason = _schema_fault(_schema_text(schema, param), grammar)
    if reason is not None:
        raise refused_value(
            "schema_invalid",
            "Invalid JSON schema: {reason}",
            param=param,
            code=SCHEMA_ERROR,
            reason=reason,
        )


def _schema_text(schema: dict[str, Any], param: str) -> str:
    """``schema`` as JSON text, the key of the verdicts' cache; 400 when it nests past
    ``MAX_SCHEMA_DEPTH`` (measured first, without recursion: dumping it recurses)."""
    if _too_deep(schema, MAX_SCHEMA_DEPTH):
        raise refused_value(
            "schema_too_deep",
            "Invalid JSON schema: it nests more than {max} levels of objects and arrays",
            param=param,
            code=SCHEMA_ERROR,
            max=MAX_SCHEMA_DEPTH,
        )
    return json.dumps(schema)


VERDICTS_CACHED = 512
"""How many schemas' and patterns' verdicts are kept (least recently used go first): clients
send the same few schemas with every request, and each check (the metaschema, xgrammar's
grammar) costs milliseconds to seconds, while a verdict is a short string."""


@functools.lru_cache(maxsize=VERDICTS_CACHED)
def _schema_fault(text: str, grammar: bool) -> str | None:
    """What is wrong with the JSON schema ``text``, or None: the metaschema's verdict, then
    (``grammar``: it will constrain decoding) whether xgrammar can build its grammar."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(json.loads(text))
    except SchemaError as exc:
        return _metaschema_reason(exc)
    if not grammar:
        return None
    import xgrammar as xgr

    try:
        xgr.Grammar.from_json_schema(
            _exact_formats_text(text), any_whitespace=False, strict_mode=True
        )
    except RuntimeError as exc:
        return xgrammar_reason(exc)
    return _unenforced(json.loads(text))


# Keywords whose value is one subschema, a list of them, or a map of names to them: the places
# ``_unenforced`` looks for more schemas (enum, const, default and examples hold values).
_ONE_SCHEMA = (
    "items",
    "additionalItems",
    "additionalProperties",
    "unevaluatedItems",
    "unevaluatedProperties",
    "contains",
    "propertyNames",
    "not",
    "if",
    "then",
    "else",
)
_SCHEMA_LISTS = ("prefixItems", "allOf", "anyOf", "oneOf", "items")
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")


def _unenforced(schema: dict[str, Any]) -> str | None:
    """Where ``schema`` asks for what xgrammar's grammar does not enforce while decoding, and
    what, else None. xgrammar enforces ``multipleOf`` on integers only (a number's
    ``multipleOf: 0.5`` let 1.3 through) and a string ``format`` only among those it knows
    (``enforced_formats``; an unknown one, or one on a schema without ``type: string``, let
    any string through); ``_keyword_fault`` says what else it drops. Walked without recursion;
    the depth is bounded already."""
    stack: list[tuple[Any, str]] = [(schema, "")]
    while stack:
        node, where = stack.pop()
        if not isinstance(node, dict):
            continue
        fault = _node_fault(node) or _one_of_fault(node, schema)
        if fault is not None:
            return f"{untrusted.field(where or '/')}: {fault}"
        for key in _ONE_SCHEMA:
            if isinstance(node.get(key), dict):
                stack.append((node[key], f"{where}/{key}"))
        for key in _SCHEMA_LISTS:
            if isinstance(node.get(key), list):
                stack.extend((sub, f"{where}/{key}/{i}") for i, sub in enumerate(node[key]))
        for key in _SCHEMA_MAPS:
            if isinstance(node.get(key), dict):
                stack.extend((sub, f"{where}/{key}/{name}") for name, sub in node[key].items())
    return None


# Keywords xgrammar's grammar drops (0.2.9, each seen letting a violating instance through):
# an unsatisfiable ``not``, ``uniqueItems`` or ``contains`` schema was answered with JSON that
# breaks it, and ``allOf`` of several schemas let through what none of them allows.
_IGNORED = (
    "not",
    "uniqueItems",
    "contains",
    "then",
    "else",
    "dependentRequired",
    "dependentSchemas",
)
# A schema that combines (``$ref``, ``allOf``, ``anyOf``, ``oneOf``) gets the grammar of what it
# combines alone: an assertion beside it (``"type": "integer"`` beside an ``anyOf`` that allows
# strings, a ``maximum`` beside a ``$ref``) was let through unchecked. Annotations may stay.
_COMBINERS = ("$ref", "allOf", "anyOf", "oneOf")
_ASSERTIONS = (
    *_COMBINERS,
    *_IGNORED,
    "type", "enum", "const", "multipleOf", "maximum", "exclusiveMaximum", "minimum",
    "exclusiveMinimum", "maxLength", "minLength", "pattern", "format", "maxItems", "minItems",
    "maxContains", "minContains", "maxProperties", "minProperties", "required", "properties",
    "patternProperties", "additionalProperties", "propertyNames", "items", "prefixItems",
    "unevaluatedItems", "unevaluatedProperties",
)  # fmt: skip


def _keyword_fault(node: dict[str, Any]) -> str | None:
    """A keyword of ``node`` that the grammar would drop, said, or None."""
    for key in _IGNORED:
        if key in node and not (key == "uniqueItems" and node[key] is False):
            return f"'{key}' cannot be enforced while decoding"
    if isinstance(node.get("allOf"), list) and len(node["allOf"]) > 1:
        return "'allOf' of more than one schema cannot be enforced while decoding"
    combiners = [key for key in _COMBINERS if key in node]
    if combiners:
        beside = [key for key in _ASSERTIONS if key in node and key != combiners[0]]
        if beside:
            return (
                f"'{beside[0]}' beside '{combiners[0]}' cannot be enforced while decoding; "
                "put it inside the schemas it combines"
            )
    return None


def _one_of_fault(node: dict[str, Any], root: dict[str, Any]) -> str | None:
    """A ``oneOf`` whose schemas may overlap, said, or None. xgrammar takes such a ``oneOf``
    as ``anyOf``, so an answer two of them allow (3 for an integer and a non-negative one)
    went through; schemas told apart by their types, their constants, or a required property's
    constants (pydantic's discriminated unions) cannot overlap, and are taken."""
    branches = node.get("oneOf")
    if not isinstance(branches, list) or len(branches) < 2:
        return None
    resolved = [_resolve(b, root) for b in branches]
    if _apart_by_type(resolved) or _apart_by_values(resolved):
        return None
    names = set.intersection(*(set(b.get("required", ())) for b in resolved))
    if any(_apart_by_values([b.get("properties", {}).get(n, {}) for b in resolved]) for n in names):
        return None
    return (
        "'oneOf' of schemas one answer could match twice cannot be enforced while decoding; "
        "tell them apart by type or by a required property's const, or use anyOf"
    )


def _resolve(schema: Any, root: dict[str, Any]) -> dict[str, Any]:
    """``schema``, or the local definition its ``$ref`` names (one step), as a dict."""
    ref = schema.get("$ref") if isinstance(schema, dict) else None
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, dict) else None
        return target if isinstance(target, dict) else {}
    return schema if isinstance(schema, dict) else {}


def _apart_by_type(schemas: list[dict[str, Any]]) -> bool:
    """Each schema has one JSON type, no two the same (nor integer and number)."""
    kinds = [s.get("type") for s in schemas]
    if not all(isinstance(k, str) for k in kinds):
        return False
    widened = ["number" if k == "integer" else k for k in kinds]
    return len(set(widened)) == len(widened)


def _apart_by_values(schemas: list[dict[str, Any]]) -> bool:
    """Each schema allows only listed values (``const`` or ``enum``), no value in two."""
    seen: set[str] = set()
    for s in schemas:
        values = [s["const"]] if "const" in s else s.get("enum")
        if not isinstance(values, list):
            return False
        texts = {json.dumps(v, sort_keys=True) for v in values}
        if seen & texts:
            return False
        seen |= texts
    return True


def _node_fault(node: dict[str, Any]) -> str | None:
    """What one schema object asks that the grammar would not enforce, or None."""
    fault = _keyword_fault(node)
    if fault is not None:
        return fault
    kinds = node.get("type")
    types = {kinds} if isinstance(kinds, str) else set(kinds or ())
    if "multipleOf" in node:
        step = node["multipleOf"]
        integral = isinstance(step, int) or (isinstance(step, float) and step.is_integer())
        if not ("integer" in types and "number" not in types and integral):
            return (
                "'multipleOf' can be enforced while decoding only on integers "
                '("type": "integer") by a whole number'
            )
    fmt = node.get("format")
    if isinstance(fmt, str) and (not types or "string" in types):
        if not types:
            return f'\'format\' ({untrusted.field(fmt)}) needs "type": "string" beside it'
        if "pattern" in node:
            return (
                f"'format' ({untrusted.field(fmt)}) and 'pattern' together cannot be enforced "
                "while decoding (the grammar keeps one); put the format's rule into the pattern"
            )
        if fmt not in enforced_formats():
            return (
                f"the format {untrusted.field(fmt)!r} cannot be enforced while decoding; "
                f"these can: {', '.join(enforced_formats())}"
            )
    return None


# JSON Schema's string formats (2020-12), asked of xgrammar one by one: those it enforces.
_STRING_FORMATS = (
    "date-time",
    "date",
    "time",
    "duration",
    "email",
    "idn-email",
    "hostname",
    "idn-hostname",
    "ipv4",
    "ipv6",
    "uri",
    "uri-reference",
    "iri",
    "iri-reference",
    "uuid",
    "uri-template",
    "json-pointer",
    "relative-json-pointer",
    "regex",
)


# The formats whose grammar in xgrammar (0.2.9) checks only the shape, written as exact regexes
# (``exact_formats``): its date allowed day 31 in every month and 02-30, year 0000, its
# date-time and time a leap second (:60) at any time that Python's and pydantic's parsers
# refuse, its ipv4 octets with leading zeros (010; in ipv6's embedded IPv4 too), its hostname
# and email's domain labels of any length (RFC 1123: 63 at most). Leap years are exact (02-29
# only in years divisible by 4, centuries only by 400); year 0000 is left out as Python's date
# cannot hold it; the second 60 is left out (a real leap second is refused, the price of
# answers every common parser takes). Only upper-case T and Z are written.
_YEAR = "([0-9]{3}[1-9]|[0-9]{2}[1-9][0-9]|[0-9][1-9][0-9]{2}|[1-9][0-9]{3})"
_LEAP_YEAR = "([0-9]{2}(0[48]|[2468][048]|[13579][26])|(0[48]|[2468][048]|[13579][26])00)"
_MONTH_DAY = (
    "((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])"
    "|(0[469]|11)-(0[1-9]|[12][0-9]|30)"
    "|02-(0[1-9]|1[0-9]|2[0-8]))"
)
_DATE = f"({_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)"
_HOUR = "([01][0-9]|2[0-3])"
_TIME = f"{_HOUR}:[0-5][0-9]:[0-5][0-9](\\.[0-9]+)?(Z|[+-]{_HOUR}:[0-5][0-9])"
_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_LABEL = "[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ATOM = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_IPV4 = f"{_OCTET}(\\.{_OCTET}){{3}}"
_H16, _LS32 = "[0-9A-Fa-f]{1,4}", f"([0-9A-Fa-f]{{1,4}}:[0-9A-Fa-f]{{1,4}}|{_IPV4})"
_IPV6 = "|".join(  # RFC 3986's IPv6address, the forms by where "::" stands
    (
        f"({_H16}:){{6}}{_LS32}",
        f"::({_H16}:){{5}}{_LS32}",
        f"({_H16})?::({_H16}:){{4}}{_LS32}",
        f"(({_H16}:){{0,1}}{_H16})?::({_H16}:){{3}}{_LS32}",
        f"(({_H16}:){{0,2}}{_H16})?::({_H16}:){{2}}{_LS32}",
        f"(({_H16}:){{0,3}}{_H16})?::{_H16}:{_LS32}",
        f"(({_H16}:){{0,4}}{_H16})?::{_LS32}",
        f"(({_H16}:){{0,5}}{_H16})?::{_H16}",
        f"(({_H16}:){{0,6}}{_H16})?::",
    )
)
EXACT_FORMATS: dict[str, str] = {
    "date": f"^{_DATE}$",
    "time": f"^{_TIME}$",
    "date-time": f"^{_DATE}T{_TIME}$",
    "ipv4": f"^{_IPV4}$",
    "ipv6": f"^({_IPV6})$",
    "hostname": f"^{_LABEL}(\\.{_LABEL})*$",
    "email": f"^{_ATOM}(\\.{_ATOM})*@{_LABEL}(\\.{_LABEL})*$",
}


def exact_formats(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` for xgrammar: each string ``format`` in ``EXACT_FORMATS`` replaced by its
    exact ``pattern``, as xgrammar's own grammar for it checks only the shape (a schema that
    also has a ``pattern`` is left as it is: the check refuses it when strict). A copy; walked
    without recursion, the depth is bounded already."""
    return json.loads(_exact_formats_text(json.dumps(schema)))


@functools.lru_cache(maxsize=VERDICTS_CACHED)
def _exact_formats_text(text: str) -> str:
    schema = json.loads(text)
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        kinds = node.get("type")
        types = {kinds} if isinstance(kinds, str) else set(kinds or ())
        fmt = node.get("format")
        if fmt in EXACT_FORMATS and "string" in types and "pattern" not in node:
            del node["format"]
            node["pattern"] = EXACT_FORMATS[fmt]
        for key in _ONE_SCHEMA:
            stack.append(node.get(key))
        for key in _SCHEMA_LISTS:
            if isinstance(node.get(key), list):
                stack.extend(node[key])
        for key in _SCHEMA_MAPS:
            if isinstance(node.get(key), dict):
                stack.extend(node[key].values())
    return json.dumps(schema)


@functools.cache
def enforced_formats() -> tuple[str, ...]:
    """The string formats xgrammar enforces: those whose grammar is not the one it builds
    for a format it does not know, any string (asked of the installed xgrammar once, so a
    newer one's formats count)."""
    import xgrammar as xgr

    def grammar(fmt: str) -> str:
        schema = {"type": "string", "format": fmt}
        return str(xgr.Grammar.from_json_schema(json.dumps(schema), strict_mode=True))

    unknown = grammar("x-no-such-format")
    return tuple(f for f in _STRING_FORMATS if grammar(f) != unknown)


@functools.lru_cache(maxsize=VERDICTS_CACHED)
def _regex_fault(pattern: str) -> str | None:
    """Why xgrammar cannot build a grammar for ``pattern``, or None."""
    import xgrammar as xgr

    try:
        xgr.Grammar.from_regex(pattern)
    except RuntimeError as exc:
        return xgrammar_reason(exc)
    return None


_TYPE_NAMES = "string, number, integer, object, array, boolean, null"


def _metaschema_reason(exc: SchemaError) -> str:
    """Where the metaschema's check failed (a JSON pointer into the caller's schema) and what
    it wants there. jsonschema's own message quotes the offending value as a Python repr, whole
    however long it is ("{'x': [1, 2, 3, ...] is not valid under any of the given schemas")."""
    path = [str(p) for p in exc.absolute_path]
    where = untrusted.field("/" + "/".join(path)) if path else "the schema"
    rule, value = exc.validator, exc.validator_value
    if rule == "type":
        kinds = [value] if isinstance(value, str) else list(value)
        return f"{where} must be of type {' or '.join(kinds)}"
    if rule == "anyOf" and path[-1:] == ["type"]:
        return f"{where} must be a type name ({_TYPE_NAMES}) or a list of distinct ones"
    if rule == "format":
        return f"{where} must be a valid {value}"
    if rule == "minimum":
        return f"{where} must be at least {value}"
    if rule == "minItems":
        return f"{where} must hold at least {value} item(s)"
    if rule == "uniqueItems":
        return f"{where} must not repeat an item"
    return f"{where} breaks the metaschema's '{rule}' rule"


def _too_deep(value: Any, limit: int) -> bool:
    """Whether ``value`` nests objects and arrays more than ``limit`` levels; iterative, so a
    value of any depth is measured without recursion."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if level > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, level + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _buildable(constraint: Constraint, param: str) -> Constraint:
    """``constraint`` once xgrammar has built its regex grammar (no tokenizer needed), else a
    400 naming ``param`` with xgrammar's reason: RE2 patterns can use what xgrammar lacks
    (``(?i)``, ``\\b``). Checked while validating the body, before any model is picked, so
    compiling for a model later cannot fail."""
    reason = _regex_fault(_regex_of(constraint))
    if reason is not None:
        raise refused_value(
            "constraint_not_enforced",
            "'{name}' cannot be enforced while decoding: {reason}",
            param=param,
            code="unsupported_value",
            name=param,
            reason=reason,
        )
    return constraint


def xgrammar_reason(exc: Exception) -> str:
    """xgrammar's message for the caller: its first line without the log prefix (time, the
    C++ source file and line), bounded, as it may quote the caller's schema."""
    lines = str(exc).strip().splitlines() or ["unknown reason"]
    return untrusted.field(_XGRAMMAR_PREFIX.sub("", lines[0]).rstrip(".")) or "unknown reason"


def _regex_of(constraint: Constraint) -> str:
    """The pattern xgrammar compiles for a regex or choice constraint."""
    if constraint.kind == "choice":
        return "|".join(re.escape(c) for c in constraint.choices)
    assert constraint.pattern is not None
    return constraint.pattern


def validate(constraint: Constraint, text: str) -> str | None:
    """None when ``text`` satisfies the constraint, else what is wrong."""
    if constraint.kind == "regex":
        assert constraint.pattern is not None
        matched = linear_re.compile(constraint.pattern).fullmatch(text)
        return None if matched else "does not match guided_regex"
    if constraint.kind == "choice":
        return None if text in constraint.choices else "is not one of guided_choice"
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return f"is not JSON ({exc.msg})"
    if constraint.kind == "json_object":
        return None if isinstance(value, dict) else "is not a JSON object"
    from jsonschema import Draft202012Validator

    assert constraint.schema is not None
    errors = sorted(Draft202012Validator(constraint.schema).iter_errors(value), key=str)
    return None if not errors else f"does not match the schema: {errors[0].message}"


# --- the xgrammar logits processor ---------------------------------------------------------

T = TypeVar("T")


class PerTokenizer(Generic[T]):
    """One value per live tokenizer, dropped when the tokenizer goes. Keyed by the tokenizer
    itself (weakly), not by ``id``: Python reuses a freed object's id, and a model loaded at an
    unloaded one's address must not get the first one's compiler (its bitmask is the other
    vocabulary's width)."""

    def __init__(self) -> None:
        self._entries: weakref.WeakKeyDictionary[Any, T] = weakref.WeakKeyDictionary()
        self._lock = Lock()

    def get(self, tokenizer: Any, make: Callable[[], T]) -> T:
        with self._lock:
            if tokenizer not in self._entries:
                self._entries[tokenizer] = make()
            return self._entries[tokenizer]

    def __len__(self) -> int:
        return len(self._entries)


_compilers: PerTokenizer[Any] = PerTokenizer()
COMPILED_CACHE_BYTES = 64 * 1024 * 1024  # a tokenizer's compiled grammars at the most


def _compiler(tokenizer: Any, vocab_size: int) -> Any:
    """One xgrammar compiler per tokenizer (it caches compiled grammars).

    Byte-level tokenizers are described by each token's exact bytes (``token_bytes``), so the
    grammar sees what decoding will print; others (SentencePiece with byte fallback, as
    Mistral-7B-v0.3's and Llama 2's) by their transformers tokenizer, which xgrammar reads
    itself (``token_bytes`` describes only their byte pieces exactly, for the UTF-8 guard)."""
    import xgrammar as xgr

    def make() -> Any:
        token_bytes = tokenizer.token_bytes() if tokenizer.byte_level else None
        if token_bytes is not None:
            info = xgr.TokenizerInfo(
                token_bytes,
                xgr.VocabType.RAW,
                vocab_size=vocab_size,
                stop_token_ids=list(tokenizer.eos_ids),
            )
        else:
            info = xgr.TokenizerInfo.from_huggingface(tokenizer.hf, vocab_size=vocab_size)
        # xgrammar caches what it compiles (keyed by the schema's or pattern's text), by
        # default without bound; bounded, the least recently used go first.
        return xgr.GrammarCompiler(info, max_threads=1, cache_limit_bytes=COMPILED_CACHE_BYTES)

    return _compilers.get(tokenizer, make)


def compile_constraint(constraint: Constraint, tokenizer: Any, vocab_size: int) -> Any:
    compiler = _compiler(tokenizer, vocab_size)
    if constraint.kind == "json_object":  # any object, compact (as OpenAI's json_object)
        return compiler.compile_json_schema('{"type": "object"}', any_whitespace=False)
    if constraint.kind == "json_schema":
        return compiler.compile_json_schema(
            _exact_formats_text(json.dumps(constraint.schema)),
            any_whitespace=False,
            strict_mode=True,
        )
    return compiler.compile_regex(_regex_of(constraint))


class GrammarProcessor:
    """``processor(generated_ids, logits) -> logits`` that allows only grammatical tokens.

    Stateful: one per generation (it advances its matcher over the tokens generated so far).
    ``dead_end`` is set when the grammar, unfinished, allowed no token of the vocabulary: the
    decoder then ends the answer (``decoding.process_logits``), which is not in the format;
    ``unfinished`` turns that into the caller's error, naming ``param``.
    """

    def __init__(
        self,
        compiled: Any,
        vocab_size: int,
        banned: torch.Tensor | None = None,
        param: str = "response_format",
    ) -> None:
        import xgrammar as xgr

        self.matcher = xgr.GrammarMatcher(compiled)
        self.bitmask = xgr.allocate_token_bitmask(1, vocab_size)
        self.banned = banned
        self.param = param
        self.seen = 0
        self.dead_end = False

    def __call__(self, generated: Sequence[int], logits: torch.Tensor) -> torch.Tensor:
        import xgrammar as xgr

        for token in generated[self.seen :]:
            if not self.matcher.is_terminated():
                self.matcher.accept_token(int(token))
        self.seen = len(generated)
        self.matcher.fill_next_token_bitmask(self.bitmask)
        if not self.matcher.is_terminated() and not bool(self.bitmask.any()):
            self.dead_end = True  # the bitmask (on the CPU) allows nothing, the end neither
        view = logits.view(1, -1)
        if view.device.type == "cpu":
            xgr.apply_token_bitmask_inplace(view, self.bitmask)
        else:
            xgr.apply_token_bitmask_inplace(view, self.bitmask.to(view.device))
        if self.banned is not None:
            logits = logits.masked_fill(self.banned.to(logits.device), float("-inf"))
        return logits


_control_masks: PerTokenizer[torch.Tensor] = PerTokenizer()


def control_tokens(tokenizer: Any, vocab_size: int) -> torch.Tensor:
    """Tokens holding a control character (U+0000–U+001F). xgrammar's schema grammars let them
    into strings, where JSON forbids them; our JSON needs no newline or tab (compact output),
    so for JSON constraints they are masked outright."""

    def make() -> torch.Tensor:
        token_bytes = tokenizer.token_bytes()
        mask = torch.zeros(vocab_size, dtype=torch.bool)
        for i in range(min(vocab_size, len(tokenizer.hf))):
            piece = token_bytes[i] if token_bytes is not None else tokenizer.decode([i]).encode()
            mask[i] = any(b < 0x20 for b in piece)
        return mask

    return _control_masks.get(tokenizer, make)


def _vocab(model: Any) -> tuple[Any, int] | None:
    """The model's tokenizer and logits width, when it decodes here token by token."""
    tokenizer = getattr(model, "tokenizer", None)
    vocab = getattr(model, "vocab_size", None)
    if vocab is None:
        vocab = getattr(getattr(model, "lm", None), "vocab_size", None)
    if getattr(tokenizer, "hf", None) is None or vocab is None:
        return None
    return tokenizer, int(vocab)


def tool_processor(model: Any, tools: ToolSet) -> GrammarProcessor:
    """A fresh processor holding one generation to the model's tool-call format and the
    tools' schemas (400 naming ``tools`` when a schema cannot be compiled)."""
    import xgrammar as xgr
    from xgrammar.structural_tag import TagsWithSeparatorFormat, TriggeredTagsFormat

    found = _vocab(model)
    assert found is not None and model.tool_format is not None
    tokenizer, vocab = found
    try:
        if model.tool_format in MISTRAL:
            tag = _mistral_tag(model.tool_format, tokenizer, tools)
        else:
            offered: list[Any] = [t.openai() for t in tools.tools]
            choice: Any = tools.openai_choice()  # OpenAI's shapes, which xgrammar validates
            tag = xgr.get_model_structural_tag(
                GRAMMAR_KEYS[model.tool_format],
                tools=offered,
                tool_choice=choice,
                reasoning="disabled",
                parallel_tool_calls=tools.parallel,
                max_whitespace_cnt=1,  # no runs of blanks inside the arguments: a call ends
            )
        if tools.choice == "required" and model.tool_format not in MISTRAL:
            # Calls from the first token on: one is certain.
            triggered = tag.format
            assert isinstance(triggered, TriggeredTagsFormat)  # the builders' required form
            tag = xgr.StructuralTag(
                format=TagsWithSeparatorFormat(
                    tags=triggered.tags,
                    separator="\n",
                    at_least_one=True,
                    stop_after_first=not tools.parallel,
                )
            )
        compiled = _compiler(tokenizer, vocab).compile_structural_tag(tag)
    except (ValueError, RuntimeError) as exc:  # RuntimeError: xgrammar's, about a schema
        raise refused_value(
            "constraint_not_enforced",
            "The tools' parameters cannot be enforced while decoding: {reason}",
            param="tools",
            code=SCHEMA_ERROR if isinstance(exc, RuntimeError) else "unsupported_value",
            name="tools",
            reason=xgrammar_reason(exc),
        ) from None
    return GrammarProcessor(compiled, vocab, param="tools")


def _arguments(tool: FunctionTool) -> Any:
    """The JSON-schema format of a tool's arguments (an object, whatever the schema says)."""
    from xgrammar.structural_tag import JSONSchemaFormat

    schema = tool.parameters if tool.parameters and tool.strict is not False else None
    exact = exact_formats(schema) if schema else {"type": "object"}
    return JSONSchemaFormat(json_schema=exact, max_whitespace_cnt=1)


def _mistral_tag(fmt: str, tokenizer: Any, tools: ToolSet) -> Any:
    """Mistral's tool calls as an xgrammar structural tag, the marker tokens by id.

    ``mistral`` (v3): ``[TOOL_CALLS]`` then one array of ``{"name": ..., "arguments": ...}``
    objects (one object when calls may not be parallel or a function is named), the array's
    opening as the template writes it (Mistral-7B-v0.3 puts a blank before ``[``);
    ``mistral_args`` (v11+): ``[TOOL_CALLS]name[ARGS]{...}`` per call. ``auto`` lets text
    run until the model writes ``[TOOL_CALLS]``, then the call must complete; ``required``
    and a named function start with the calls."""
    import xgrammar as xgr
    from xgrammar.structural_tag import (
        ConstStringFormat,
        OrFormat,
        PlusFormat,
        SequenceFormat,
        TagFormat,
        TagsWithSeparatorFormat,
        TokenFormat,
        TokenTriggeredTagsFormat,
    )

    marker = _token_id(tokenizer, "[TOOL_CALLS]")
    offered = tools.callable
    one = tools.choice == "named" or not tools.parallel
    calls: Any
    if fmt == "mistral":
        template = tokenizer.chat_template or ""
        opening = " [" if "[TOOL_CALLS] [" in template else "["
        objects = TagsWithSeparatorFormat(
            tags=[
                TagFormat(
                    begin=f'{{"name": {json.dumps(t.name)}, "arguments": ',
                    content=_arguments(t),
                    end="}",
                )
                for t in offered
            ],
            separator=", ",
            at_least_one=True,
            stop_after_first=one,
        )
        block = TagFormat(
            begin=TokenFormat(token=marker),
            content=SequenceFormat(elements=[ConstStringFormat(value=opening), objects]),
            end="]",
        )
        calls, after_first = block, True  # one array holds every call
    else:
        args = _token_id(tokenizer, "[ARGS]")
        named: list[Any] = [
            SequenceFormat(
                elements=[ConstStringFormat(value=t.name), TokenFormat(token=args), _arguments(t)]
            )
            for t in offered
        ]
        content = named[0] if len(named) == 1 else OrFormat(elements=named)
        block = TagFormat(begin=TokenFormat(token=marker), content=content, end="")
        calls = block if one else PlusFormat(content=block)
        after_first = one
    if tools.choice == "auto":
        calls = TokenTriggeredTagsFormat(
            trigger_tokens=[marker], tags=[block], stop_after_first=after_first
        )
    return xgr.StructuralTag(format=calls)


def _token_id(tokenizer: Any, token: str) -> int:
    found = tokenizer.hf.convert_tokens_to_ids(token)
    if not isinstance(found, int) or found == tokenizer.hf.unk_token_id:
        raise ValueError(f"the tokenizer has no {token} token")
    return found


def processor_for(model: Any, constraint: Constraint) -> GrammarProcessor:
    """A fresh processor for one generation of ``model``; 400 when the model cannot take one."""
    found = _vocab(model)
    if found is None:
        raise refused_value(
            "format_not_enforced",
            "This model cannot enforce {name} while decoding; use a local neural model (gpt-, "
            "rnn-, hf-)",
            param=constraint.param,
            code="unsupported_parameter",
            name=constraint.param,
        )
    tokenizer, vocab = found
    compiled = compile_constraint(constraint, tokenizer, vocab)
    json_kind = constraint.kind in ("json_object", "json_schema")
    banned = control_tokens(tokenizer, vocab) if json_kind else None
    missing = None
    if json_kind:  # the vocabulary's verdict: once per tokenizer, not per request
        missing = _json_unwritable.get(
            tokenizer, lambda: _unwritable(tokenizer, vocab, _JSON_MARKS)
        )
    if missing is not None or not _can_begin(compiled, vocab, banned):
        what = "it has no token for {char}" if missing else "no token of it can begin it"
        raise refused_value(
            "vocabulary_lacks_character" if missing else "vocabulary_cannot_begin_format",
            f"This model's vocabulary cannot write the requested format ({what}): it was "
            "trained on text without those characters; use a model with a byte-level or "
            "byte-fallback tokenizer (tokenizer=bpe)",
            param=constraint.param,
            code="unsupported_value",
            **({"char": repr(missing)} if missing else {}),
        )
    return GrammarProcessor(compiled, vocab, banned, constraint.param)


def unfinished(processors: Sequence[Any], tokens: int) -> InvalidRequest | None:
    """The error for an answer whose grammar dead-ended after ``tokens`` tokens (a
    ``GrammarProcessor`` among ``processors`` allowed no token), else None.

    The vocabulary could begin the format (``processor_for`` checked) but not go on along the
    path sampled: the answer ended mid-format. Sent as it was, with finish_reason "stop", it
    claimed a complete answer that does not parse; "length" would blame max_tokens. It is
    the 400 a format the vocabulary cannot write gets before decoding, found later."""
    for processor in processors:
        if isinstance(processor, GrammarProcessor) and processor.dead_end:
            return refused_value(
                "vocabulary_dead_end",
                "This model's vocabulary cannot write the requested format: after {tokens} "
                "token(s) the format allows none of its tokens, so the answer could not be "
                "completed; use a model with a byte-level or byte-fallback tokenizer "
                "(tokenizer=bpe)",
                param=processor.param,
                code="unsupported_value",
                tokens=tokens,
            )
    return None


# What every JSON answer may need besides its values: a model whose vocabulary lacks one (a
# char- or word-level tokenizer trained on text without braces) would reach a step where the
# grammar allows no token at all.
_JSON_MARKS = '{}[]":,'
_json_unwritable: PerTokenizer[str | None] = PerTokenizer()


def _allowed(matcher: Any, vocab_size: int) -> torch.Tensor:
    """The token ids ``matcher`` allows next."""
    import xgrammar as xgr

    bitmask = xgr.allocate_token_bitmask(1, vocab_size)
    matcher.fill_next_token_bitmask(bitmask)
    scores = torch.zeros(1, vocab_size)
    xgr.apply_token_bitmask_inplace(scores, bitmask)
    return torch.isfinite(scores[0]).nonzero().flatten()


def _can_begin(compiled: Any, vocab_size: int, banned: torch.Tensor | None) -> bool:
    """Whether some token the decoder may pick can start an answer under ``compiled``."""
    import xgrammar as xgr

    allowed = _allowed(xgr.GrammarMatcher(compiled), vocab_size)
    if banned is not None:
        allowed = allowed[~banned[allowed]]
    return bool(allowed.numel())


def _unwritable(tokenizer: Any, vocab_size: int, marks: str) -> str | None:
    """The first of ``marks`` the vocabulary cannot spell, else None: each is a one-character
    grammar, walked token by token as decoding would (any allowed token but the end)."""
    import xgrammar as xgr

    compiler = _compiler(tokenizer, vocab_size)
    for mark in marks:
        matcher = xgr.GrammarMatcher(compiler.compile_regex(re.escape(mark)))
        stops = set(matcher.stop_token_ids)
        for _ in range(len(mark.encode())):
            steps = [t for t in _allowed(matcher, vocab_size).tolist() if t not in stops]
            if not steps:
                break
            matcher.accept_token(steps[0])
        if not matcher.is_completed():
            return mark
    return None
