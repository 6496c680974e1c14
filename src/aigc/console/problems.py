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
        # this project's own validators (aigc.errors.value_problem), as their English says
        "problem.policy_rule_id_twice": "rule id '{id}' is used twice",
        "problem.policy_pattern_not_linear": "{reason}",
        "problem.policy_unknown_entities": "unknown PII entities {unknown}; known: {known}",
        "problem.policy_unknown_categories": "unknown categories {unknown}; known: {known}",
        "problem.policy_action_needs_detector": "action '{action}' needs detector 'pii' or 'regex'",
        "problem.policy_pseudonymize_input_only": "pseudonymize works on the input stage only",
        "problem.policy_drop_retrieval_only": "drop works on the retrieval stage only (chunks, "
        "tool results)",
        "problem.policy_regex_needs_pattern": "detector 'regex' needs 'pattern'",
        "problem.policy_keywords_needs_words": "detector 'keywords' needs 'words'",
        "problem.param_int_range": "must be an integer from {low} to {high}",
        "problem.param_number": "must be a number",
        "problem.param_number_range": "must be from {low} to {high}",
        "problem.param_choice": "must be one of {choices}",
        "problem.param_bool": "must be true or false",
        "problem.param_scalar": "must be a number, a string or a boolean",
        "problem.param_whole_heads": "n_embd must be a multiple of n_head",
        "problem.null_not_allowed": "null is not allowed here; leave the field out to keep it "
        "as it is",
        "problem.stop_too_many": "at most {max} stop sequences are allowed",
        "problem.input_empty": "'input' is empty",
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
        "problem.policy_rule_id_twice": "规则 ID「{id}」重复使用",
        "problem.policy_pattern_not_linear": "正则表达式不受支持：只能使用 RE2 语法（不支持环视和"
        "反向引用），以保证匹配时间与文本长度成线性。RE2 的说明：{reason}",
        "problem.policy_unknown_entities": "未知的个人信息类型 {unknown}；可用：{known}",
        "problem.policy_unknown_categories": "未知的类别 {unknown}；可用：{known}",
        "problem.policy_action_needs_detector": "动作「{action}」需要使用 pii 或 regex 检测器",
        "problem.policy_pseudonymize_input_only": "pseudonymize（假名化）只能用于 input 阶段",
        "problem.policy_drop_retrieval_only": "drop（丢弃）只能用于 retrieval 阶段（检索片段、"
        "工具结果）",
        "problem.policy_regex_needs_pattern": "regex 检测器需要填写 pattern",
        "problem.policy_keywords_needs_words": "keywords 检测器需要填写 words",
        "problem.param_int_range": "必须是 {low} 到 {high} 之间的整数",
        "problem.param_number": "必须是数字",
        "problem.param_number_range": "必须在 {low} 到 {high} 之间",
        "problem.param_choice": "必须是以下之一：{choices}",
        "problem.param_bool": "必须是 true 或 false",
        "problem.param_scalar": "必须是数字、文本或布尔值",
        "problem.param_whole_heads": "n_embd 必须是 n_head 的整数倍",
        "problem.null_not_allowed": "不能为 null；不修改此项时请不要发送该字段",
        "problem.stop_too_many": "最多只能有 {max} 个停止序列",
        "problem.input_empty": "input 不能为空",
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
