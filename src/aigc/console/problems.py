"""A validator's problem in the reader's language, from its stable type and values.

The API sends each problem beside its English message as pydantic names it: ``type``
("string_too_short", "literal_error", …) and ``ctx`` (``min_length``, ``expected``, …), see
``aigc.errors.problem_detail``. The common types are said here in every console language from
those; a type not listed keeps the API's English words, with the page's lead-in around them.
"""

from __future__ import annotations

from typing import Any

from aigc.console import i18n
from aigc.console.i18n import Translator

_TEXTS = {
    "en": {
        "problem.missing": "required",
        "problem.extra_forbidden": "not a known field",
        "problem.string_too_short": "must have at least {min_length} characters",
        "problem.string_too_long": "must have at most {max_length} characters",
        "problem.too_short": "must have at least {min_length} items",
        "problem.too_long": "must have at most {max_length} items",
        "problem.greater_than": "must be greater than {gt}",
        "problem.greater_than_equal": "must be at least {ge}",
        "problem.less_than": "must be less than {lt}",
        "problem.less_than_equal": "must be at most {le}",
        "problem.multiple_of": "must be a multiple of {multiple_of}",
        "problem.int": "must be a whole number",
        "problem.float": "must be a number",
        "problem.bool": "must be true or false",
        "problem.string_type": "must be text",
        "problem.list_type": "must be a list",
        "problem.dict": "must be a mapping of names to values",
        "problem.literal_error": "must be one of: {expected}",
        "problem.string_pattern_mismatch": "does not have the expected form",
        "problem.url": "must be a valid URL",
        "problem.value_error": "{error}",
        "problem.yaml_syntax": "not valid YAML near line {line}, column {column}",
        "problem.yaml_syntax.nowhere": "not valid YAML",
        "problem.policy_not_mapping": "a policy is a YAML mapping with 'name' and 'rules'",
    },
    "zh-CN": {
        "problem.missing": "必须填写",
        "problem.extra_forbidden": "不是可用的字段",
        "problem.string_too_short": "至少需要 {min_length} 个字符",
        "problem.string_too_long": "最多 {max_length} 个字符",
        "problem.too_short": "至少需要 {min_length} 项",
        "problem.too_long": "最多 {max_length} 项",
        "problem.greater_than": "必须大于 {gt}",
        "problem.greater_than_equal": "不能小于 {ge}",
        "problem.less_than": "必须小于 {lt}",
        "problem.less_than_equal": "不能大于 {le}",
        "problem.multiple_of": "必须是 {multiple_of} 的倍数",
        "problem.int": "必须是整数",
        "problem.float": "必须是数字",
        "problem.bool": "必须是 true 或 false",
        "problem.string_type": "必须是文本",
        "problem.list_type": "必须是列表",
        "problem.dict": "必须是“名称: 值”形式的映射",
        "problem.literal_error": "必须是以下之一：{expected}",
        "problem.string_pattern_mismatch": "格式不符合要求",
        "problem.url": "必须是有效的网址",
        "problem.value_error": "{error}",
        "problem.yaml_syntax": "YAML 格式错误（第 {line} 行第 {column} 列附近）",
        "problem.yaml_syntax.nowhere": "YAML 格式错误",
        "problem.policy_not_mapping": "策略必须是包含 name 和 rules 的 YAML 映射",
    },
}
i18n.add(_TEXTS)

# pydantic's types that say the same thing to a person, by the key that says it.
_SAME = {
    "int_type": "int",
    "int_parsing": "int",
    "int_from_float": "int",
    "float_type": "float",
    "float_parsing": "float",
    "bool_type": "bool",
    "bool_parsing": "bool",
    "dict_type": "dict",
    "model_type": "dict",
    "model_attributes_type": "dict",
    "enum": "literal_error",
    "url_parsing": "url",
    "url_type": "url",
    "url_scheme": "url",
}


def _shown(value: Any) -> Any:
    """A limit as people write it: 1.0 as 1, and large numbers with separators."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else value


def problem_text(tr: Translator, detail: dict[str, Any]) -> str | None:
    """One problem (``loc``, ``type``, ``ctx``, ``message``) in the page's language, without
    its place; None when it cannot be said from its type and values (the English stands)."""
    kind = str(detail.get("type") or "")
    key = f"problem.{_SAME.get(kind, kind)}"
    ctx = {k: _shown(v) for k, v in (detail.get("ctx") or {}).items()}
    if kind == "yaml_syntax" and not {"line", "column"} <= ctx.keys():
        key = "problem.yaml_syntax.nowhere"
    if key not in i18n.TABLE["en"]:
        return None
    if kind == "value_error":
        # the model's own sentence (in English, written by this project): kept as written
        return str(ctx.get("error") or detail.get("message") or "").removeprefix("Value error, ")
    try:
        return tr(key, **ctx)
    except (KeyError, IndexError, ValueError):  # a value the text needs is not in ctx
        return None
