"""The first-run setup page: the install's owner account is created here, once.

Plain HTML forms (no JavaScript), bilingual by the browser's language. The one-time token in the
link printed at first start authorises it; it dies when the owner exists.
"""

from __future__ import annotations

import html

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse

from aigc.gateway import accounts, first_run
from aigc.gateway.deps import services
from aigc.gateway.errors import APIError
from aigc.gateway.services import Services

router = APIRouter(tags=["console"], include_in_schema=False)

TEXT = {
    "en": {
        "title": "aigc: first-run setup",
        "intro": "Create the owner account of this installation. The owner administers the "
        "platform and its default organization.",
        "username": "Username",
        "display": "Display name",
        "password": "Password (8 characters or more)",
        "confirm": "Repeat password",
        "submit": "Create owner",
        "mismatch": "The two passwords differ.",
        "bad_token": "This setup link is invalid or has been used. Run `aigc admin setup-url` "
        "on the server for a new one.",
        "done": "Setup is complete: the owner account exists. You can sign in now.",
        "created": "Owner account created. You can sign in now.",
    },
    "zh": {
        "title": "aigc：首次设置",
        "intro": "创建本系统的所有者账号。所有者管理整个平台及其默认组织。",
        "username": "用户名",
        "display": "显示名称",
        "password": "密码（至少 8 个字符）",
        "confirm": "再次输入密码",
        "submit": "创建所有者",
        "mismatch": "两次输入的密码不一致。",
        "bad_token": "此设置链接无效或已被使用。"
        "请在服务器上运行 `aigc admin setup-url` 获取新链接。",
        "done": "设置已完成：所有者账号已存在，现在可以登录。",
        "created": "所有者账号已创建，现在可以登录。",
    },
}


def _lang(request: Request) -> str:
    accept = request.headers.get("accept-language", "").lower()
    return "zh" if accept.startswith("zh") else "en"


def _page(lang: str, body: str, status: int = 200) -> HTMLResponse:
    t = TEXT[lang]
    return HTMLResponse(
        f"""<!doctype html><html lang="{"zh-CN" if lang == "zh" else "en"}"><head>
<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{t["title"]}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}}
label{{display:block;margin-top:1rem}}input{{width:100%;padding:.5rem;font-size:1rem}}
button{{margin-top:1.5rem;padding:.6rem 1.2rem;font-size:1rem}}
:focus-visible{{outline:3px solid #2563eb;outline-offset:2px}}.error{{color:#b91c1c}}</style>
</head><body><h1>{t["title"]}</h1>{body}</body></html>""",
        status_code=status,
    )


def _form(lang: str, token: str, error: str = "") -> str:
    t = TEXT[lang]
    err = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    return f"""<p>{t["intro"]}</p>{err}
<form method="post" action="/setup">
<input type="hidden" name="token" value="{html.escape(token)}">
<label>{t["username"]}<input name="username" required autocomplete="username" autofocus></label>
<label>{t["display"]}<input name="display_name" autocomplete="name"></label>
<label>{t["password"]}<input name="password" type="password" minlength="8" required
 autocomplete="new-password"></label>
<label>{t["confirm"]}<input name="confirm" type="password" minlength="8" required
 autocomplete="new-password"></label>
<button type="submit">{t["submit"]}</button></form>"""


@router.get("/setup")
def setup_form(
    request: Request, token: str = "", svc: Services = Depends(services)
) -> HTMLResponse:
    lang = _lang(request)
    with svc.db.session() as s:
        if accounts.has_owner(s):
            return _page(lang, f"<p>{TEXT[lang]['done']}</p>")
        if not first_run.check_setup_token(s, token):
            return _page(lang, f'<p class="error">{TEXT[lang]["bad_token"]}</p>', 403)
    return _page(lang, _form(lang, token))


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
    lang = _lang(request)
    t = TEXT[lang]
    if password != confirm:
        return _page(lang, _form(lang, token, t["mismatch"]), 400)
    with svc.db.session() as s:
        if accounts.has_owner(s):
            return _page(lang, f"<p>{t['done']}</p>")
        if not first_run.check_setup_token(s, token):
            return _page(lang, f'<p class="error">{t["bad_token"]}</p>', 403)
        try:
            accounts.create_user(
                s,
                None,
                tenant_id=accounts.default_tenant(s).id,
                username=username,
                password=password,
                role="owner",
                display_name=display_name,
                platform_admin=True,
            )
        except APIError as exc:
            s.rollback()
            return _page(lang, _form(lang, token, exc.message), exc.status)
        first_run.finish_setup(s)
    return _page(lang, f"<p>{t['created']}</p>", 201)
