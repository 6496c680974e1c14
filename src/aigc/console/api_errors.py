"""An API refusal in words the person reads: their language, not the API's English.

The API speaks OpenAI's English ("This request was blocked by the content policy."). On an
English page that text is the most precise thing to show; on a Chinese page a sentence of
English in the middle of the page is what a member cannot act on. So a refusal with a known
``code`` is told in the page's language, and any other one gets a translated lead-in for its
HTTP status in front of the API's own words (which may name a field or a file).
"""

from __future__ import annotations

import re
from typing import Any

from aigc.console import i18n
from aigc.console.api import ApiError
from aigc.console.i18n import Translator
from aigc.console.problems import problem_text
from aigc.guard.checks import DEFAULT_BLOCK_MESSAGE

# The codes a console user meets and can act on, each with its sentence.
_CODES = {
    "en": {
        "apierr.context_length_exceeded": "The message is too long for this model's context. "
        "Shorten it, lower the maximum tokens, or start a new conversation.",
        "apierr.content_policy_violation": "This request was blocked by your organization's "
        "content policy.",
        "apierr.rate_limit_exceeded": "Too many requests right now. Wait a moment and try again.",
        "apierr.insufficient_quota": "Your organization's usage budget is used up. Ask an "
        "administrator to raise it.",
        "apierr.model_not_found": "This model does not exist or is not available to you.",
        "apierr.model_not_ready": "This model is still loading. Try again in a moment.",
        "apierr.model_overloaded": "This model is busy. Try again in a moment.",
        "apierr.overloaded": "The platform is busy. Try again in a moment.",
        "apierr.upstream_unavailable": "The upstream service of this model did not answer. "
        "Try again later or ask an administrator.",
        "apierr.upstream_error": "The upstream service of this model reported an error. "
        "Try again later or ask an administrator.",
        "apierr.content_policy_violation.rule": "Blocked by your organization's content "
        "policy: {message}",
        "apierr.permission_denied": "Your role does not allow this action.",
        "apierr.session_ended": "Your session has ended. Sign in again.",
        "apierr.username_taken": "This username is already taken.",
        "apierr.username_required": "Enter a username.",
        "apierr.password_too_short": "The password must have at least 8 characters.",
        "apierr.unsupported_file_type": "This file type is not supported.",
        "apierr.file_too_large": "The file is too large.",
        "apierr.empty_file": "The file is empty.",
        "apierr.request_too_large": "The request is too large.",
        "apierr.unsupported_content": "This model does not read this kind of content (such as "
        "images). Choose a model that does, or remove it.",
        "apierr.image_required": "This model answers only about images: attach one.",
        "apierr.image_too_large": "An image is too large for this request.",
        "apierr.invalid_image_format": "An image is not a PNG, JPEG, WebP or GIF image.",
        "apierr.invalid_image": "An image is damaged or animated and cannot be read.",
        "apierr.account_locked": "Too many wrong passwords: this account is locked for a while.",
        "apierr.wrong_password": "The current password is not correct.",
        "apierr.user_required": "Conversations belong to a person: sign in to the console, or "
        "use an API key bound to a user.",
        "apierr.limited_api_key": "An API key limited to models, rates or a date cannot do this; "
        "use an unlimited key or the console.",
        "apierr.unknown_url": "There is no such address in the API.",
    },
    "zh-CN": {
        "apierr.context_length_exceeded": "消息太长，超出了该模型的上下文长度。"
        "请缩短消息、调小最大词元数，或开始新对话。",
        "apierr.content_policy_violation": "此请求被贵组织的内容安全策略拦截。",
        "apierr.rate_limit_exceeded": "当前请求过于频繁，请稍候再试。",
        "apierr.insufficient_quota": "贵组织的用量额度已用完，请联系管理员提高额度。",
        "apierr.model_not_found": "该模型不存在，或您无权使用。",
        "apierr.model_not_ready": "该模型仍在加载，请稍后再试。",
        "apierr.model_overloaded": "该模型当前繁忙，请稍后再试。",
        "apierr.overloaded": "平台当前繁忙，请稍后再试。",
        "apierr.upstream_unavailable": "该模型的上游服务没有响应，请稍后再试或联系管理员。",
        "apierr.upstream_error": "该模型的上游服务返回了错误，请稍后再试或联系管理员。",
        "apierr.content_policy_violation.rule": "此请求被贵组织的内容安全策略拦截：{message}",
        "apierr.permission_denied": "您的角色无权执行此操作。",
        "apierr.session_ended": "登录已失效，请重新登录。",
        "apierr.username_taken": "该用户名已被占用。",
        "apierr.username_required": "请输入用户名。",
        "apierr.password_too_short": "密码至少需要 8 个字符。",
        "apierr.unsupported_file_type": "不支持此文件类型。",
        "apierr.file_too_large": "文件太大。",
        "apierr.empty_file": "文件是空的。",
        "apierr.request_too_large": "请求内容太大。",
        "apierr.unsupported_content": "该模型无法读取这类内容（例如图片）。请选择能读取的模型，"
        "或将其移除。",
        "apierr.image_required": "该模型只回答关于图片的问题，请添加一张图片。",
        "apierr.image_too_large": "图片太大，超出了本次请求的限制。",
        "apierr.invalid_image_format": "图片不是 PNG、JPEG、WebP 或 GIF 格式。",
        "apierr.invalid_image": "图片已损坏或是动图，无法读取。",
        "apierr.account_locked": "密码错误次数过多，此账号已被暂时锁定。",
        "apierr.wrong_password": "当前密码不正确。",
        "apierr.user_required": "对话属于具体的人：请登录控制台，或使用绑定到用户的 API 密钥。",
        "apierr.limited_api_key": "限定了模型、速率或有效期的 API 密钥不能执行此操作；"
        "请使用不受限的密钥或控制台。",
        "apierr.unknown_url": "API 中没有这个地址。",
    },
}

