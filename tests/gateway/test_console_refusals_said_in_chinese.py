"""The refusals a console user meets on its forms (conversations, knowledge bases, SSO
providers, organizations, keys, users) are said in Chinese, with their values.

Found in review: some 180 InvalidRequest raised by the gateway's own code carried no code and
no kind, so a Chinese page showed the API's English inside its frame:
"请求被拒绝（input must hold 1 to 2048 strings）". Each request here goes through the real
app (routes, error handlers) and its answer through the console's own API client and wording
(``_raise_for``, ``explain_error``; ``refusal_text`` for a knowledge-base upload)."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image

from aigc.console.pages.knowledge_common import refusal_text
from aigc.errors import APIError, InvalidRequest
from aigc.gateway import image_uploads
from aigc.gateway.error_handlers import error_response
from aigc.gateway.image_forms import Upload
from aigc.models.registry import families, get_family
from tests.gateway.test_refusals_said_in_chinese import ZH, _said
from tests.in_process import admin_client
from tests.templates import ECHO

pytestmark = pytest.mark.anyio

Case = tuple[str, str, dict[str, Any] | None, str, str]


async def _check(api: httpx.AsyncClient, cases: list[Case]) -> None:
    """Each (method, path, body, English, Chinese): a 400 whose code is set, whose English is
    the API's, and whose Chinese is what the console's pages say."""
    for method, path, body, english, chinese in cases:
        reply = await api.request(method, path, json=body)
        assert reply.status_code == 400, (path, body, reply.text)
        error, said = _said(reply)
        assert error.code, (path, body)
        assert (error.message, said) == (english, chinese), (path, body)


async def test_organization_key_and_access_refusals_are_said_in_chinese(
    api: httpx.AsyncClient,
) -> None:
    tenant = (await api.get("/api/me")).json()["tenant_id"]
    await _check(
        api,
        [
            (
                "PATCH",
                f"/api/tenants/{tenant}",
                {"disabled": True},
                "You cannot disable your own organization",
                "请求被拒绝（不能停用自己所在的组织）",
            ),
            (
                "DELETE",
                f"/api/tenants/{tenant}",
                None,
                "You cannot delete your own organization",
                "请求被拒绝（不能删除自己所在的组织）",
            ),
            (
                "POST",
                "/api/keys",
                {"name": "钥匙", "expires_at": "2001-01-01T00:00:00Z"},
                "expires_at must be in the future",
                "参数「expires_at」的值无效（必须是将来的时间）",
            ),
            (
                "POST",
                "/api/kb",
                {"name": "制度", "access": [{"role": "member", "access": "own"}]},
                "access must be one of read, write, manage, not 'own'",
                "参数「access[0].access」的值无效（必须是以下之一：read, write, manage）",
            ),
            (
                "POST",
                "/api/kb",
                {"name": "制度", "access": [{"access": "read"}]},
                "Each access entry names exactly one of 'role', 'group' or 'user' (an id of at "
                "most 200 characters)",
                "参数「access[0]」的值无效（每个访问权限条目必须且只能指定 role、group、user "
                "之一（ID 最多 200 个字符））",
            ),
            (
                "POST",
                "/api/kb",
                {"name": "制度", "access": [{"role": "king"}]},
                "Unknown role 'king'; roles are viewer, member, admin, owner",
                "参数「access[0]」的值无效（必须是以下之一：viewer, member, admin, owner）",
            ),
        ],
    )


async def test_sso_provider_refusals_are_said_in_chinese(api: httpx.AsyncClient) -> None:
    tenant = (await api.get("/api/me")).json()["tenant_id"]
    path = f"/api/tenants/{tenant}/sso/providers"
    base = {"name": "企业微信", "issuer": "https://sso.example.com", "client_id": "c"}
    secret = base | {"client_secret": "s"}
    await _check(
        api,
        [
            (
                "POST",
                path,
                base,
                "Missing required parameter: 'client_secret'",
                "缺少必填参数「client_secret」",
            ),
            (
                "POST",
                path,
                secret | {"rules": [{"claim": "groups", "value": "财务"}]},
                "rules[0] must grant either a role or a group",
                "参数「rules」的值无效（rules[0] 必须授予一个角色或一个用户组（二者选一））",
            ),
        ],
    )


async def test_conversation_refusals_are_said_in_chinese(
    app: FastAPI, api: httpx.AsyncClient
) -> None:
    made = await api.post(
        "/api/users", json={"username": "小王", "password": "long enough pw", "role": "member"}
    )
    assert made.status_code == 201, made.text
    key = await api.post("/api/keys", json={"name": "小王的钥匙", "user_id": made.json()["id"]})
    assert key.status_code == 201, key.text
    async with admin_client(app, key.json()["key"]) as person:
        talk = (await person.post("/api/conversations", json={"title": "报销"})).json()["id"]
        asked = await person.post(
            f"/api/conversations/{talk}/messages", json={"role": "user", "content": "你好"}
        )
        assert asked.status_code == 201, asked.text
        await _check(
            person,
            [
                (
                    "POST",
                    f"/api/conversations/{talk}/messages",
                    {"role": "user", "content": "你好", "meta": {"笔记": "长" * 64_000}},
                    "meta is at most 64000 bytes of JSON",
                    "参数「meta」的值无效（转成 JSON 后最多 64,000 字节）",
                ),
                (
                    "PUT",
                    f"/api/conversations/{talk}/messages/{asked.json()['id']}/rating",
                    {"rating": 1},
                    "Only an assistant's answer can be rated",
                    "参数「message_id」的值无效（只能为助手的回答评分）",
                ),
            ],
        )


@pytest.mark.parametrize(
    ("name", "english", "chinese"),
    [
        (
            "../制度.txt",
            "The file name '../制度.txt' contains a path; send a plain file name",
            "文件名「../制度.txt」包含路径，请以不含路径的文件名上传。",
        ),
        (
            "长" * 256 + ".txt",
            "The file name has control characters or is too long",
            "文件名含有控制字符，或超过 255 个字符。",
        ),
    ],
)
async def test_a_refused_file_name_is_said_in_chinese_in_one_and_several_file_uploads(
    api: httpx.AsyncClient, name: str, english: str, chinese: str
) -> None:
    """A name refused alone (the request's 400, as the console's upload sends one file) and
    among taken files (its place in the 200) is said by its rule."""
    made = await api.post("/api/kb", json={"name": "上传", "dense": False})
    upload = f"/api/kb/{made.json()['id']}/documents"
    bad = ("files", (name, "报销制度".encode(), "text/plain"))
    alone = await api.post(upload, files=[bad])
    assert alone.status_code == 400, alone.text
    error, _ = _said(alone)
    assert english in error.message
    assert refusal_text(ZH, error.message, error.code, 400, error.details) == chinese
    several = await api.post(upload, files=[("files", ("制度.txt", b"ok", "text/plain")), bad])
    assert several.status_code == 200, several.text
    refused = several.json()["data"][1]["error"]
    assert refused["message"] == english
    assert refusal_text(ZH, refused["message"], refused["code"], 400, refused["details"]) == chinese


def _sent(exc: Exception) -> httpx.Response:
    """``exc`` as the app's error handler answers it."""
    assert isinstance(exc, APIError)
    sent = error_response(exc)
    return httpx.Response(sent.status_code, headers=dict(sent.headers), content=bytes(sent.body))


