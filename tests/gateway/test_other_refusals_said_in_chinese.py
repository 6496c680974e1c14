"""A 404, 409 or 403 a console user meets (name taken, not found, not allowed) is said in
Chinese with its values, as a 400's refused value is: from the kind the API sends beside its
English in x-error-details (``errors.refused``).

Found in review: only InvalidRequest carried a kind, so a Chinese page showed
"与现有内容冲突（A knowledge base named '制度' already exists）" or "无权执行此操作（This
action needs the 'admin' role; your role is 'member'）". A 404 that hides another
organization's object must stay the same as a real not-found, in both languages."""

from __future__ import annotations

import ast
import json
import string

import httpx
import pytest

from aigc.console import i18n
from tests.gateway.test_refusals_said_in_chinese import _calls, _code_said_alone, _said, _strings
from tests.templates import ECHO

pytestmark = pytest.mark.anyio


async def _refused(
    api: httpx.AsyncClient, method: str, path: str, body: object, key: str | None = None
) -> tuple[httpx.Response, str, str]:
    headers = {"Authorization": f"Bearer {key}"} if key else None
    reply = await api.request(method, path, json=body, headers=headers)
    assert reply.status_code in (403, 404, 409), reply.text
    error, said = _said(reply)
    assert error.details and error.code, reply.text
    return reply, error.message, said


async def _key(api: httpx.AsyncClient, tenant_id: str, **fields: object) -> str:
    made = await api.post("/api/keys", json={"tenant_id": tenant_id, **fields})
    assert made.status_code == 201, made.text
    return str(made.json()["key"])


async def test_name_taken_not_found_and_not_allowed_are_said_in_chinese(
    api: httpx.AsyncClient,
) -> None:
    model = {"id": "template-echo", "config": {"yaml": ECHO}, "shared": True}
    assert (await api.post("/api/models", json=model)).status_code == 201
    assert (await api.post("/api/tenants", json={"name": "宏远"})).status_code == 201
    tenant = (await api.post("/api/tenants", json={"name": "远方"})).json()["id"]
    admin = await _key(api, tenant, role="admin")
    member = await _key(api, tenant, role="member")
    limited = await _key(api, tenant, role="member", allowed_models=["template-echo"])
    assert (await api.post("/api/kb", json={"name": "制度"})).status_code == 201
    cases = [
        (
            ("POST", "/api/tenants", {"name": "宏远"}, None),
            "An organization named '宏远' already exists",
            "与现有内容冲突（名为「宏远」的组织已存在）",
        ),
        (
            ("POST", "/api/kb", {"name": "制度"}, None),
            "A knowledge base named '制度' already exists",
            "与现有内容冲突（名为「制度」的知识库已存在）",
        ),
        (
            ("POST", "/api/models", model, None),
            "A model named 'template-echo' already exists",
            "与现有内容冲突（名为「template-echo」的模型已存在）",
        ),
        (
            ("PATCH", "/api/users/usr_无此人", {"display_name": "李娜"}, None),
            "No user with id 'usr_无此人'",
            "未找到（ID 为「usr_无此人」的用户不存在）",
        ),
        (
            ("GET", "/api/kb/kb_none", None, None),
            "No knowledge base with id 'kb_none'",
            "未找到（ID 为「kb_none」的知识库不存在）",
        ),
        (
            ("POST", "/api/users", {"username": "li.na", "password": "x" * 10}, member),
            "This action needs the 'admin' role; your role is 'member'",
            "无权执行此操作（此操作需要「admin」角色；您的角色是「member」）",
        ),
        (
            ("POST", "/api/keys", {"role": "owner"}, admin),
            "You cannot grant the 'owner' role: it is above your own ('admin')",
            "无权执行此操作（您不能授予「owner」角色：它高于您自己的角色（admin））",
        ),
        (
            (
                "POST",
                "/v1/chat/completions",
                {"model": "别的模型", "messages": [{"role": "user", "content": "你好"}]},
                limited,
            ),
            "This API key may not use the model '别的模型'",
            "无权执行此操作（此 API 密钥不能使用模型「别的模型」）",
        ),
    ]
    for (method, path, body, key), english, chinese in cases:
        _, message, said = await _refused(api, method, path, body, key)
        assert (message, said) == (english, chinese), path


