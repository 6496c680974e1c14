"""Images in chat as plain function calls: the parts found in a body, one byte budget for all
of them, each message given its own images, the guard keeping them while it rewrites text,
and a text-only model refused before anything is fetched."""

from __future__ import annotations

import asyncio
import base64
import http.server
import io
import threading
import time
from pathlib import Path

import pytest
from fastapi.exceptions import RequestValidationError
from PIL import Image
from pydantic import ValidationError

from aigc.app import build_services
from aigc.config import Settings
from aigc.errors import InvalidRequest
from aigc.gateway import pipeline, vision
from aigc.gateway.context import RequestRecord
from aigc.gateway.error_handlers import validation_error
from aigc.gateway.schemas import ChatCompletionRequest
from aigc.guard.gate import guard_input
from aigc.guard.policy import DEFAULT_POLICY
from aigc.models.image.inputs import checked_image
from aigc.models.text.template import load as load_template
from aigc.models.tokens import image_tokens
from tests.engine.stub_openai import free_port


def png(side: int, colour: str = "white") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (side, side), colour).save(buf, "PNG")
    return buf.getvalue()


def url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def image(link: str, detail: str = "auto") -> dict:
    return {"type": "image_url", "image_url": {"url": link, "detail": detail}}


def body(*messages: dict, n: int = 1) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate({"model": "m", "messages": messages, "n": n})


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path)


def test_image_parts_are_found_in_order_in_user_messages_only() -> None:
    chat = body(
        {"role": "system", "content": "Look closely."},
        {"role": "user", "content": [{"type": "text", "text": "a"}, image("data:1", "low")]},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [image("https://img.example/2.png"), image("data:3")]},
    )
    parts = vision.image_parts(chat, max_images=3)
    assert [(p.param, p.url, p.detail) for p in parts] == [
        ("messages[1].content[1]", "data:1", "low"),
        ("messages[3].content[0]", "https://img.example/2.png", "auto"),
        ("messages[3].content[1]", "data:3", "auto"),
    ]
    with pytest.raises(InvalidRequest) as too_many:
        vision.image_parts(chat, max_images=2)
    assert (too_many.value.param, too_many.value.code) == ("messages", "array_above_max_length")
    assistant = body({"role": "assistant", "content": [image("data:1")]})
    with pytest.raises(InvalidRequest) as misplaced:
        vision.image_parts(assistant, max_images=3)
    assert misplaced.value.param == "messages[0].content[0]"


def test_all_images_of_a_request_share_one_byte_budget(settings: Settings) -> None:
    first, second = png(40), png(40, "red")
    settings.max_image_bytes = len(first) + len(second) - 1
    parts = vision.image_parts(
        body({"role": "user", "content": [image(url(first)), image(url(second))]}), 10
    )
    with pytest.raises(InvalidRequest) as over:
        vision.load_images(parts, settings)
    assert over.value.param == "messages[0].content[1].image_url.url"  # the one that went over
    assert over.value.code == "image_too_large"
    settings.max_image_bytes += 1
    assert [i.data for i in vision.load_images(parts, settings)] == [first, second]


def test_an_image_url_urlsplit_cannot_read_is_a_400(settings: Settings) -> None:
    """Reading the scheme of such a URL raised ValueError: a 500 for a vision model."""
    parts = vision.image_parts(body({"role": "user", "content": [image("http://[x]/a.png")]}), 1)
    with pytest.raises(InvalidRequest) as refused:
        vision.load_images(parts, settings)
    assert refused.value.param == "messages[0].content[0].image_url.url"


def test_each_message_of_each_choice_gets_its_own_images(settings: Settings) -> None:
    chat = body(
        {"role": "user", "content": [image(url(png(8)))]},
        {"role": "assistant", "content": "a white square"},
        {"role": "user", "content": [{"type": "text", "text": "and this?"}, image(url(png(9)))]},
        n=2,
    )
    parts = vision.image_parts(chat, 10)
    requests = pipeline.to_text_requests(chat, 16)
    given = vision.attach(requests, parts, vision.load_images(parts, settings))
    assert len(given) == 2
    for request in given:
        assert request.messages is not None
        assert [[i.width for i in m.images] for m in request.messages] == [[8], [], [9]]
        assert request.messages[2].content == "and this?"
    assert requests[0].messages is not None and not requests[0].messages[0].images  # a copy


