"""The first-run setup page: the install's owner account is created here, once.

Plain HTML forms (no JavaScript: no session exists yet), in the console's language (its texts
are in the console's one translation table). The one-time token in the
link printed at first start authorises it; it dies when the owner exists.
"""

from __future__ import annotations

import html

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse

from aigc.console import i18n
from aigc.console.api_errors import explain
from aigc.console.i18n import Translator, pick_language
from aigc.console.session import LANGUAGE_COOKIE
from aigc.errors import APIError
from aigc.gateway import accounts, first_run
from aigc.gateway.deps import services
from aigc.gateway.services import Services
from aigc.infra.tenants import default_tenant

router = APIRouter(tags=["console"], include_in_schema=False)

i18n.add(
    {
        "en": {
            "setup.title": "aigc: first-run setup",
            "setup.intro": (
                "Create the owner account of this installation. The owner administers the "
                "platform and its default organization."
            ),
            "setup.username": "Username",
            "setup.display": "Display name",
            "setup.password": "Password (8 characters or more)",
            "setup.confirm": "Repeat password",
            "setup.submit": "Create owner",
            "setup.mismatch": "The two passwords differ.",
            "setup.bad_token": (
                "This setup link is invalid or has been used. Run `aigc admin setup-url` on "
                "the server for a new one."
            ),
            "setup.done": "Setup is complete: the owner account exists. You can sign in now.",
            "setup.created": "Owner account created. You can sign in now.",
        },
        "zh-CN": {
            "setup.title": "aigc：首次设置",
            "setup.intro": "创建本系统的所有者账号。所有者管理整个平台及其默认组织。",
            "setup.username": "用户名",
            "setup.display": "显示名称",
            "setup.password": "密码（至少 8 个字符）",
            "setup.confirm": "再次输入密码",
            "setup.submit": "创建所有者",
            "setup.mismatch": "两次输入的密码不一致。",
            "setup.bad_token": (
                "此设置链接无效或已被使用。请在服务器上运行 `aigc admin setup-url` 获取新链接。"
            ),
            "setup.done": "设置已完成：所有者账号已存在，现在可以登录。",
            "setup.created": "所有者账号已创建，现在可以登录。",
        },
    }
)


def _translator(request: Request) -> Translator:
    return Translator(
        pick_language(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))
    )


def _page(tr: Translator, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f"""<!doctype html><html lang="{tr.lang}"><head>
<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{tr("setup.title")}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}}
label{{display:block;margin-top:1rem}}input{{width:100%;padding:.5rem;font-size:1rem}}
button{{margin-top:1.5rem;padding:.6rem 1.2rem;font-size:1rem}}
:focus-visible{{outline:3px solid #2563eb;outline-offset:2px}}.error{{color:#b91c1c}}</style>
</head><body><h1>{tr("setup.title")}</h1>{body}</body></html>""",
        status_code=status,
    )


def _form(
    tr: Translator, token: str, error: str = "", username: str = "", display_name: str = ""
) -> str:
    """The owner form; after a refusal it keeps what was typed (never the passwords)."""
    err = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    return f"""<p>{tr("setup.intro")}</p>{err}
<form method="post" action="/setup">
<input type="hidden" name="token" value="{html.escape(token)}">
<label>{tr("setup.username")}<input name="username" required autocomplete="username"
 value="{html.escape(username)}" autofocus></label>
<label>{tr("setup.display")}<input name="display_name" autocomplete="name"
 value="{html.escape(display_name)}"></label>
<label>{tr("setup.password")}<input name="password" type="password" minlength="8" required
 autocomplete="new-password"></label>
<label>{tr("setup.confirm")}<input name="confirm" type="password" minlength="8" required
 autocomplete="new-password"></label>
<button type="submit">{tr("setup.submit")}</button></form>"""


@router.get("/setup")
def setup_form(
    request: Request, token: str = "", svc: Services = Depends(services)
) -> HTMLResponse:
    tr = _translator(request)
    with svc.db.session() as s:
        if accounts.has_owner(s):
            return _page(tr, _signed_up(tr, "setup.done"))
        if not first_run.check_setup_token(s, token):
            return _page(tr, f'<p class="error">{tr("setup.bad_token")}</p>', 403)
    return _page(tr, _form(tr, token))


@router.post("/setup")
def setup_submit(
    request: Request,
    token: str = Form(""),
    username: str = Form(""),
    display_name: str = Form(""),
    password: str = Form(""),
    confirm: str = Form(""),
    svc: Services = Depends(services),
) -> HTMLResponse:
    tr = _translator(request)
    if password != confirm:
        return _page(tr, _form(tr, token, tr("setup.mismatch"), username, display_name), 400)
    with svc.db.session() as s:
        if accounts.has_owner(s):
            return _page(tr, _signed_up(tr, "setup.done"))
        if not first_run.check_setup_token(s, token):
            return _page(tr, f'<p class="error">{tr("setup.bad_token")}</p>', 403)
        try:
            accounts.create_user(
                s,
                None,
                tenant_id=default_tenant(s).id,
                username=username,
                password=password,
                role="owner",
                display_name=display_name,
                platform_admin=True,
            )
        except APIError as exc:
            s.rollback()
            reason = explain(tr, exc.message, exc.code, exc.status)
            return _page(tr, _form(tr, token, reason, username, display_name), exc.status)
        first_run.finish_setup(s)
    return _page(tr, _signed_up(tr, "setup.created"), 201)


def _signed_up(tr: Translator, key: str) -> str:
    return f'<p>{tr(key)}</p><p><a href="/login">{tr("login.submit")}</a></p>'
