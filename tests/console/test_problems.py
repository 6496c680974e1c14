"""A value the API refuses is explained in Chinese from pydantic's error ``type`` and ``ctx``
(sent in the error's ``details``), not left as pydantic's English inside 「…」（…）.

Found in review: "参数「rpm_limit」的值无效（Input should be greater than or equal to 1）"."""

from __future__ import annotations

from typing import Any, Literal

import httpx
import pytest
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aigc.console.api import ApiError, _raise_for
from aigc.console.api_errors import explain_error
from aigc.console.i18n import Translator
from aigc.gateway.error_handlers import error_response, validation_error

ZH, EN = Translator("zh-CN"), Translator("en")


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field("k", min_length=2, max_length=5)
    rpm_limit: int = Field(1, ge=1, le=1_000_000)
    temperature: float = Field(1.0, gt=0, lt=2)
    enabled: bool = True
    stage: Literal["input", "output"] = "input"
    tags: list[str] = Field(default_factory=list, max_length=2)


CASES = [
    ({"name": "x"}, "参数「name」的值无效（至少需要 2 个字符）"),
    ({"name": "toolong"}, "参数「name」的值无效（最多 5 个字符）"),
    ({"rpm_limit": 0}, "参数「rpm_limit」的值无效（不能小于 1）"),
    ({"rpm_limit": 2_000_000}, "参数「rpm_limit」的值无效（不能大于 1,000,000）"),
    ({"rpm_limit": "many"}, "参数「rpm_limit」的值无效（必须是整数）"),
    ({"temperature": 0}, "参数「temperature」的值无效（必须大于 0）"),
    ({"temperature": 2}, "参数「temperature」的值无效（必须小于 2）"),
    ({"temperature": "hot"}, "参数「temperature」的值无效（必须是数字）"),
    ({"enabled": "maybe"}, "参数「enabled」的值无效（必须是 true 或 false）"),
    ({"stage": "never"}, "参数「stage」的值无效（必须是以下之一：'input' or 'output'）"),
    ({"tags": ["a", "b", "c"]}, "参数「tags」的值无效（最多 2 项）"),
    ({"tags": "a"}, "参数「tags」的值无效（必须是列表）"),
    ({"colour": "red"}, "参数「colour」的值无效（不是可用的字段）"),
]


def _refusal(body: dict[str, Any]) -> ApiError:
    """What the console's API client makes of the gateway's answer to ``body``."""
    with pytest.raises(ValidationError) as invalid:
        Limits.model_validate(body)
    errors = [dict(e, loc=("body", *e["loc"])) for e in invalid.value.errors()]
    sent = error_response(validation_error(RequestValidationError(errors, body=body)))
    reply = httpx.Response(sent.status_code, headers=dict(sent.headers), content=bytes(sent.body))
    assert set(reply.json()["error"]) == {"message", "type", "param", "code"}  # OpenAI's envelope
    with pytest.raises(ApiError) as refused:
        _raise_for(reply)
    return refused.value


@pytest.mark.parametrize(("body", "expected"), CASES)
def test_a_refused_value_is_explained_in_chinese(body: dict[str, Any], expected: str) -> None:
    refusal = _refusal(body)
    assert explain_error(ZH, refusal) == expected
    assert explain_error(EN, refusal) == refusal.message  # English keeps pydantic's words


def test_the_api_sends_the_type_and_values_beside_its_english() -> None:
    refusal = _refusal({"rpm_limit": 0})
    assert refusal.message == (
        "Invalid value for 'rpm_limit': Input should be greater than or equal to 1"
    )
    assert refusal.details == [
        {
            "loc": "rpm_limit",
            "type": "greater_than_equal",
            "ctx": {"ge": 1},
            "message": "Input should be greater than or equal to 1",
        }
    ]
