"""A file refused at upload is told in Chinese by the rule that refused it, from the type and
values the API sends beside its English (the console said "不支持此文件类型。" for every type,
and the API's English for a name used twice)."""

from __future__ import annotations

import httpx
import pytest

from aigc.console.api import ApiError, _raise_for
from aigc.console.i18n import Translator
from aigc.console.pages.knowledge_common import refusal_text
from aigc.errors import APIError, InvalidRequest
from aigc.gateway.error_handlers import error_response
from aigc.knowledge import ingest, uploads

ZH, EN = Translator("zh-CN"), Translator("en")


def _console_sees(name: str, exc: APIError) -> tuple[ApiError, str, str]:
    """The one-file upload's answer as the console's API client reads it, and what the
    upload list says in Chinese and in English."""
    sent = error_response(uploads.all_refused([uploads._refusal(name, exc)]))
    reply = httpx.Response(sent.status_code, headers=dict(sent.headers), content=bytes(sent.body))
    with pytest.raises(ApiError) as refused:
        _raise_for(reply)
    e = refused.value
    said = [refusal_text(tr, e.message, e.code, e.status, e.details) for tr in (ZH, EN)]
    return e, said[0], said[1]


def _refused_type(name: str) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as refused:
        ingest._format(name)
    return refused.value


def test_an_unsupported_type_names_its_extension() -> None:
    error, zh, en = _console_sees("安装程序.exe", _refused_type("安装程序.exe"))
    assert zh == "不支持「.exe」类型的文件。"
    assert en == error.message and "Unsupported file type '.exe'" in en  # the API's words


def test_a_format_to_save_as_another_says_which() -> None:
    _, zh, _ = _console_sees("报告.pages", _refused_type("报告.pages"))
    assert zh == "无法读取「.pages」格式：请用原软件“另存为”或“导出”为 .docx 格式后再上传。"


def test_a_name_without_extension_says_so() -> None:
    _, zh, _ = _console_sees("README", _refused_type("README"))
    assert zh == "文件名没有扩展名，无法判断文件类型。"


def test_a_name_used_twice_in_one_upload_is_named() -> None:
    with pytest.raises(InvalidRequest) as refused:
        ingest.check_new_name("年假.txt", {"年假.txt"}, "upload")
    _, zh, _ = _console_sees("年假.txt", refused.value)
    assert zh == (
        "本次上传中已有名为「年假.txt」的文件；知识库中每个名称只保留一个文档，请只上传一次，"
        "或将其中一个改名。"
    )
