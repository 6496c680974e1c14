"""A request value the gateway's own code refuses (invalid_value, unsupported_…) is said in
Chinese on the console's pages, with its values, from the kind the API sends beside its
English in x-error-details.

Found in review: some 36 such refusals were raised without details, so a Chinese page showed
"请求被拒绝（'logit_bias' is not supported by this server yet; remove it from the request）"
or "参数「stream_options」的值无效（'stream_options' is only allowed when 'stream' is true）".
The requests here go through the real app (routes, error handlers) and its answer through
the console's own API client and wording."""

from __future__ import annotations

import ast
import string
from pathlib import Path
from typing import Any

import httpx
import pytest

import aigc
from aigc.console import i18n
from aigc.console.api import ApiError, _raise_for
from aigc.console.api_errors import explain_error
from aigc.console.i18n import Translator
from aigc.console.pages.knowledge_common import refusal_text
from aigc.console.problems import problem_text
from aigc.errors import InvalidRequest
from aigc.gateway.error_handlers import error_response
from aigc.gateway.response_schemas import INCLUDE_NOTHING_MORE
from aigc.gateway.routes import guard as guard_routes
from aigc.gateway.token_prompts import decode_all
from tests.templates import ECHO

pytestmark = pytest.mark.anyio

ZH, EN = Translator("zh-CN"), Translator("en")
SOURCE = Path(aigc.__file__).parent
USER = [{"role": "user", "content": "你好"}]


def _said(reply: httpx.Response) -> tuple[ApiError, str]:
    """The console API client's error for this answer, and what a Chinese page says."""
    with pytest.raises(ApiError) as refused:
        _raise_for(reply)
    error = refused.value
    assert explain_error(EN, error) == error.message  # English pages keep the API's words
    assert set(reply.json()["error"]) == {"message", "type", "param", "code"}
    return error, explain_error(ZH, error)


async def _check(api: httpx.AsyncClient, cases: list[tuple[str, dict[str, Any], str, str]]) -> None:
    for path, body, english, chinese in cases:
        reply = await api.post(path, json=body)
        assert reply.status_code == 400, (body, reply.text)
        error, said = _said(reply)
        assert (error.message, said) == (english, chinese), body


async def _echo(api: httpx.AsyncClient) -> None:
    made = await api.post("/api/models", json={"id": "template-echo", "config": {"yaml": ECHO}})
    assert made.status_code == 201, made.text


async def test_chat_refusals_are_said_in_chinese(api: httpx.AsyncClient) -> None:
    await _echo(api)
    chat, echo = "/v1/chat/completions", {"model": "template-echo", "messages": USER}
    completions = "/v1/completions"
    await _check(
        api,
        [
            (
                chat,
                echo | {"logit_bias": {"1": 2}},
                "'logit_bias' is not supported by this server yet; remove it from the request",
                "请求被拒绝（本服务器暂不支持「logit_bias」，请从请求中删除）",
            ),
            (
                completions,
                {"model": "template-echo", "prompt": "你好", "tool_choice": "auto"},
                "'tool_choice' is a chat field; use /v1/chat/completions",
                "请求被拒绝（「tool_choice」是对话接口的字段，请使用 /v1/chat/completions）",
            ),
            (
                chat,
                echo | {"stream_options": {"include_usage": True}},
                "'stream_options' is only allowed when 'stream' is true",
                "参数「stream_options」的值无效（只有当 stream 为 true 时才能使用 stream_options）",
            ),
            (
                chat,
                echo | {"top_logprobs": 2},
                "'top_logprobs' is only allowed when 'logprobs' is true",
                "参数「top_logprobs」的值无效（只有当 logprobs 为 true 时才能使用 top_logprobs）",
            ),
            (
                chat,
                echo | {"messages": [{"role": "user", "content": None}]},
                "A user message needs its 'content', which cannot be null",
                "参数「messages[0].content」的值无效（user 消息必须有 content，且不能为 null）",
            ),
            (
                chat,
                echo
                | {
                    "response_format": {
                        "type": "json_schema",
                        "json_schema": {"name": "两个 词", "schema": {"type": "object"}},
                    }
                },
                "Invalid 'response_format.json_schema.name': a name of 1 to 64 letters, digits, "
                "'_' or '-'",
                "参数「response_format.json_schema.name」的值无效（名称必须由 1 到 64 个字母、"
                "数字、“_”或“-”组成）",
            ),
            (
                chat,
                echo | {"top_k": 5},
                "'top_k' is not supported by the model 'template-echo'; remove it from the request",
                "请求被拒绝（模型「template-echo」不支持「top_k」，请从请求中删除）",
            ),
            (
                chat,
                echo | {"response_format": {"type": "json_object"}},
                "This model cannot enforce response_format while decoding; use a local neural "
                "model (gpt-, rnn-, hf-)",
                "请求被拒绝（该模型无法在解码时强制遵守 response_format；"
                "请使用本地神经网络模型（gpt-、rnn-、hf-））",
            ),
            (
                completions,
                {"model": "template-echo", "prompt": [5, 6, 7]},
                "The model 'template-echo' has no tokenizer here to read token ids; send "
                "'prompt' as text",
                "请求被拒绝（模型「template-echo」在这里没有能读取词元 ID 的分词器；"
                "请以文本形式发送「prompt」）",
            ),
            (
                chat,
                echo | {"modalities": ["text", "audio"]},
                "Only the text modality is supported",
                "请求被拒绝（只支持文本模态（text））",
            ),
            (
                chat,
                echo
                | {
                    "messages": [
                        *USER,
                        {
                            "role": "assistant",
                            "tool_calls": [
                                {
                                    "id": "call_1",
                                    "type": "function",
                                    "function": {"name": "查天气", "arguments": "{}"},
                                }
                            ],
                        },
                        {"role": "tool", "tool_call_id": "call_1", "content": "晴"},
                    ]
                },
                "'tool_calls' is not supported by the model 'template-echo'",
                "请求被拒绝（模型「template-echo」不支持「tool_calls」）",
            ),
        ],
    )