async def test_tool_refusals_are_said_in_chinese(api: httpx.AsyncClient) -> None:
    made = await api.post("/api/models", json={"id": "template-echo", "config": {"yaml": ECHO}})
    assert made.status_code == 201, made.text
    chat = "/v1/chat/completions"
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {}}}]
    base = {"model": "template-echo", "messages": [{"role": "user", "content": "天气如何"}]}
    await _check(
        api,
        [
            (
                "POST",
                chat,
                base | {"tool_choice": "required"},
                "'tool_choice' is only allowed when tools are given",
                "参数「tool_choice」的值无效（只有提供了工具（tools）时才能使用 tool_choice）",
            ),
            (
                "POST",
                chat,
                base | {"tools": tools, "tool_choice": {"type": "function", "function": {}}},
                "'tool_choice' names a function: {\"name\": ...}",
                '参数「tool_choice」的值无效（tool_choice 需要指定函数名：{"name": ...}）',
            ),
            (
                "POST",
                chat,
                base
                | {
                    "tools": tools,
                    "tool_choice": {"type": "function", "function": {"name": "stock"}},
                },
                "'tool_choice' names 'stock', which is not among the tools",
                "参数「tool_choice」的值无效（tool_choice 指定的函数「stock」不在所提供的工具中）",
            ),
            (
                "POST",
                chat,
                base | {"tools": tools + tools},
                "Function names must be unique",
                "参数「tools」的值无效（函数名不能重复）",
            ),
            (
                "POST",
                chat,
                base
                | {
                    "messages": [
                        {"role": "user", "content": "天气如何"},
                        {"role": "tool", "tool_call_id": "call_9", "content": "晴"},
                    ]
                },
                "Messages with role 'tool' must answer a call of the preceding assistant message "
                "with 'tool_calls'",
                "参数「messages[1].tool_call_id」的值无效（tool 消息必须回应前一条 assistant "
                "消息中 tool_calls 里的调用）",
            ),
        ],
    )


