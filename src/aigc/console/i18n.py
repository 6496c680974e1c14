"""One translation table for every console text, in English and Simplified Chinese.

Each page module adds its own section with ``add``; ``Translator`` looks keys up for one page
view. A key missing in one language is a bug (tests/console/test_i18n.py checks the table).
"""

from __future__ import annotations

LANGUAGES = ("en", "zh-CN")
LANGUAGE_NAMES = {"en": "English", "zh-CN": "中文"}
TABLE: dict[str, dict[str, str]] = {lang: {} for lang in LANGUAGES}


def add(section: dict[str, dict[str, str]]) -> None:
    """Merge a page's texts into the table; a key defined twice is refused."""
    for lang in LANGUAGES:
        for key, text in section[lang].items():
            if key in TABLE[lang] and TABLE[lang][key] != text:
                raise ValueError(f"translation key {key!r} defined twice")
            TABLE[lang][key] = text


def pick_language(cookie: str | None, accept_language: str | None) -> str:
    """The language chosen in the console, else the browser's first preference we have."""
    if cookie in LANGUAGES:
        return cookie
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return "en"


class Translator:
    """``tr("chat.send")`` or ``tr("kb.count", n=3)`` in the page's language."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGUAGES else "en"

    def __call__(self, key: str, **values: object) -> str:
        text = TABLE[self.lang].get(key) or TABLE["en"].get(key) or key
        return text.format(**values) if values else text


add(
    {
        "en": {
            "app.name": "aigc",
            "nav.chat": "Chat",
            "nav.images": "Images",
            "nav.knowledge": "Knowledge bases",
            "nav.models": "Models",
            "nav.training": "Training",
            "nav.admin": "Admin",
            "nav.signout": "Sign out",
            "nav.language": "Language",
            "nav.menu": "Menu",
            "common.save": "Save",
            "common.cancel": "Cancel",
            "common.delete": "Delete",
            "common.create": "Create",
            "common.close": "Close",
            "common.refresh": "Refresh",
            "common.loading": "Loading…",
            "common.none": "Nothing here yet.",
            "common.error": "Something went wrong: {message}",
            "common.confirm_delete": "Delete {name}? This cannot be undone.",
            "login.title": "Sign in",
            "login.username": "Username",
            "login.password": "Password",
            "login.submit": "Sign in",
            "login.error.invalid": "Incorrect username or password.",
            "login.error.locked": "Too many failed attempts: this account is locked for a while. "
            "Try again later or ask an administrator.",
            "login.error.disabled": "This account is disabled.",
            "login.error.origin": "The sign-in form was sent from another site and was refused.",
            "login.error.sso_only": "This organization signs in through its identity provider "
            "only: use the button below.",
            "login.or": "or",
            "login.sso": "Sign in with {name}",
            "login.no_owner": "No owner account exists yet. Open the setup link printed when the "
            "server first started (or run `aigc admin setup-url`).",
            "forbidden.title": "Not allowed",
            "forbidden.body": "Your role does not allow this page. Ask an administrator if you "
            "need access.",
            "forbidden.back": "Back to chat",
        },
        "zh-CN": {
            "app.name": "aigc",
            "nav.chat": "对话",
            "nav.images": "图像",
            "nav.knowledge": "知识库",
            "nav.models": "模型",
            "nav.training": "训练",
            "nav.admin": "管理",
            "nav.signout": "退出登录",
            "nav.language": "语言",
            "nav.menu": "菜单",
            "common.save": "保存",
            "common.cancel": "取消",
            "common.delete": "删除",
            "common.create": "创建",
            "common.close": "关闭",
            "common.refresh": "刷新",
            "common.loading": "加载中…",
            "common.none": "暂无内容。",
            "common.error": "出错了：{message}",
            "common.confirm_delete": "确定删除 {name}？此操作无法撤销。",
            "login.title": "登录",
            "login.username": "用户名",
            "login.password": "密码",
            "login.submit": "登录",
            "login.error.invalid": "用户名或密码错误。",
            "login.error.locked": "失败次数过多，账号已暂时锁定。请稍后再试或联系管理员。",
            "login.error.disabled": "该账号已停用。",
            "login.error.origin": "登录表单来自其他网站，已被拒绝。",
            "login.error.sso_only": "此组织仅允许通过其身份提供方登录：请使用下方按钮。",
            "login.or": "或",
            "login.sso": "使用 {name} 登录",
            "login.no_owner": "尚无所有者账号。请打开服务器首次启动时打印的设置链接"
            "（或运行 `aigc admin setup-url`）。",
            "forbidden.title": "无权访问",
            "forbidden.body": "您的角色无权访问此页面。如需权限，请联系管理员。",
            "forbidden.back": "返回对话",
        },
    }
)
