"""This project's own validator sentences are said in Chinese from a stable type and values,
not left in English inside the Chinese frame.

Found in review: a training parameter out of range showed "请求无效（'batch_size' must be an
integer from 1 to 1024）" and the policy editor "rule id 'pii' is used twice" on Chinese pages."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from aigc.console.api import ApiError, _raise_for
from aigc.console.api_errors import explain_error
from aigc.console.i18n import Translator
from aigc.console.pages.admin_policies import said_problems
from aigc.errors import InvalidRequest
from aigc.gateway.error_handlers import error_response
from aigc.guard.policy import PolicyError, parse_policy
from aigc.models.text import gpt
from aigc.models.text.submit import check_params

ZH, EN = Translator("zh-CN"), Translator("en")


def _refusal(params: dict[str, Any]) -> ApiError:
    """What the console's API client makes of the gateway's answer to these parameters."""
    with pytest.raises(InvalidRequest) as invalid:
        check_params(gpt.FAMILY, params)
    sent = error_response(invalid.value)
    reply = httpx.Response(sent.status_code, headers=dict(sent.headers), content=bytes(sent.body))
    with pytest.raises(ApiError) as refused:
        _raise_for(reply)
    return refused.value


@pytest.mark.parametrize(
    ("params", "english", "chinese"),
    [
        (
            {"batch_size": 5000},
            "'batch_size' must be an integer from 1 to 1024",
            "参数「params.batch_size」的值无效（必须是 1 到 1024 之间的整数）",
        ),
        (
            {"learning_rate": "fast"},
            "'learning_rate' must be a number",
            "参数「params.learning_rate」的值无效（必须是数字）",
        ),
        (
            {"dropout": 2.0},
            "'dropout' must be from 0.0 to 0.9",
            "参数「params.dropout」的值无效（必须在 0.0 到 0.9 之间）",
        ),
        (
            {"device": "tpu"},
            "'device' must be one of cpu, cuda",
            "参数「params.device」的值无效（必须是以下之一：cpu, cuda）",
        ),
        (
            {"n_head": 3, "n_embd": 128},
            "n_embd must be a multiple of n_head",
            "参数「params.n_embd」的值无效（n_embd 必须是 n_head 的整数倍）",
        ),
    ],
)
def test_a_training_parameter_refused_is_said_in_chinese(
    params: dict[str, Any], english: str, chinese: str
) -> None:
    refused = _refusal(params)
    assert refused.message == english  # the API's words, unchanged
    assert explain_error(ZH, refused) == chinese
    assert explain_error(EN, refused) == english


def _policy_problems(text: str) -> PolicyError:
    with pytest.raises(PolicyError) as invalid:
        parse_policy(text)
    return invalid.value


def test_a_policy_rule_id_used_twice_is_said_in_chinese() -> None:
    text = (
        "name: x\nrules:\n"
        "  - {id: pii, stage: input, detector: pii, action: redact}\n"
        "  - {id: pii, stage: output, detector: pii, action: flag}\n"
    )
    refused = _policy_problems(text)
    assert refused.problems == ["policy: Value error, rule id 'pii' is used twice"]
    assert said_problems(ZH, text, refused.details) == [(None, "规则 ID「pii」重复使用")]
    assert said_problems(EN, text, refused.details) == [(None, "rule id 'pii' is used twice")]


def test_a_rules_own_inconsistency_is_said_in_chinese() -> None:
    text = (
        "name: x\nrules:\n"
        "  - {id: a, stage: output, detector: pii, action: pseudonymize}\n"
        "  - {id: b, stage: input, detector: keywords, action: block}\n"
    )
    said = [s for _, s in said_problems(ZH, text, _policy_problems(text).details)]
    assert said == [
        "rules.0: pseudonymize（假名化）只能用于 input 阶段",
        "rules.1: keywords 检测器需要填写 words",
    ]