async def test_image_form_refusals_are_said_in_chinese(api: httpx.AsyncClient) -> None:
    reply = await api.post("/v1/images/edits", data={"model": "gan-any", "image": "猫.png"})
    assert reply.status_code == 400, reply.text
    error, said = _said(reply)
    assert error.message == "'image' must be a file part (a form field with a filename)"
    assert said == "参数「image」的值无效（image 必须是文件（带文件名的表单字段））"


def _png(width: int, height: int, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height)).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    ("refuse", "english", "chinese"),
    [
        (
            lambda: image_uploads.uploaded_image(Upload("image", b"not an image"), 10**6),
            "The file 'image' is not a PNG, JPEG, WebP or GIF image",
            "请求被拒绝（image 处的图片不是 PNG、JPEG、WebP 或 GIF 格式）",
        ),
        (
            lambda: image_uploads.square_image(Upload("image", _png(2048, 1024)), 10**7),
            "The image 'image' is 2048x1024; it must be square (the models here make square "
            "images)",
            "请求被拒绝（图片「image」为 2048x1024，必须是正方形（这里的模型只生成正方形图片））",
        ),
        (
            lambda: image_uploads.edit_alpha(
                Image.new("RGBA", (64, 64)), Upload("mask", _png(32, 32, "RGBA")), 10**6
            ),
            "The mask is 32x32 and the image 64x64; they must be the same size",
            "请求被拒绝（mask 为 32x32，图片为 64x64，两者必须一样大）",
        ),
        (
            lambda: image_uploads.edit_alpha(Image.new("RGB", (64, 64)), None, 10**6),
            "Give a 'mask' (a PNG whose transparent pixels mark the area to edit), or an image "
            "with fully transparent pixels there",
            "缺少必填参数「mask」",
        ),
    ],
)
def test_an_uploaded_image_s_refusal_is_said_by_its_rule(
    refuse: Any, english: str, chinese: str
) -> None:
    """Its code (invalid_image, …) alone said "图片已损坏或是动图，无法读取。" of an image that
    is only not square; its rule, with the sizes written as sizes are, says what is wrong."""
    with pytest.raises(InvalidRequest) as refused:
        refuse()
    error, said = _said(_sent(refused.value))
    assert (error.message, said) == (english, chinese)