# A request field the API refused, named as the API names it ({param}).
_FIELDS = {
    "en": {
        "apierr.invalid_value": "Invalid value for '{param}': {message}",
        "apierr.missing_required_parameter": "Missing required parameter: '{param}'",
    },
    "zh-CN": {
        "apierr.invalid_value": "参数「{param}」的值无效（{message}）",
        "apierr.missing_required_parameter": "缺少必填参数「{param}」",
    },
}

# Any other refusal: a lead-in for its status, then the API's own words.
_STATUSES = {
    "en": {
        "apierr.status.400": "The request was refused: {message}",
        "apierr.status.401": "You are not signed in or your session has ended: {message}",
        "apierr.status.403": "Not allowed: {message}",
        "apierr.status.404": "Not found: {message}",
        "apierr.status.409": "Conflict: {message}",
        "apierr.status.413": "Too large: {message}",
        "apierr.status.429": "Limit reached: {message}",
        "apierr.status.5xx": "The platform could not do this right now: {message}",
        "apierr.status.other": "The request failed: {message}",
    },
    "zh-CN": {
        "apierr.status.400": "请求被拒绝（{message}）",
        "apierr.status.401": "您尚未登录或登录已失效（{message}）",
        "apierr.status.403": "无权执行此操作（{message}）",
        "apierr.status.404": "未找到（{message}）",
        "apierr.status.409": "与现有内容冲突（{message}）",
        "apierr.status.413": "内容太大（{message}）",
        "apierr.status.429": "已达到使用限制（{message}）",
        "apierr.status.5xx": "平台暂时无法完成此操作（{message}）",
        "apierr.status.other": "请求失败（{message}）",
    },
}

i18n.add({lang: _CODES[lang] | _FIELDS[lang] | _STATUSES[lang] for lang in i18n.LANGUAGES})

# The API's "Invalid value for 'x': " in front of the validator's reason.
_INVALID_VALUE = re.compile(r"^Invalid value for '[^']*': ")


def explain(
    tr: Translator,
    message: str,
    code: str | None = None,
    status: int = 400,
    param: str | None = None,
    details: list[dict[str, Any]] | None = None,
) -> str:
    """One refusal (its API ``message``, ``code`` and HTTP ``status``) for the page's reader.

    A block rule's own message is its author's words (often in the organization's language):
    it is shown as written, in every language. A refused value's reason is said from the
    validator's type and values (``details``, ``problems.problem_text``) where it is a common
    one, else as the API wrote it; so is any other refusal whose reason has a type the
    console knows (an unsupported parameter, …), after its status's lead-in."""
    if code == "content_policy_violation" and message and message != DEFAULT_BLOCK_MESSAGE:
        return tr("apierr.content_policy_violation.rule", message=message)
    if tr.lang == "en" and message:
        return message  # the API's own English is the most precise
    said = problem_text(tr, details[0]) if details else None
    if param and code in ("invalid_value", "missing_required_parameter"):
        reason = said or _INVALID_VALUE.sub("", message, count=1)
        return tr(f"apierr.{code}", param=param, message=reason)
    # the one refused value's reason, said (an unsupported parameter, …), is more precise than
    # its code's general sentence; a refusal of many problems (a policy's, several files')
    # keeps the API's words, which name each
    one = details is not None and len(details) == 1 and details[0].get("loc") == param
    if code and f"apierr.{code}" in _CODES["en"] and not (one and said):
        return tr(f"apierr.{code}")
    if status >= 500:
        key = "apierr.status.5xx"
    elif f"apierr.status.{status}" in i18n.TABLE["en"]:
        key = f"apierr.status.{status}"
    else:
        key = "apierr.status.other"
    return tr(key, message=(said if one else None) or message or f"HTTP {status}")


def explain_error(tr: Translator, error: ApiError) -> str:
    """``explain`` for an ``ApiError`` the console's API client raised."""
    return explain(tr, error.message, error.code, error.status, error.param, error.details)
