"""The gateway's own validator sentences are said in Chinese from a stable type and values.

Found in review: on Chinese pages a PATCH with a null showed "参数「name」的值无效（null is not
allowed here; leave the field out to keep it as it is）", and a chat request with five stop
sequences or an empty Responses ``input`` its English sentence likewise."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from aigc.console.api import ApiError, _raise_for
from aigc.console.api_errors import explain_error
from aigc.console.i18n import Translator
from aigc.gateway.error_handlers import error_response, validation_error
from aigc.gateway.response_schemas import ResponseRequest
from aigc.gateway.routes.sso import ProviderPatch
from aigc.gateway.schemas import ChatCompletionRequest

ZH, EN = Translator("zh-CN"), Translator("en")
CHAT = {"model": "gpt-tiny", "messages": [{"role": "user", "content": "你好"}]}


def _refusal(model: type[BaseModel], body: dict[str, Any]) -> ApiError:
    """What the console's API client makes of the gateway's answer to ``body``."""
    with pytest.raises(ValidationError) as invalid:
        model.model_validate(body)
    errors = [dict(e, loc=("body", *e["loc"])) for e in invalid.value.errors()]
    sent = error_response(validation_error(RequestValidationError(errors, body=body)))
    reply = httpx.Response(sent.status_code, headers=dict(sent.headers), content=bytes(sent.body))
    with pytest.raises(ApiError) as refused:
        _raise_for(reply)
    return refused.value


@pytest.mark.parametrize(
    ("model", "body", "english", "chinese", "values"),
    [
        (
            ProviderPatch,
            {"name": None},
            "Invalid value for 'name': Value error, null is not allowed here; leave the field "
            "out to keep it as it is",
            "参数「name」的值无效（不能为 null；不修改此项时请不要发送该字段）",
            {},
        ),
        (
            ChatCompletionRequest,
            CHAT | {"stop": ["。", "！", "？", "\n", "；"]},
            "Invalid value for 'stop': Value error, at most 4 stop sequences are allowed",
            "参数「stop」的值无效（最多只能有 4 个停止序列）",
            {"max": 4},
        ),
        (
            ResponseRequest,
            {"model": "gpt-tiny", "input": ""},
            "Invalid value for 'input': Value error, 'input' is empty",
            "参数「input」的值无效（input 不能为空）",
            {},
        ),
    ],
)
def test_a_gateway_validators_refusal_is_said_in_chinese(
    model: type[BaseModel], body: dict[str, Any], english: str, chinese: str, values: Any
) -> None:
    refused = _refusal(model, body)
    assert refused.message == english  # the API's words, unchanged
    assert refused.details is not None and refused.details[0]["ctx"] == values
    assert explain_error(ZH, refused) == chinese
    assert explain_error(EN, refused) == english
