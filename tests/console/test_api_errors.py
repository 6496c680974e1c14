"""API refusals told in the console's language: a Chinese page shows no sentence of English
for a refusal it knows, and frames any other one in Chinese."""

from __future__ import annotations

from aigc.console.api import ApiError
from aigc.console.api_errors import explain, explain_error
from aigc.console.i18n import Translator
from aigc.errors import InvalidRequest
from aigc.gateway import pipeline
from aigc.gateway.accounts import password_too_short
from aigc.guard.checks import DEFAULT_BLOCK_MESSAGE
from aigc.models.protocols import TextRequest

ZH, EN = Translator("zh-CN"), Translator("en")


def _latin_words(text: str) -> list[str]:
    return [word for word in text.replace("（", " ").split() if word.isascii() and word.isalpha()]


def test_known_refusals_are_chinese_on_a_chinese_page() -> None:
    window = pipeline.context_exceeded(
        64, 100, None, TextRequest(messages=[{"role": "user", "content": "x"}])
    )
    cases = [
        (window.message, window.code, window.status),
        (DEFAULT_BLOCK_MESSAGE, "content_policy_violation", 400),
        (password_too_short().message, password_too_short().code, 400),
        ("Rate limit reached for requests", "rate_limit_exceeded", 429),
    ]
    for message, code, status in cases:
        shown = explain(ZH, message, code, status)
        assert _latin_words(shown) == [], shown
        assert sum("\u4e00" <= ch <= "\u9fff" for ch in shown) >= 5, shown
    assert "上下文" in explain(ZH, window.message, window.code, window.status)


def test_english_pages_keep_the_apis_own_words() -> None:
    error = ApiError(400, "This model's maximum context length is 64 tokens.", "x_unknown")
    assert explain_error(EN, error) == error.message
    assert explain(EN, DEFAULT_BLOCK_MESSAGE, "content_policy_violation") == DEFAULT_BLOCK_MESSAGE


def test_a_block_rules_own_message_is_shown_as_written() -> None:
    shown = explain(ZH, "含有机密词汇，已拦截", "content_policy_violation", 400)
    assert shown == "此请求被贵组织的内容安全策略拦截：含有机密词汇，已拦截"
    assert explain(EN, "No glyphs today.", "content_policy_violation").endswith("No glyphs today.")


def test_other_refusals_get_a_chinese_lead_in_for_their_status() -> None:
    bad = InvalidRequest("temperature must be at most 2", param="temperature")
    assert explain(ZH, bad.message, bad.code, bad.status) == (
        "请求被拒绝（temperature must be at most 2）"
    )
    assert explain(ZH, "boom", None, 502) == "平台暂时无法完成此操作（boom）"
    assert explain(ZH, "", None, 418) == "请求失败（HTTP 418）"


def test_a_refused_field_is_named_with_a_chinese_lead_in() -> None:
    shown = explain_error(
        ZH,
        ApiError(
            400,
            "Invalid value for 'rpm_limit': Input should be greater than or equal to 1",
            "invalid_value",
            "rpm_limit",
        ),
    )
    assert shown == "参数「rpm_limit」的值无效（Input should be greater than or equal to 1）"
    missing = ApiError(400, "Missing required parameter: 'name'", "missing_required_parameter")
    missing.param = "name"
    assert explain_error(ZH, missing) == "缺少必填参数「name」"
    no_param = ApiError(400, "Invalid value", "invalid_value")
    assert explain_error(ZH, no_param) == "请求被拒绝（Invalid value）"