async def test_image_and_model_refusals_in_chat_are_said_in_chinese(
    api: httpx.AsyncClient,
) -> None:
    await _echo(api)
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    chat = "/v1/chat/completions"
    embedder = next(
        m["id"] for m in (await api.get("/v1/models")).json()["data"] if "embed" in str(m)
    )
    await _check(
        api,
        [
            (
                chat,
                {
                    "model": "template-echo",
                    "messages": [{"role": "system", "content": [image]}, *USER],
                },
                "Images are taken in user messages only, not in a system message",
                "请求被拒绝（只有 user 消息可以包含图片，system 消息不可以）",
            ),
            (
                chat,
                {"model": "template-echo", "messages": [{"role": "user", "content": [image]}]},
                "The model 'template-echo' does not read images; remove the image_url part at "
                "messages[0].content[0], or choose a model whose capabilities include 'vision'",
                "请求被拒绝（模型「template-echo」不能读取图片；请删除 messages[0].content[0] "
                "处的 image_url 片段，或选择能力包含 vision 的模型）",
            ),
            (
                chat,
                {"model": "template-echo", "messages": USER, "reasoning_effort": "low"},
                "'reasoning_effort' is not supported by the model 'template-echo': only upstream "
                "models (served by an OpenAI-compatible server such as vLLM or OpenAI) take it; "
                "remove it from the request or choose such a model",
                "请求被拒绝（模型「template-echo」不支持「reasoning_effort」：只有上游模型（由 "
                "vLLM、OpenAI 等 OpenAI 兼容服务提供）支持它；请从请求中删除，或换用这样的模型）",
            ),
            (
                chat,
                {"model": embedder, "messages": USER},
                f"The model '{embedder}' makes embeddings and does not write text; use it on "
                "/v1/embeddings",
                f"请求被拒绝（模型「{embedder}」用于生成向量（embeddings），不能生成文本；"
                "请在 /v1/embeddings 上使用）",
            ),
        ],
    )