def test_the_guard_rewrites_the_text_and_keeps_the_images() -> None:
    pictured = checked_image(png(8), 64)
    chat = body({"role": "user", "content": [{"type": "text", "text": "password: hunter2-Zebra"}]})
    request = pipeline.to_text_requests(chat, 16)
    with_image = vision.attach(request, [vision.ImagePart(0, 1)], [pictured])
    codes: list[str] = []
    guarded, _ = guard_input([DEFAULT_POLICY], "m", None, with_image, codes)
    message = guarded[0].messages[0]  # type: ignore[index]
    assert "hunter2-Zebra" not in message.content and codes  # redacted: the guard read it
    assert message.images == (pictured,)


def test_a_text_only_model_is_refused_before_anything_is_fetched(settings: Settings) -> None:
    template = load_template({"path": "builtin:helpdesk"})
    closed = f"http://127.0.0.1:{free_port()}/x.png"  # a fetch would fail differently
    chat = body({"role": "user", "content": [{"type": "text", "text": "hi"}, image(closed)]})
    checked = pipeline.Checked(
        pipeline.to_text_requests(chat, 16), 16, 2, None, vision.image_parts(chat, 10)
    )

    services = build_services(settings)
    record = RequestRecord("req-1")
    with pytest.raises(InvalidRequest) as refused:
        asyncio.run(pipeline.take_images(services, "template-helpdesk", template, checked, record))
    services.db.dispose()
    assert refused.value.code == "unsupported_content"
    assert "'template-helpdesk'" in str(refused.value) and record.images == 0


def test_images_count_in_the_prompt_tokens(settings: Settings) -> None:
    template = load_template({"path": "builtin:helpdesk"})
    chat = body(
        {"role": "user", "content": [{"type": "text", "text": "hi"}, image(url(png(600)), "high")]}
    )
    parts = vision.image_parts(chat, 10)
    request = vision.attach(
        pipeline.to_text_requests(chat, 16), parts, vision.load_images(parts, settings)
    )[0]
    text_only = pipeline.to_text_requests(chat, 16)[0]
    assert pipeline.count_prompt_tokens(template, request) == pipeline.count_prompt_tokens(
        template, text_only
    ) + image_tokens(600, 600, "high")


@pytest.mark.parametrize(
    ("part", "param"),
    [
        (
            {"type": "image_url", "image_url": {"detail": "low"}},
            "messages[0].content[0].image_url.url",
        ),
        (
            {"type": "image_url", "image_url": {"url": "data:x", "detail": "max"}},
            "messages[0].content[0].image_url.detail",
        ),
    ],
)
def test_a_malformed_part_is_named_by_its_own_path(part: dict, param: str) -> None:
    with pytest.raises(ValidationError) as invalid:
        body({"role": "user", "content": [part]})
    error = validation_error(RequestValidationError(invalid.value.errors()))
    assert error.param == param


class _Slow(http.server.BaseHTTPRequestHandler):
    """Answers every GET with a small PNG after ``delay_s``."""

    delay_s = 0.6

    def do_GET(self) -> None:
        time.sleep(self.delay_s)
        body = png(8)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_the_fetches_of_a_request_share_one_deadline(settings: Settings) -> None:
    """Three images that each arrive well within the limit, but not all three together."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    settings.image_fetch_allow_networks = ["127.0.0.1/32"]
    settings.image_fetch_timeout_s = 2.5 * _Slow.delay_s
    link = f"http://127.0.0.1:{httpd.server_address[1]}/slow.png"
    try:
        one = vision.image_parts(body({"role": "user", "content": [image(link)]}), 10)
        assert vision.load_images(one, settings)[0].width == 8
        three = vision.image_parts(body({"role": "user", "content": [image(link)] * 3}), 10)
        with pytest.raises(InvalidRequest) as late:
            vision.load_images(three, settings)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert late.value.code == "invalid_image_url"
    assert "longer than" in str(late.value)
