"""Images in chat through a live server, sent with the official openai SDK: to an upstream
vision model (the stub checks what it receives as OpenAI documents it), to the local captioner,
and refused with a 400 for every model or image that cannot be taken.

Images given by http URL are served by a small HTTP server on 127.0.0.1, which this server's
operator opens with ``AIGC_IMAGE_FETCH_ALLOW_NETWORKS``; 127.0.0.2 stays closed, as every
other non-public address does.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import json
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import openai
import pytest
from PIL import Image

from aigc.models.image.data import ImageSet
from aigc.models.image.sampling import label_from_prompt
from aigc.models.tokens import IMAGE_TILE_TOKENS
from tests.e2e.server import Org, Server, make_org, new_admin_key
from tests.engine.stub_openai import StubServer, free_port

# The tiny captioner (a session fixture) trains in the first test's setup: minutes on a busy
# shared machine.
pytestmark = pytest.mark.timeout(900)

MAX_IMAGE_BYTES = 64 * 1024  # this server's cap, small enough to exceed cheaply
MAX_IMAGE_PIXELS = 512 * 512


def png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


def digit_png(digits: ImageSet, index: int) -> bytes:
    """A held-out digit (never trained on) as the 8×8 grey PNG a person would send."""
    return png((digits.odd().images[index, 0] * 255).astype(np.uint8))


def data_url(data: bytes, media_type: str = "image/png") -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


def noise_png(side: int) -> bytes:
    """Random pixels barely compress: about 3·side² bytes."""
    rng = np.random.default_rng(side)
    return png(rng.integers(0, 256, (side, side, 3), dtype=np.uint8))


class Pictures(http.server.BaseHTTPRequestHandler):
    """Serves ``files`` by path (bytes, content type); ``/to?URL`` redirects to URL."""

    files: ClassVar[dict[str, tuple[bytes, str]]] = {}

    def do_GET(self) -> None:
        if self.path.startswith("/to?"):
            self.send_response(302)
            self.send_header("Location", self.path.partition("?")[2])
            self.end_headers()
            return
        found = self.files.get(self.path)
        if found is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", found[1])
        self.send_header("Content-Length", str(len(found[0])))
        self.end_headers()
        self.wfile.write(found[0])

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def pictures(digits: ImageSet) -> Iterator[str]:
    jpeg = io.BytesIO()
    Image.open(io.BytesIO(digit_png(digits, 1))).save(jpeg, "JPEG")
    Pictures.files = {
        "/three.png": (digit_png(digits, 0), "image/png"),
        "/unlabelled": (jpeg.getvalue(), "application/octet-stream"),  # sniffed, not trusted
        "/page.html": (b"<html><body>not a picture</body></html>", "text/html"),
        "/big.png": (noise_png(200), "image/png"),
    }
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Pictures)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def vision_server(
    tmp_path_factory: pytest.TempPathFactory,
    model_root: Path,
    captioner_dir: Path,
    gan_dir: Path,
    stub: StubServer,
) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("vision-server") / "data"
    srv = Server(
        data,
        new_admin_key(),
        AIGC_IMPORT_ROOTS=str(model_root),
        AIGC_IMAGE_FETCH_ALLOW_NETWORKS='["127.0.0.1/32"]',
        AIGC_MAX_IMAGE_BYTES=str(MAX_IMAGE_BYTES),
        AIGC_MAX_IMAGE_PIXELS=str(MAX_IMAGE_PIXELS),
    ).start()
    models = {
        "mm-tiny-captioner": {"path": str(captioner_dir)},
        "gan-tiny": {"path": str(gan_dir)},
        "upstream-eyes": {"base_url": stub.base_url, "model": "vision", "vision": True},
        # the same upstream registered without "vision": the gateway must not send it images
        "upstream-blind": {"base_url": stub.base_url, "model": "vision"},
    }
    for name, config in models.items():
        body = {"id": name, "config": config, "shared": True}
        r = srv.api("POST", "/api/models", json=body)
        assert r.status_code == 201, r.text
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def org(vision_server: Server) -> Org:
    return make_org(vision_server, "Eyes Ltd")


def ask(url: str, question: str = "What is in this picture?", detail: str = "auto") -> list:
    parts = [
        {"type": "text", "text": question},
        {"type": "image_url", "image_url": {"url": url, "detail": detail}},
    ]
    return [{"role": "user", "content": parts}]


def seen(reply: Any) -> dict[str, Any]:
    """What the stub upstream says it received."""
    return json.loads(reply.choices[0].message.content)


def refusal(server: Server, key: str, model: str, messages: list) -> dict[str, Any]:
    """The OpenAI error envelope of a request that must be a 400."""
    with pytest.raises(openai.BadRequestError) as refused:
        server.sdk(key).chat.completions.create(model=model, messages=messages)
    assert refused.value.status_code == 400
    return refused.value.response.json()["error"]


# --- listings -------------------------------------------------------------------------------


def test_listings_say_which_models_read_images(vision_server: Server, org: Org) -> None:
    listed = {m.id: m.model_extra for m in vision_server.sdk(org.member_key).models.list()}
    assert "vision" in listed["upstream-eyes"]["capabilities"]
    assert "vision" not in listed["upstream-blind"]["capabilities"]
    assert {"chat", "vision", "image_captioning"} <= set(
        listed["mm-tiny-captioner"]["capabilities"]
    )
    assert "vision" not in listed["template-helpdesk"]["capabilities"]
    assert "vision" not in listed["gan-tiny"]["capabilities"]
    api = vision_server.api("GET", "/api/models", key=org.member_key).json()["data"]
    assert {m["id"]: m["capabilities"] for m in api}["upstream-eyes"] == sorted(
        listed["upstream-eyes"]["capabilities"]
    )


# --- an upstream vision model ----------------------------------------------------------------


def test_upstream_gets_a_data_url_image_as_openai_documents_it(
    vision_server: Server, org: Org, digits: ImageSet
) -> None:
    picture = digit_png(digits, 2)
    c = vision_server.sdk(org.member_key)
    reply = c.chat.completions.create(
        model="upstream-eyes",
        messages=[
            {"role": "system", "content": "You describe images."},
            *ask(data_url(picture), "What digit is this?", detail="low"),
        ],
    )
    got = seen(reply)
    assert got["texts"] == ["You describe images.", "What digit is this?"]
    assert got["images"] == [
        {
            "media_type": "image/png",
            "detail": "low",
            "width": 8,
            "height": 8,
            "sha256": hashlib.sha256(picture).hexdigest(),
        }
    ]
    streamed = c.chat.completions.create(
        model="upstream-eyes", messages=ask(data_url(picture)), stream=True
    )
    text = "".join(ch.choices[0].delta.content or "" for ch in streamed if ch.choices)
    assert json.loads(text)["images"][0]["sha256"] == hashlib.sha256(picture).hexdigest()


def test_upstream_gets_an_image_fetched_from_an_http_url(
    vision_server: Server, org: Org, pictures: str
) -> None:
    c = vision_server.sdk(org.member_key)
    served = {path: data for path, (data, _) in Pictures.files.items()}
    got = seen(
        c.chat.completions.create(model="upstream-eyes", messages=ask(f"{pictures}/three.png"))
    )
    assert got["images"][0]["sha256"] == hashlib.sha256(served["/three.png"]).hexdigest()
    # served as application/octet-stream: the bytes say JPEG, and that is what goes upstream
    got = seen(
        c.chat.completions.create(model="upstream-eyes", messages=ask(f"{pictures}/unlabelled"))
    )
    assert got["images"][0]["media_type"] == "image/jpeg"
    assert got["images"][0]["sha256"] == hashlib.sha256(served["/unlabelled"]).hexdigest()


def test_usage_counts_each_image_by_its_detail(
    vision_server: Server, org: Org, digits: ImageSet
) -> None:
    c = vision_server.sdk(org.member_key)
    url = data_url(digit_png(digits, 3))
    low = c.chat.completions.create(model="upstream-eyes", messages=ask(url, detail="low"))
    high = c.chat.completions.create(model="upstream-eyes", messages=ask(url, detail="high"))
    assert low.usage is not None and high.usage is not None
    # the same text and the same one-tile image: high detail adds that tile
    assert high.usage.prompt_tokens - low.usage.prompt_tokens == IMAGE_TILE_TOKENS


def test_the_guard_reads_the_text_parts_and_the_audit_counts_the_images(
    vision_server: Server, org: Org, digits: ImageSet
) -> None:
    secret = "Tr0ub4dor-" + secrets.token_hex(4)
    pictures = [data_url(digit_png(digits, i)) for i in (4, 5)]
    parts: list[dict[str, Any]] = [{"type": "text", "text": f"My password is {secret}."}]
    parts += [{"type": "image_url", "image_url": {"url": u}} for u in pictures]
    reply = vision_server.sdk(org.member_key).chat.completions.with_raw_response.create(
        model="upstream-eyes", messages=[{"role": "user", "content": parts}]
    )
    got = json.loads(reply.parse().choices[0].message.content or "")
    assert len(got["images"]) == 2
    assert secret not in got["texts"][0]  # the default policy's secrets rule redacted it
    assert "input:secrets:redact:SECRET" in reply.parse().model_extra["guard"]
    request_id = reply.headers["x-request-id"]
    rows = vision_server.api("GET", "/api/audit?limit=200", key=org.admin_key).json()["data"]
    row = next(r for r in rows if r["request_id"] == request_id)
    assert row["images"] == 2
    assert all(r["images"] == 0 for r in rows if r["endpoint"] != "/v1/chat/completions")
    stored = b"".join(p.read_bytes() for p in vision_server.data_dir.glob("aigc.db*"))
    assert pictures[0].split(",")[1].encode() not in stored  # never the image itself
    verify = vision_server.api("GET", "/api/audit/verify").json()
    assert verify["ok"], verify


# --- the local captioner --------------------------------------------------------------------


def test_the_captioner_says_what_digit_an_image_shows(
    vision_server: Server, org: Org, digits: ImageSet
) -> None:
    c = vision_server.sdk(org.member_key)
    held_out = digits.odd()
    named = []
    for i in range(20):
        picture = digit_png(digits, i)
        answer = (
            c.chat.completions.create(
                model="mm-tiny-captioner", messages=ask(data_url(picture), "What digit is this?")
            )
            .choices[0]
            .message.content
        )
        direct = vision_server.api(
            "POST",
            "/api/images/caption",
            key=org.member_key,
            json={"model": "mm-tiny-captioner", "image": base64.b64encode(picture).decode()},
        ).json()["caption"]
        assert answer == direct  # the chat path hands the model the same pixels
        named.append(label_from_prompt(answer or "", held_out.classes) == held_out.labels[i])
    assert np.mean(named) >= 0.6  # a tiny run; bench/ measures the real models
    zh = (
        c.chat.completions.create(
            model="mm-tiny-captioner", messages=ask(data_url(digit_png(digits, 0)), "这是几？")
        )
        .choices[0]
        .message.content
    )
    assert zh and any("\u4e00" <= ch <= "\u9fff" for ch in zh)


def test_the_captioner_captions_each_image_of_a_message(
    vision_server: Server, org: Org, digits: ImageSet
) -> None:
    c = vision_server.sdk(org.member_key)
    urls = [data_url(digit_png(digits, i)) for i in (6, 7, 8)]
    alone = [
        c.chat.completions.create(model="mm-tiny-captioner", messages=ask(u)).choices[0]
        for u in urls
    ]
    parts = [{"type": "image_url", "image_url": {"url": u}} for u in urls]
    together = c.chat.completions.create(
        model="mm-tiny-captioner", messages=[{"role": "user", "content": parts}], stream=True
    )
    text = "".join(ch.choices[0].delta.content or "" for ch in together if ch.choices)
    assert text.splitlines() == [
        f"Image {i}: {a.message.content}" for i, a in enumerate(alone, start=1)
    ]


def test_the_captioner_needs_an_image(vision_server: Server, org: Org) -> None:
    error = refusal(
        vision_server,
        org.member_key,
        "mm-tiny-captioner",
        [{"role": "user", "content": "What digit is this?"}],
    )
    assert (error["param"], error["code"]) == ("messages", "image_required")
    assert "mm-tiny-captioner" in error["message"]


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["template-helpdesk", "upstream-blind"])
def test_a_model_without_vision_is_a_400_naming_it_and_the_part(
    vision_server: Server, org: Org, digits: ImageSet, stub: StubServer, model: str
) -> None:
    calls = len(stub.calls)
    error = refusal(vision_server, org.member_key, model, ask(data_url(digit_png(digits, 0))))
    assert error["param"] == "messages[0].content[1]"
    assert error["code"] == "unsupported_content"
    assert f"'{model}'" in error["message"] and "vision" in error["message"]
    assert len(stub.calls) == calls  # nothing was sent upstream


def test_an_image_model_in_chat_is_a_400(vision_server: Server, org: Org) -> None:
    error = refusal(vision_server, org.member_key, "gan-tiny", [{"role": "user", "content": "hi"}])
    assert (error["param"], error["code"]) == ("model", "unsupported_model")


def _cases(pictures: str, digits: ImageSet) -> dict[str, tuple[list, str, str, str]]:
    """name → (messages, param, code, words the message must hold)."""
    part = "messages[0].content[1]"
    url = f"{part}.image_url.url"
    huge = png(np.zeros((MAX_IMAGE_PIXELS // 256 + 1, 256), dtype=np.uint8))  # tiny file
    bmp = io.BytesIO()
    Image.open(io.BytesIO(digit_png(digits, 0))).save(bmp, "BMP")
    closed = f"http://127.0.0.1:{free_port()}/x.png"  # nothing listens there
    port = pictures.rsplit(":", 1)[1]
    return {
        "not base64": (ask("data:image/png;base64,@@@"), url, "invalid_image_url", "base64"),
        "not an image data URL": (
            ask(data_url(b"hello", "text/plain")),
            url,
            "invalid_image_format",
            "text/plain",
        ),
        "a BMP": (
            ask(data_url(bmp.getvalue(), "image/bmp")),
            f"{part}.image_url",
            "invalid_image_format",
            "PNG, JPEG, WebP or GIF",
        ),
        "damaged": (
            ask(data_url(digit_png(digits, 0)[:60])),
            f"{part}.image_url",
            "invalid_image",
            "damaged PNG",
        ),
        "too many bytes": (
            ask(data_url(noise_png(200))),
            url,
            "image_too_large",
            str(MAX_IMAGE_BYTES),
        ),
        "too many pixels": (ask(data_url(huge)), f"{part}.image_url", "image_too_large", "pixels"),
        "too many bytes by URL": (
            ask(f"{pictures}/big.png"),
            url,
            "image_too_large",
            str(MAX_IMAGE_BYTES),
        ),
        "a web page by URL": (
            ask(f"{pictures}/page.html"),
            f"{part}.image_url",
            "invalid_image_format",
            "PNG",
        ),
        "missing": (ask(f"{pictures}/nothing.png"), url, "invalid_image_url", "HTTP 404"),
        "unreachable": (ask(closed), url, "invalid_image_url", "could not be fetched"),
        "loopback not opened": (
            ask(f"http://127.0.0.2:{port}/three.png"),
            url,
            "invalid_image_url",
            "not public",
        ),
        "cloud metadata": (
            ask("http://169.254.169.254/latest/meta-data"),
            url,
            "invalid_image_url",
            "not public",
        ),
        "redirected inside": (
            ask(f"{pictures}/to?http://10.0.0.1/secret.png"),
            url,
            "invalid_image_url",
            "not public",
        ),
        "another scheme": (ask("file:///etc/passwd"), url, "invalid_image_url", "http(s)"),
        "in a system message": (
            [
                {
                    "role": "system",
                    "content": [{"type": "image_url", "image_url": {"url": data_url(b"x")}}],
                },
                {"role": "user", "content": "hi"},
            ],
            "messages[0].content[0]",
            "unsupported_content",
            "user messages",
        ),
        "without its image_url": (
            [{"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url"}]}],
            f"{part}.image_url",
            "missing_required_parameter",
            "image_url",
        ),
        "without a url": (
            [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "hi"},
                        {"type": "image_url", "image_url": {"detail": "low"}},
                    ],
                }
            ],
            url,
            "missing_required_parameter",
            "url",
        ),
    }


CASES = [
    "not base64",
    "not an image data URL",
    "a BMP",
    "damaged",
    "too many bytes",
    "too many pixels",
    "too many bytes by URL",
    "a web page by URL",
    "missing",
    "unreachable",
    "loopback not opened",
    "cloud metadata",
    "redirected inside",
    "another scheme",
    "in a system message",
    "without its image_url",
    "without a url",
]


@pytest.mark.parametrize("case", CASES)
def test_a_bad_image_is_a_400_that_says_why(
    vision_server: Server, org: Org, pictures: str, digits: ImageSet, case: str
) -> None:
    messages, param, code, words = _cases(pictures, digits)[case]
    error = refusal(vision_server, org.member_key, "upstream-eyes", messages)
    assert (error["param"], error["code"]) == (param, code), error
    assert words in error["message"], error


def test_images_are_counted_against_the_request(
    vision_server: Server, org: Org, digits: ImageSet
) -> None:
    one = {"type": "image_url", "image_url": {"url": data_url(digit_png(digits, 0))}}
    messages = [{"role": "user", "content": [one] * 17}]  # the default cap is 16
    error = refusal(vision_server, org.member_key, "upstream-eyes", messages)
    assert (error["param"], error["code"]) == ("messages", "array_above_max_length")