async def test_responses_refusals_are_said_in_chinese(api: httpx.AsyncClient) -> None:
    await _echo(api)
    path, base = "/v1/responses", {"model": "template-echo", "input": "你好"}
    await _check(
        api,
        [
            (
                path,
                base | {"truncation": "auto"},
                "'truncation' is not supported by this server yet; remove it from the request",
                "请求被拒绝（本服务器暂不支持「truncation」，请从请求中删除）",
            ),
            (
                path,
                base | {"include": ["message.output_text.logprobs"]},
                "'include' value 'message.output_text.logprobs' is not supported by this server "
                "yet: log probabilities are not returned on /v1/responses; remove it from the "
                "request",
                "请求被拒绝（本服务器暂不支持 include 的取值「message.output_text.logprobs」："
                "/v1/responses 不返回对数概率，请从请求中删除）",
            ),
            (
                path,
                base | {"input": [{"role": "robot", "content": "你好"}]},
                "'role' is one of user, system, developer, assistant",
                "参数「input[0].role」的值无效（必须是以下之一："
                "user, system, developer, assistant）",
            ),
            (
                path,
                base | {"input": [{"type": "web_search_call"}]},
                "Input items of type 'web_search_call' are not supported by this server",
                "请求被拒绝（本服务器不支持类型为「web_search_call」的输入项）",
            ),
            (
                path,
                base | {"input": [{"role": "user", "content": 5}]},
                "'content' is a string or a list of parts",
                "参数「input[0].content」的值无效（content 必须是字符串或内容片段的列表）",
            ),
            (
                path,
                base | {"input": [{"role": "user", "content": [{"type": "input_audio"}]}]},
                "Content parts of type 'input_audio' are not supported by this server",
                "请求被拒绝（本服务器不支持类型为「input_audio」的内容片段）",
            ),
            (
                path,
                base | {"tools": [{"type": "web_search"}]},
                "Tools of type 'web_search' are not supported by this server; only 'function' "
                "tools are",
                "请求被拒绝（本服务器不支持类型为「web_search」的工具，"
                "只支持 function 类型的工具）",
            ),
            (
                path,
                base | {"text": {"format": {"type": "yaml"}}},
                "'text.format' is text, json_object or json_schema",
                "参数「text.format」的值无效（必须是以下之一：text, json_object, json_schema）",
            ),
            (
                path,
                base | {"tool_choice": {"type": "web_search"}},
                '\'tool_choice\' is none, auto, required or {"type": "function", "name": ...} '
                "(other tool types are not supported)",
                "请求被拒绝（tool_choice 必须是 none, auto, required 或 "
                '{"type": "function", "name": ...}（不支持其他工具类型））',
            ),
            (
                path,
                base | {"include": ["reasoning.everything"]},
                "Invalid value for 'include[0]': 'reasoning.everything' is not one of "
                + ", ".join((*INCLUDE_NOTHING_MORE, "message.output_text.logprobs")),
                "参数「include[0]」的值无效（必须是以下之一："
                + ", ".join((*INCLUDE_NOTHING_MORE, "message.output_text.logprobs"))
                + "）",
            ),
        ],
    )


async def test_image_route_refusals_are_said_in_chinese(api: httpx.AsyncClient) -> None:
    path = "/v1/images/generations"
    base = {"model": "gan-any", "prompt": "一只猫"}
    await _check(
        api,
        [
            (
                path,
                base | {"stream": True},
                "'stream' is not supported by /v1/images/generations (images are not streamed); "
                "remove it from the request",
                "请求被拒绝（/v1/images/generations 不支持「stream」（图片不以流式返回），"
                "请从请求中删除）",
            ),
            (
                path,
                base | {"background": "transparent"},
                "background 'transparent' is not supported: every image here is opaque; use "
                "'auto' or 'opaque', or leave it out",
                "请求被拒绝（不支持背景「transparent」：这里生成的图片都是不透明的；"
                "请使用 auto 或 opaque，或不填写此项）",
            ),
            (
                path,
                base | {"output_format": "png", "output_compression": 50},
                "'output_compression' applies to output_format jpeg or webp, not png",
                "请求被拒绝（output_compression 只适用于 output_format 为 jpeg 或 webp 的图片，"
                "不适用于 png）",
            ),
        ],
    )


async def test_guard_refusals_are_said_in_chinese(api: httpx.AsyncClient) -> None:
    await _echo(api)
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    await _check(
        api,
        [
            (
                "/v1/moderations",
                {"input": [{"type": "text", "text": "你好"}, image]},
                "Images cannot be moderated here: the built-in guard judges text only. Send the "
                "text parts alone, and moderate the image with a service that reads images",
                "请求被拒绝（这里不能审核图片：内置的安全防护只判断文字。"
                "请只发送文字部分，并用能读取图片的服务审核图片）",
            ),
            (
                "/api/watermark/detect",
                {"model": "template-echo", "text": "你好"},
                "only local neural models (gpt-, rnn-, hf-) carry the watermark",
                "请求被拒绝（只有本地神经网络模型（gpt-、rnn-、hf-）带有水印）",
            ),
        ],
    )