async def test_another_organization_s_object_is_a_not_found_in_both_languages(
    api: httpx.AsyncClient,
) -> None:
    """A user or KB of another organization answers as one that does not exist: the same
    code, kind, English and Chinese, with only the id asked for in them."""
    ours = (await api.post("/api/users", json={"username": "wang", "password": "x" * 10})).json()
    kb = (await api.post("/api/kb", json={"name": "内部"})).json()
    tenant = (await api.post("/api/tenants", json={"name": "他方"})).json()["id"]
    theirs = await _key(api, tenant, role="owner")
    pairs = [
        ("PATCH", "/api/users/{}", {"display_name": "x"}, ours["id"], "usr_" + "0" * 16),
        ("GET", "/api/kb/{}", None, kb["id"], "kb_" + "0" * 16),
    ]
    for method, path, body, hidden, missing in pairs:
        seen = []
        for asked in (hidden, missing):
            reply, message, said = await _refused(api, method, path.format(asked), body, theirs)
            assert reply.status_code == 404
            shown = json.dumps([reply.json(), reply.headers["x-error-details"], message, said])
            seen.append(shown.replace(asked, "<id>"))
        assert seen[0] == seen[1]
        assert "<id>" in seen[0]


async def _said_any(
    api: httpx.AsyncClient, method: str, path: str, status: int, **kwargs: object
) -> tuple[str, str]:
    reply = await api.request(method, path, **kwargs)  # type: ignore[arg-type]
    assert reply.status_code == status, reply.text
    error, said = _said(reply)
    assert error.details, reply.text
    return error.message, said


async def test_authentication_refusals_say_what_the_english_says(
    api: httpx.AsyncClient,
) -> None:
    """A 401 says, in Chinese, what its English says and no more: an unknown key is
    "incorrect", as before, whoever sends it; a revoked or expired one was told apart in
    English already. Before, each showed its English inside the Chinese frame."""
    made = await api.post("/api/keys", json={"role": "member"})
    key_id, key = made.json()["id"], made.json()["key"]
    assert (await api.delete(f"/api/keys/{key_id}")).status_code in (200, 204)
    cases = [
        (
            {"Authorization": ""},
            "You didn't provide an API key. Send it as 'Authorization: Bearer sk-aigc-...'",
            "您尚未登录或登录已失效（没有提供 API 密钥；请以「Authorization: Bearer "
            "sk-aigc-...」的形式发送）",
        ),
        (
            {"Authorization": "Basic eDp5"},
            "The Authorization header must be 'Bearer <API key>'",
            "您尚未登录或登录已失效（Authorization 请求头必须是「Bearer <API 密钥>」的形式）",
        ),
        (
            {"Authorization": "Bearer sk-aigc-nosuchkey"},
            "Incorrect API key provided",
            "您尚未登录或登录已失效（API 密钥不正确）",
        ),
        (
            {"Authorization": f"Bearer {key}"},
            "This API key has been revoked",
            "您尚未登录或登录已失效（此 API 密钥已被吊销）",
        ),
    ]
    for headers, english, chinese in cases:
        said = await _said_any(api, "GET", "/v1/models", 401, headers=headers)
        assert said == (english, chinese), headers


async def test_limits_and_methods_are_said_with_their_values(api: httpx.AsyncClient) -> None:
    """A 429, 413 and 405 name their limit, size or methods in Chinese, as in English; before,
    a rate limit was "当前请求过于频繁" without its numbers, a body over the limit
    "请求内容太大。" without it, and a 405 the English in the Chinese frame."""
    model = {"id": "template-echo", "config": {"yaml": ECHO}, "shared": True}
    assert (await api.post("/api/models", json=model)).status_code == 201
    made = await api.post("/api/keys", json={"role": "member", "rpm_limit": 1})
    key = made.json()["key"]
    chat = {"model": "template-echo", "messages": [{"role": "user", "content": "你好"}]}
    auth = {"Authorization": f"Bearer {key}"}
    assert (await api.post("/v1/chat/completions", json=chat, headers=auth)).status_code == 200
    english, chinese = await _said_any(
        api, "POST", "/v1/chat/completions", 429, json=chat, headers=auth
    )
    assert english.startswith("Rate limit reached for requests per minute: limit 1, used 1 on")
    assert chinese.startswith(
        "已达到使用限制（此 API 密钥已达到每分钟请求数的限制（上限 1，已用 1）；请在 "
    ), chinese
    english, chinese = await _said_any(api, "DELETE", "/v1/chat/completions", 405)
    assert english == "DELETE is not allowed here; use POST"
    assert chinese == "请求失败（此地址不接受 DELETE 请求；请使用 POST）"
    body = b"[" + b"1," * (4 * 1024 * 1024) + b"1]"
    english, chinese = await _said_any(
        api,
        "POST",
        "/v1/chat/completions",
        413,
        content=body,
        headers={"content-type": "application/json"},
    )
    assert english == "The request body is larger than the limit of 8388608 bytes"
    assert chinese == "内容太大（请求体超过了 8,388,608 字节的上限）"


