"""Field types shared by request bodies, written so the schema says what the server checks.

Each constraint here is both enforced by Pydantic and shown in the OpenAPI document, so a value
the document allows is one the server accepts: a count the database column can hold, a name
that is more than white space, a whole number that is not ``true``. Where a route checks a rule
itself (its 400 says more, or it forgives more), the schema only shows it: ``json_schema_extra``
(``branch_rules`` for unions).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints

from aigc.errors import value_problem

INT32_MAX = 2**31 - 1  # an INTEGER column on PostgreSQL
# The largest integer every JSON reader keeps exact (JavaScript's MAX_SAFE_INTEGER). Bounds
# above it cannot be written exactly in the OpenAPI document (FastAPI writes them as floats:
# 2**63 - 1 would read 2**63), and BIGINT columns hold it with room to spare.
JSON_SAFE_MAX = 2**53 - 1


# The characters Python's str.strip() and str.isspace() take for white space, written out, so
# that every regex dialect reads a pattern built on them alike (the \s of JSON Schema's ECMA
# regexes, of Pydantic's Rust engine and of Python differ on some of these).
SPACE = r"\t-\r\x1c- \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NOT_BLANK = f"[^{SPACE}]"  # found in any text that is more than white space


def branch_rules(**by_type: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    """The ``json_schema_extra`` of a union field (``str | list[str]``) whose route checks the
    rules itself, with a clearer error than Pydantic's for a union (one per branch, named by
    type): the rules are written into the schema's branch of each JSON type."""

    def extra(schema: dict[str, Any]) -> None:
        for branch in schema.get("anyOf", [schema]):
            branch.update(by_type.get(branch.get("type", ""), {}))

    return extra


def _whole(value: Any) -> Any:
    """1.0 is the number 1 in JSON (and an integer to JSON Schema); true and "1" are not."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Positive counts as JSON integers: ints and integral floats (1.0), never booleans or strings,
# and no larger than their column holds. (The Field comes first: after the validator, Pydantic
# would not write its bounds into the schema as minimum and maximum.)
Count32 = Annotated[int, Field(strict=True, ge=1, le=INT32_MAX), BeforeValidator(_whole)]
# A token id of a model's tokenizer, given in place of text (its vocabulary bounds it further).
TokenId = Annotated[int, Field(strict=True, ge=0, le=INT32_MAX), BeforeValidator(_whole)]
Count64 = Annotated[int, Field(strict=True, ge=1, le=JSON_SAFE_MAX), BeforeValidator(_whole)]

# A request's whole number or flag as the OpenAI SDK sends it: a JSON integer (1.0 counts) or
# a JSON boolean. Pydantic's lax mode took "2" for 2 and true for 1 (or "yes" for true), which
# OpenAI refuses: a client that sent them was silently read as meaning something else.
Whole = Annotated[int, Field(strict=True), BeforeValidator(_whole)]
Flag = Annotated[bool, Field(strict=True)]
# Its bounded kinds that may also be null: the bounds inside, or the schema would lose them.
Positive = Annotated[int, Field(strict=True, ge=1), BeforeValidator(_whole)]
TopLogprobs = Annotated[int, Field(strict=True, ge=0, le=20), BeforeValidator(_whole)]
Percent = Annotated[int, Field(strict=True, ge=0, le=100), BeforeValidator(_whole)]


def _fold(seed: int) -> int:
    """A seed outside the signed 64-bit range every backend takes, folded into it."""
    return seed if -(2**63) <= seed < 2**63 else seed % 2**63


# A sampling seed: any integer, as a seed is only entropy (one beyond 64 bits is folded in). A
# bound near 2**63 could not be written exactly: JSON's doubles there are 1,024 apart.
Seed = Annotated[int, AfterValidator(_fold)]

# A name as stored: surrounding white space dropped, something left (the pattern shows the
# schema's readers that a blank name is refused).
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NOT_BLANK)
]


T = TypeVar("T")


def _not_null(value: Any) -> Any:
    """Run only on a value that was sent (never on the default), so None here is a null sent."""
    if value is None:
        raise value_problem(
            "null_not_allowed", "null is not allowed here; leave the field out to keep it as it is"
        )
    return value


def _without_null(schema: dict[str, Any]) -> None:
    """``X | None``'s schema, ``anyOf: [X, null]``, as X: null is no value the field takes
    (nor its default: the field is simply not required)."""
    branches = [b for b in schema.pop("anyOf", []) if b.get("type") != "null"]
    if branches:
        schema.update(branches[0])
    if schema.get("default", "") is None:
        del schema["default"]


# A field of a PATCH body that has no empty state (a provider's name, an enabled flag): left
# out, it stays as it is (the default None, which the route never sees: it reads only the
# fields sent, ``model_fields_set``); sent as null, it is refused with a 400 naming the field.
# The schema shows only the value's type. (Typed ``T | None`` rather than ``T`` so that the
# default is a None that type checkers accept; Pydantic validates an optional field's value
# in place, so an error names the field, not a member of a union.)
Kept = Annotated[T | None, BeforeValidator(_not_null), Field(json_schema_extra=_without_null)]