async def test_a_file_expiry_refusal_is_said_in_chinese(api: httpx.AsyncClient) -> None:
    reply = await api.post(
        "/v1/files",
        data={"purpose": "assistants", "expires_after[anchor]": "created_at"},
        files={"file": ("说明.txt", "你好".encode(), "text/plain")},
    )
    assert reply.status_code == 400, reply.text
    error, said = _said(reply)
    assert error.message.startswith("'expires_after' is not supported by this server yet")
    assert said == (
        "请求被拒绝（本服务器暂不支持 expires_after：文件会一直保留，直到被删除；请从请求中删除）"
    )


async def test_files_refused_in_a_multi_file_upload_are_said_by_their_rule(
    api: httpx.AsyncClient,
) -> None:
    """A multi-file upload some of whose files are taken answers 200 with each refused file's
    error in its place: it carried only the English and a code, so "不支持此文件类型。" for
    any type and the English for a name sent twice, where the one-file upload's 400 names
    the extension and the name (x-error-details)."""
    made = await api.post("/api/kb", json={"name": "上传", "dense": False})
    upload = f"/api/kb/{made.json()['id']}/documents"
    files = [
        ("files", ("制度.txt", "报销制度".encode(), "text/plain")),
        ("files", ("安装程序.exe", b"MZ\x90", "application/octet-stream")),
        ("files", ("制度.txt", "另一份".encode(), "text/plain")),
        ("files", ("空白.txt", "\u3000 \n".encode(), "text/plain")),
    ]
    reply = await api.post(upload, files=files)
    assert reply.status_code == 200, reply.text
    taken, *refused = reply.json()["data"]
    assert taken["filename"] == "制度.txt" and "id" in taken
    said = [
        refusal_text(ZH, r["error"]["message"], r["error"]["code"], 400, r["error"]["details"])
        for r in refused
    ]
    assert said == [
        "不支持「.exe」类型的文件。",
        "本次上传中已有名为「制度.txt」的文件；知识库中每个名称只保留一个文档，请只上传一次，"
        "或将其中一个改名。",
        "文件中只有空白，没有可索引的文字。",
    ]
    assert [r["error"]["details"][0]["ctx"] for r in refused[:2]] == [
        {"ext": "exe"},
        {"name": "制度.txt"},
    ]


def test_a_token_id_outside_the_vocabulary_is_said_in_chinese() -> None:
    """``decode_all``, as /v1/completions and /v1/embeddings call it for token-id prompts."""
    with pytest.raises(InvalidRequest) as refused:
        decode_all([[5, 6], [7, 50257]], 50257, str, "prompt")
    sent = error_response(refused.value)
    reply = httpx.Response(sent.status_code, headers=dict(sent.headers), content=bytes(sent.body))
    error, said = _said(reply)
    assert error.message == (
        "Invalid 'prompt[1]': token id 50257 is outside the model's vocabulary (0 to 50256)"
    )
    # an id is written as ids are, not grouped as an amount is ("词元 ID 50,257")
    assert said == "参数「prompt[1]」的值无效（词元 ID 50257 超出了模型词表的范围（0 到 50256））"


def test_identifiers_are_not_grouped_as_amounts_are() -> None:
    """A place (a YAML line) is written as it is; a limit still gets its separators."""
    line = {"loc": "yaml", "type": "yaml_syntax", "ctx": {"line": 1024, "column": 3}}
    limit = {"loc": "title", "type": "string_too_long", "ctx": {"max_length": 20000}}
    assert problem_text(ZH, line) == "YAML 格式错误（第 1024 行第 3 列附近）"
    assert problem_text(ZH, limit) == "最多 20,000 个字符"