# --- every raising site of these classes: a code the console says, or a kind ----------------

_CLASSES = ("NotFound", "ModelNotFound", "Conflict", "PermissionDenied")
# The refusals of authentication, limits and load, by the code each class sends by default.
_MORE_CLASSES = {
    "AuthenticationFailed": "invalid_api_key",
    "MethodNotAllowed": "method_not_allowed",
    "PayloadTooLarge": "request_too_large",
    "RateLimited": "rate_limit_exceeded",
    "QuotaExceeded": "insufficient_quota",
    "Overloaded": "overloaded",
    "ModelNotReady": "model_not_ready",
    "ReplicaLost": "replica_unavailable",
    "UpstreamFailed": "upstream_error",
}


def test_every_authentication_limit_and_load_refusal_has_a_kind() -> None:
    """An AuthenticationFailed, MethodNotAllowed, PayloadTooLarge, RateLimited, Overloaded
    (and their kin) made directly, not by errors.refused, names a code the console says
    alone; else a Chinese page shows its English (database_unavailable, tenant_disabled, a
    405) or drops its values. Only a code with no value to lose may stand alone: the
    generic overload and rate sentences drop the limit and model a refusal names, so a
    refusal of those codes with a value sends a kind."""
    unsaid = []
    for name, default in _MORE_CLASSES.items():
        for where, call in _calls(name):
            keywords = {k.arg: k.value for k in call.keywords}
            if "details" in keywords:
                continue
            codes = _strings(keywords.get("code")) if "code" in keywords else [default]
            # an upstream's failure names what it sent, for the logs: its code's sentence is
            # what a console user can act on
            named = name != "UpstreamFailed" and any(
                isinstance(n, ast.JoinedStr) for n in ast.walk(call)
            )
            if not codes or named or not all(_code_said_alone(c) for c in codes):
                unsaid.append(where)
    assert unsaid == []
    assert sum(len(_calls(name)) for name in _MORE_CLASSES) >= 5  # it read the source


def test_every_not_found_conflict_and_permission_refusal_has_a_kind() -> None:
    """A NotFound, Conflict or PermissionDenied made directly (not by errors.refused) names
    a code the console says alone; else a Chinese page shows its English in its frame.
    permission_denied's own sentence ("your role does not allow this") names no reason, so a
    refusal with one sends it as a kind."""
    unsaid = []
    for name in _CLASSES:
        for where, call in _calls(name):
            keywords = {k.arg: k.value for k in call.keywords}
            if "details" in keywords:
                continue
            codes = _strings(keywords.get("code"))
            if name == "ModelNotFound" and "code" not in keywords:
                codes = ["model_not_found"]
            if not codes or not all(
                _code_said_alone(c) and c != "permission_denied" for c in codes
            ):
                unsaid.append(where)
    assert unsaid == []
    assert len(_calls("NotFound")) + len(_calls("ModelNotFound")) >= 3  # it read the source


def _kinds(node: ast.expr) -> list[str]:
    """The kinds an argument can be: a string, or either branch of ``a if x else b``."""
    if isinstance(node, ast.IfExp):
        return _kinds(node.body) + _kinds(node.orelse)
    return [node.value] if isinstance(node, ast.Constant) and type(node.value) is str else []


def test_every_kind_of_these_refusals_is_said_in_both_languages() -> None:
    english, chinese = i18n.TABLE["en"], i18n.TABLE["zh-CN"]
    calls = _calls("refused")
    assert len(calls) >= 50  # the walk sees the sites (it read the source)
    for where, call in calls:
        if where.startswith("errors.py:"):
            continue  # refused_value's own call, with its caller's kind
        assert len(call.args) >= 3, where
        classes = [call.args[0].id] if isinstance(call.args[0], ast.Name) else []
        assert classes and classes[0] != "InvalidRequest", where  # that is refused_value
        kinds = _kinds(call.args[1])
        assert kinds, where
        sent = {k.arg for k in call.keywords} - {"param", "code", None}
        for kind in kinds:
            key = f"problem.{kind}"
            assert key in english and key in chinese, (where, kind)
            needed = {n for _, n, _, _ in string.Formatter().parse(chinese[key]) if n}
            assert needed <= sent, (where, kind, needed - sent)