async def test_api_refusals_are_said_in_chinese(api: httpx.AsyncClient) -> None:
    """Refusals met through the API (embeddings, moderations, grounding, usage), said too."""
    made = await api.post("/api/models", json={"id": "template-echo", "config": {"yaml": ECHO}})
    assert made.status_code == 201, made.text
    embedder = next(
        m["id"] for m in (await api.get("/v1/models")).json()["data"] if "embed" in str(m)
    )
    chat = {"model": "template-echo", "messages": [{"role": "user", "content": "报销"}]}
    await _check(
        api,
        [
            (
                "POST",
                "/v1/embeddings",
                {"model": embedder, "input": []},
                "input must hold 1 to 2048 strings",
                "参数「input」的值无效（input 必须包含 1 到 2,048 个字符串）",
            ),
            (
                "POST",
                "/v1/embeddings",
                {"model": embedder, "input": ["　 "]},
                "Each input must be non-empty and at most 32000 characters",
                "参数「input」的值无效（每项输入都不能为空，且最多 32,000 个字符）",
            ),
            (
                "POST",
                "/v1/moderations",
                {"input": []},
                "'input' takes 1 to 32 items",
                "参数「input」的值无效（input 必须包含 1 到 32 项）",
            ),
            (
                "POST",
                "/v1/chat/completions",
                chat | {"knowledge_bases": []},
                "knowledge_bases must be a list of 1 to 20 knowledge base ids",
                "参数「knowledge_bases」的值无效（knowledge_bases 必须是包含 1 到 20 个"
                "知识库 ID 的列表）",
            ),
            (
                "POST",
                "/v1/completions",
                {"model": "template-echo", "prompt": "报销", "knowledge_bases": ["kb_1"]},
                "knowledge_bases works with chat completions and responses only",
                "请求被拒绝（knowledge_bases 只能用于对话补全（chat completions）和 responses "
                "接口）",
            ),
            (
                "GET",
                "/api/usage?group_by=day,user",
                None,
                "group_by takes day, key_id and model; not user",
                "参数「group_by」的值无效（group_by 只能是 day、key_id 或 model，不能是 user）",
            ),
        ],
    )


async def test_a_refused_page_address_is_said_in_chinese(api: httpx.AsyncClient) -> None:
    """The knowledge page's "add from a web address": a refused fetch says which rule."""
    made = await api.post("/api/kb", json={"name": "网页", "dense": False})
    reply = await api.post(
        f"/api/kb/{made.json()['id']}/documents/url", json={"url": "http://127.0.0.1:9/制度"}
    )
    assert reply.status_code == 400, reply.text
    error, said = _said(reply)
    assert error.code == "url_refused"
    assert error.message.startswith("Refused to fetch http://127.0.0.1:9: ")
    assert said == "请求被拒绝（这里不允许获取 http://127.0.0.1:9）"


async def test_model_and_platform_form_refusals_are_said_in_chinese(
    api: httpx.AsyncClient,
) -> None:
    await _check(
        api,
        [
            (
                "PUT",
                "/api/platform/upstream-allowlist",
                {"patterns": ["ftp://模型.example.com"]},
                "'ftp://模型.example.com': only http and https upstreams",
                "参数「patterns[0]」的值无效（'ftp://模型.example.com'：上游服务只能是 http 或 "
                "https）",
            ),
            (
                "POST",
                "/api/models",
                {"id": "客服模型", "config": {}},
                "Model ids start with their family and a dash ("
                + ", ".join(f"{f.name}-" for f in families())
                + ")",
                "参数「id」的值无效（模型 ID 必须以系列名和短横线开头（"
                + ", ".join(f"{f.name}-" for f in families())
                + "））",
            ),
            (
                "POST",
                "/api/models",
                {
                    "id": "upstream-客服",
                    "config": {"base_url": "https://u:p@llm.example.com", "model": "m"},
                },
                "Put credentials in api_key, not in the URL",
                "参数「config.base_url」的值无效（请把凭据填在 api_key 中，不要写在网址里）",
            ),
        ],
    )


async def test_training_form_refusals_are_said_in_chinese(api: httpx.AsyncClient) -> None:
    """The training form: a parameter the family does not take, no data, a name that is
    not of the family."""
    await _check(
        api,
        [
            (
                "POST",
                "/api/train",
                {"family": "ngram", "name": "ngram-制度", "params": {"层数": 2}},
                "Unknown parameter '层数' for a ngram model; known: "
                + ", ".join(sorted(get_family("ngram").params.model_fields)),
                "参数「params.层数」的值无效（ngram 模型没有参数「层数」；可用："
                + ", ".join(sorted(get_family("ngram").params.model_fields))
                + "）",
            ),
            (
                "POST",
                "/api/train",
                {"family": "ngram", "name": "ngram-制度"},
                "Give the training data: file_ids (uploaded files) or a data path",
                "缺少必填参数「file_ids」",
            ),
        ],
    )