def test_a_refusal_of_several_problems_keeps_the_api_s_words_naming_each() -> None:
    """A policy's problems (sent beside its English too) are not cut to the first one said:
    the saying of one refused value is for a refusal of that one value."""
    text = (
        "name: x\nrules:\n"
        "  - {id: a, stage: output, detector: pii, action: pseudonymize}\n"
        "  - {id: b, stage: input, detector: keywords, action: block}\n"
    )
    with pytest.raises(InvalidRequest) as refused:
        guard_routes._parse_or_400(text)
    sent = error_response(refused.value)
    reply = httpx.Response(sent.status_code, headers=dict(sent.headers), content=bytes(sent.body))
    error, said = _said(reply)
    assert len(error.details) == 2
    assert said == ZH("apierr.status.400", message=error.message)
    assert "rules.0" in said and "rules.1" in said


# --- every raising site: no refusal of these codes without its kind and values ---------------

_CODES = ("invalid_value", "unsupported_")


def _calls(name: str) -> list[tuple[str, ast.Call]]:
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                called = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if called == name:
                    found.append((f"{path.relative_to(SOURCE)}:{node.lineno}", node))
    return found


def _strings(node: ast.AST | None) -> list[str]:
    """The string constants an argument can take (``"a" if x else "b"`` gives both)."""
    return (
        [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and type(n.value) is str]
        if node is not None
        else []
    )


def test_no_value_refusal_is_raised_without_its_kind_and_values() -> None:
    """An InvalidRequest whose code is invalid_value or unsupported_… names its kind and
    values (``errors.refused_value``, or ``details=`` from a validator's problem): without
    them the console can only show the API's English inside its Chinese frame."""
    bare = []
    for where, call in _calls("InvalidRequest"):
        keywords = {k.arg: k.value for k in call.keywords}
        codes = _strings(keywords.get("code"))
        if any(c.startswith(_CODES) for c in codes) and "details" not in keywords:
            bare.append(where)
    assert bare == []
    assert len(_calls("refused_value")) >= 35  # the walk sees the sites (it read the source)


# Codes whose refusals need no kind: the request's form, not a value a person gave (the
# console's own client always sends a JSON object, a well-formed form, only fields it knows);
# what a client can do about one is in the code.
_FORM_CODES = {
    "invalid_json": "the body is not JSON",
    "invalid_body": "the body is not an object, or not the content type the route reads",
    "invalid_multipart": "the multipart body cannot be read",
    "unknown_parameter": "a field the route does not know, named as it was sent",
}


def _code_said_alone(code: str) -> bool:
    """The console says this code in its reader's language without a kind (its own sentence,
    or the parameter it names)."""
    said = f"apierr.{code}" in i18n.TABLE["en"] and not code.startswith("status.")
    return said and code != "invalid_value"  # its reason is the English, without a kind


def test_every_refusal_has_a_code_and_a_kind_the_console_can_say() -> None:
    """An InvalidRequest names its OpenAI ``code``; and its kind and values (``details``)
    unless the console says its code alone or the code is of the request's form. Without
    them a Chinese page shows the API's English: 请求被拒绝（input must hold 1 to 2048
    strings）, for POST /v1/embeddings with input []."""
    uncoded: list[str] = []
    unsaid: list[str] = []
    for where, call in _calls("InvalidRequest"):
        keywords = {k.arg: k.value for k in call.keywords}
        if "code" not in keywords:
            uncoded.append(where)
            continue
        if "details" in keywords:
            continue
        codes = _strings(keywords["code"])  # none: a code from a variable, which needs details
        if not codes or not all(_code_said_alone(c) or c in _FORM_CODES for c in codes):
            unsaid.append(where)
    assert unsaid == []
    assert uncoded == [], "an InvalidRequest without code=: use errors.refused_value"


def test_every_refusal_kind_is_said_in_both_languages_with_its_values() -> None:
    english, chinese = i18n.TABLE["en"], i18n.TABLE["zh-CN"]
    calls = _calls("refused_value")
    assert calls
    for where, call in calls:
        kinds = _strings(call.args[0]) if call.args else []
        assert kinds, where
        sent = {k.arg for k in call.keywords} - {"param", "code", None}
        if any(k.arg is None for k in call.keywords):  # **values: the names in the dict
            sent |= {
                key.value
                for k in call.keywords
                if k.arg is None
                for key in ast.walk(k.value)
                if isinstance(key, ast.Constant) and isinstance(key.value, str)
            }
        for kind in kinds:
            key = f"problem.{kind}"
            assert key in english and key in chinese, (where, kind)
            needed = {n for _, n, _, _ in string.Formatter().parse(chinese[key]) if n}
            assert needed <= sent, (where, kind, needed - sent)
