"""Images attached on the Chat page, in a real browser: picked with the attach button, shown
and removable before sending, sent through /v1/chat/completions as OpenAI ``image_url`` parts,
shown in the conversation, and kept as previews when it is reopened. A model that does not read
images is refused on the page in the person's language, and so is a file that is not an image.

The vision model is an upstream (the stub, on loopback) registered with ``vision: true``: its
answer describes what it received, each image by the SHA-256 of its bytes.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from PIL import Image
from playwright.sync_api import expect

from aigc.console.api import ApiError, _raise_for
from aigc.console.api_errors import explain_error
from aigc.console.i18n import Translator
from tests.e2e.console.conftest import add_user, shot
from tests.e2e.console.sessions import sign_in
from tests.e2e.server import Org, Server
from tests.engine.stub_openai import StubServer

# A file name a person may well have, and one that tries to become markup and a Vue prop.
KEPT_NAME = '收据 "March" <b>.png'
DROPPED_NAME = 'x" :data-x="alert(1)" <img src=x onerror=alert(2)>.jpg'


def _png(color: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def _jpeg(color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 20), color).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def models(server: Server) -> Iterator[dict[str, str]]:
    """A model that reads images and one that does not, both the stub behind the gateway."""
    with StubServer() as stub:
        yield {
            "eyes": stub.register(server, model="vision", vision=True),
            "blind": stub.register(server, model="echo"),
        }


def _pick(page: Any, option: str) -> None:
    page.get_by_test_id("chat-model").click()
    page.get_by_role("option", name=option, exact=True).click()


def _attach(page: Any, button: str, files: list[tuple[str, str, bytes]]) -> None:
    """Choose ``files`` (name, type, bytes) in the picker the attach button opens."""
    with page.expect_file_chooser() as chosen:
        page.get_by_role("button", name=button).click()
    chosen.value.set_files([{"name": n, "mimeType": t, "buffer": b} for n, t, b in files])


def test_an_attached_image_is_sent_answered_and_kept(
    new_page: Any, server: Server, console_org: Org, models: dict[str, str]
) -> None:
    member = add_user(server, console_org, "member")
    page = new_page(member)
    _pick(page, models["eyes"])
    kept, dropped = _png((200, 30, 30)), _jpeg((20, 20, 220))
    _attach(
        page,
        "Attach images",
        [(KEPT_NAME, "image/png", kept), (DROPPED_NAME, "image/jpeg", dropped)],
    )
    waiting = page.get_by_test_id("chat-attachment-image")
    page.wait_for_function("() => document.querySelectorAll('.aigc-thumb').length === 2")
    assert [waiting.nth(i).get_attribute("alt") for i in range(2)] == [KEPT_NAME, DROPPED_NAME]
    page.get_by_role("button", name=f"Remove {DROPPED_NAME}").click()
    page.wait_for_function("() => document.querySelectorAll('.aigc-thumb').length === 1")
    assert page.locator("[data-x]").count() == 0  # the name stayed a name
    page.get_by_test_id("chat-input").fill("What colour is this receipt?")
    page.get_by_test_id("chat-send").click()

    page.get_by_test_id("chat-thumb-up").first.wait_for()  # answered
    seen = json.loads(page.get_by_test_id("chat-answer").first.inner_text())
    assert seen["texts"] == ["What colour is this receipt?"]
    assert [i["sha256"] for i in seen["images"]] == [hashlib.sha256(kept).hexdigest()]
    assert seen["images"][0]["media_type"] == "image/png"
    question = page.get_by_test_id("chat-question-image")
    assert question.count() == 1
    assert question.get_attribute("alt") == f"Image {KEPT_NAME}"
    assert page.get_by_test_id("chat-attachment-image").count() == 0  # sent: the tray is empty
    shot(page, "console-chat-image")
    # A later question in this page carries the earlier image again, as OpenAI's clients do.
    page.get_by_test_id("chat-input").fill("And the border?")
    page.get_by_test_id("chat-send").click()
    page.get_by_test_id("chat-thumb-up").nth(1).wait_for()
    again = json.loads(page.get_by_test_id("chat-answer").nth(1).inner_text())
    assert again["texts"][-1] == "And the border?"
    assert [i["sha256"] for i in again["images"]] == [hashlib.sha256(kept).hexdigest()]

    # Stored: the message keeps a small preview and the name, not the image itself.
    conversation = parse_qs(urlsplit(page.url).query)["conversation"][0]
    secret = sign_in(server, member)
    stored = server.api("GET", f"/api/conversations/{conversation}", key=secret).json()
    image = stored["messages"][0]["meta"]["images"][0]
    assert image["name"] == KEPT_NAME and (image["width"], image["height"]) == (40, 30)
    assert image["thumb"].startswith("data:image/webp;base64,") and len(image["thumb"]) < 6_100

    # Reopened (a reload of the conversation's address): the preview is in the history.
    page.reload()
    page.get_by_test_id("chat-question-image").wait_for()
    assert page.get_by_test_id("chat-question-image").get_attribute("alt") == f"Image {KEPT_NAME}"
    assert page.get_by_test_id("chat-question").first.inner_text() == (
        "What colour is this receipt?"
    )


def test_a_model_that_reads_no_images_is_refused_in_the_persons_language(
    new_page: Any, server: Server, console_org: Org, models: dict[str, str]
) -> None:
    member = add_user(server, console_org, "member")
    page = new_page(member, lang="zh-CN")
    _pick(page, models["blind"])
    # A file of another type is refused as it is chosen; one that only says it is an image
    # is refused by what it is.
    _attach(page, "添加图片", [("笔记.txt", "text/plain", "你好".encode())])
    alert = page.get_by_test_id("chat-attach-alert")
    expect(alert).to_have_text("只能添加不超过 6.1 MB 的 PNG、JPEG、WebP 或 GIF 图片。")
    _attach(page, "添加图片", [("截图.png", "image/png", b"not an image at all")])
    alert.filter(has_text="截图.png 不是 PNG、JPEG、WebP 或 GIF 图片。").wait_for()
    _attach(page, "添加图片", [("照片.png", "image/png", _png((0, 160, 0)))])
    page.get_by_test_id("chat-attachment-image").wait_for()
    page.get_by_test_id("chat-input").fill("这是什么？")
    page.get_by_test_id("chat-send").click()
    said = f"模型 {models['blind']} 无法读取图片。请选择能读取图片的模型，或移除这些图片。"
    alert.filter(has_text=said).wait_for()
    # Nothing was sent: no conversation, the message and its image still wait.
    assert page.get_by_test_id("conv-item").count() == 0
    assert page.get_by_test_id("chat-input").input_value() == "这是什么？"
    assert page.get_by_test_id("chat-attachment-image").count() == 1
    shot(page, "console-chat-image-refused-zh")
    # Said on choosing the model too, and gone for one that reads images.
    _pick(page, models["eyes"])
    expect(alert).to_be_hidden()
    _pick(page, models["blind"])
    expect(alert).to_have_text(said)
    # Removing the image lets the same message go to this model.
    page.get_by_role("button", name="移除 照片.png").click()
    page.get_by_test_id("chat-send").click()
    page.get_by_test_id("chat-thumb-up").first.wait_for()
    assert page.get_by_test_id("chat-question-image").count() == 0


def test_the_gateways_refusal_of_an_image_reads_in_chinese(
    server: Server, console_org: Org, models: dict[str, str]
) -> None:
    """What the page shows when the gateway itself refuses the image (the page's list of models
    out of date): its 400, said as a sentence in the person's language, with no trace."""
    member = add_user(server, console_org, "member")
    secret = sign_in(server, member)
    url = "data:image/png;base64," + base64.b64encode(_png((1, 2, 3))).decode()
    body = {
        "model": models["blind"],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "这是什么？"},
                    {"type": "image_url", "image_url": {"url": url}},
                ],
            }
        ],
    }
    answer = server.api("POST", "/v1/chat/completions", key=secret, json=body)
    assert answer.status_code == 400, answer.text
    reply = httpx.Response(400, headers=dict(answer.headers), content=answer.content)
    with pytest.raises(ApiError) as refused:
        _raise_for(reply)
    said = explain_error(Translator("zh-CN"), refused.value)
    # the refusal's own reason (which model, which part) over the code's general sentence
    assert said.startswith("请求被拒绝（"), said
    assert f"模型「{models['blind']}」不能读取图片" in said, said
    assert "does not read images" in explain_error(Translator("en"), refused.value)
