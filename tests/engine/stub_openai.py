"""A small OpenAI-compatible server to stand as an upstream in tests and benchmarks.

Its behaviour is chosen by the requested model name:

    echo / any other   answers at once; streams 20 chunks "w0 " … "w19 " (chat or completions)
    slow               the same, 20 ms between chunks (a stream that really trickles)
    flaky-N            the first N requests answer 500, then like echo
    busy-N             the first N requests answer 429, then like echo
    down               always 503
    late-MS            waits MS milliseconds before answering, then like echo
    redirect           307 to ``REDIRECT_TO`` (for redirect checks)
    leaky-S            HTTP S (e.g. 500, 400) with an error body holding ``LEAKED``
    midfail            streams two chunks, then an error event holding ``LEAKED``
    cite-N             answers "From the documents: it is there [N]." in small pieces, the
                       marker split across two chunks ("[", "N]."): a model citing source N
    citecall-N         the same words, then the tool calls ``stub_tools`` decides (a model
                       that says something before calling a tool, as many do)
    quote              answers the text of the first numbered source of its system message
                       (grounded chat), without any [n] marker: a model that cites nothing
    vision             checks every message's content as OpenAI documents it (a string, or
                       text and ``image_url`` parts whose url is a base64 data URL of the image
                       type it names); a 400 naming what is wrong, else answers (streamed in
                       one chunk) a JSON description of what it got: ``describe_content``
    think              a reasoning model, as vLLM serves one: before its answer it thinks
                       (``reasoning_content``, on the message or in the first deltas) "Thinking
                       at <reasoning_effort> effort about: <the last message>. "
    endless            streams one line of 32 MB (``app.state.sent`` counts what went out)
    garbage-utf8       streams one event of bytes that are not UTF-8 (``garbage-json``: no JSON)
    forged-MODE        streams like echo, with ``logprobs`` a hostile upstream might send
                       (``forged_logprobs``): tokens that spell other text than the answer,
                       wrong types, non-finite numbers, thousands of alternatives

Chat requests with ``tools`` or tool results are answered as ``stub_tools`` decides (tool calls
in OpenAI's shapes, plain and streamed); a tool message that answers no call is a 400, as at
OpenAI; with no call, a ``response_format`` shapes the answer as a model enforcing it would.
``stream_options.include_usage`` adds OpenAI's usage chunk; ``logprobs`` gives each streamed
chunk one token's (``token_logprobs``).

Every request is recorded (model, Authorization header; the body in ``bodies``) so tests can
count calls and see what the upstream was sent.
Run standalone: ``python -m tests.engine.stub_openai --port 9001``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import hashlib
import io
import json
import secrets
import socket
import threading
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from PIL import Image

from tests.engine import stub_tools

if TYPE_CHECKING:
    from tests.e2e.server import Server

CHUNKS = 20
REDIRECT_TO = "http://169.254.169.254/latest/meta-data"
LEAKED = "internal-db-password=stub-s3cr3t-4f1c"  # must never reach a caller


def words() -> list[str]:
    return [f"w{i} " for i in range(CHUNKS)]


IMAGE_TYPES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP", "image/gif": "GIF"}
DETAILS = ("auto", "low", "high")


class ContentError(ValueError):
    """A message's content is not what OpenAI's chat API documents."""


def describe_content(messages: Any) -> dict[str, Any]:
    """What a vision model would see in ``messages``: every text, and every image decoded
    (type, size, detail, SHA-256 of its bytes). Raises ContentError on anything off-spec."""
    if not isinstance(messages, list):
        raise ContentError("messages must be a list")
    texts: list[str] = []
    images: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            texts.append(content)
            continue
        if not isinstance(content, list) or not content:
            raise ContentError(f"messages[{i}].content must be a string or a list of parts")
        for j, part in enumerate(content):
            where = f"messages[{i}].content[{j}]"
            kind = part.get("type") if isinstance(part, dict) else None
            if (
                kind == "text"
                and isinstance(part.get("text"), str)
                and set(part)
                == {
                    "type",
                    "text",
                }
            ):
                texts.append(part["text"])
            elif kind == "image_url" and set(part) == {"type", "image_url"}:
                if message.get("role") != "user":
                    raise ContentError(f"{where}: images belong in user messages")
                images.append(_image(part["image_url"], where))
            else:
                raise ContentError(f"{where} is not a text or image_url part: {part!r:.200}")
    return {"texts": texts, "images": images}


def _image(image_url: Any, where: str) -> dict[str, Any]:
    if not isinstance(image_url, dict) or not isinstance(image_url.get("url"), str):
        raise ContentError(f"{where}.image_url must be an object with a url")
    if not set(image_url) <= {"url", "detail"} or image_url.get("detail", "auto") not in DETAILS:
        raise ContentError(f"{where}.image_url has unknown keys or detail")
    head, _, data = image_url["url"].partition(",")
    media_type = head.removeprefix("data:").removesuffix(";base64")
    if (
        not head.startswith("data:")
        or not head.endswith(";base64")
        or media_type not in IMAGE_TYPES
    ):
        raise ContentError(f"{where}.image_url.url is not a base64 image data URL")
    try:
        raw = base64.b64decode(data, validate=True)
        img = Image.open(io.BytesIO(raw))
        img.load()
    except (binascii.Error, ValueError, OSError) as exc:
        raise ContentError(f"{where}.image_url.url does not decode as an image: {exc}") from None
    if img.format != IMAGE_TYPES[media_type]:
        raise ContentError(f"{where}: the data URL says {media_type}, the bytes are {img.format}")
    return {
        "media_type": media_type,
        "detail": image_url.get("detail", "auto"),
        "width": img.width,
        "height": img.height,
        "sha256": hashlib.sha256(raw).hexdigest(),
    }


def quoted_source(messages: list[dict[str, Any]]) -> str:
    """The text of source [1] in a grounded system message ("[1] (file)\ntext\n\n[2] ...")."""
    system = next((m.get("content") for m in messages if m.get("role") == "system"), None)
    if not isinstance(system, str) or "\n[1] (" not in system:
        return "No sources."
    first = system.split("\n[1] (", 1)[1].split("\n", 1)[1]
    return first.split("\n\n[2] (", 1)[0].strip()


def token_logprobs(delta: Any, i: int, body: dict[str, Any], chat: bool) -> dict[str, Any]:
    """OpenAI's ``logprobs`` of one streamed chunk, its text one token of log probability
    ``-(i + 1) / 10``, the alternatives asked for (``top_logprobs`` on chat, ``logprobs`` on
    completions) that same token and then "alt1", "alt2"..."""
    text = (delta.get("content") or "") if chat else delta
    value = -(i + 1) / 10
    asked = int(body.get("top_logprobs") or 0) if chat else int(body["logprobs"])
    top = [(text, value)] + [(f"alt{k}", value - k) for k in range(1, asked)]
    if not chat:
        return {
            "tokens": [text],
            "token_logprobs": [value],
            "top_logprobs": [dict(top[:asked])],
            "text_offset": [0],
        }
    alternatives = [{"token": t, "logprob": v, "bytes": list(t.encode())} for t, v in top]
    entry = {"token": text, "logprob": value, "bytes": list(text.encode())}
    return {"content": [entry | {"top_logprobs": alternatives[:asked]}], "refusal": None}


FORGED_TOKEN = "Project Falcon "  # a forged upstream's tokens say it; its text never does


def forged_logprobs(mode: str, delta: Any, chat: bool) -> Any:
    """A hostile upstream's ``logprobs`` of one chunk (``forged-MODE``): ``spell`` tokens that
    spell ``FORGED_TOKEN`` instead of the chunk's text; ``alt`` the text's own tokens with
    ``FORGED_TOKEN`` among their alternatives; ``types`` values of the wrong JSON
    types; ``nan`` log probabilities that are NaN, infinite or a 400-digit integer; ``wide``
    a thousand alternatives of 300 bytes each."""
    text = (delta.get("content") or "") if chat else delta
    if mode == "spell":
        entry = {"token": FORGED_TOKEN, "logprob": -0.1, "bytes": list(FORGED_TOKEN.encode())}
        top = [{"token": FORGED_TOKEN, "logprob": -0.1}]
        if not chat:
            return {"tokens": [FORGED_TOKEN], "token_logprobs": [-0.1], "top_logprobs": [{}]}
        return {"content": [entry | {"top_logprobs": top}]}
    if mode == "alt":  # the text's own token, the forged one among its alternatives
        entry = {"token": text, "logprob": -0.1, "bytes": list(text.encode())}
        top = [{"token": FORGED_TOKEN, "logprob": -0.2}, {"token": text, "logprob": -0.1}]
        if not chat:
            top_map = {FORGED_TOKEN: -0.2, text: -0.1}
            return {"tokens": [text], "token_logprobs": [-0.1], "top_logprobs": [top_map]}
        return {"content": [entry | {"top_logprobs": top}]}
    if mode == "types":
        if not chat:
            return {"tokens": 5, "token_logprobs": {"a": 1}, "top_logprobs": {"0": {"x": 1}}}
        return {"content": 7} if text.startswith("w1 ") else {"content": [{"token": 5}, "x"]}
    if mode == "nan":
        big = 10**400
        value = [float("nan"), float("inf"), big][len(text) % 3]
        if not chat:
            return {"tokens": [text], "token_logprobs": [value], "top_logprobs": [{text: value}]}
        top = [{"token": text, "logprob": value}]
        return {"content": [{"token": text, "logprob": value, "top_logprobs": top}]}
    assert mode == "wide"
    alternatives = [{"token": f"{k}" + "x" * 300, "logprob": -1.0} for k in range(1000)]
    if not chat:
        top = {a["token"]: a["logprob"] for a in alternatives}
        return {"tokens": [text], "token_logprobs": [-0.1], "top_logprobs": [top]}
    return {"content": [{"token": text, "logprob": -0.1, "top_logprobs": alternatives}]}


def create_app() -> FastAPI:
    app = FastAPI()
    app.state.calls = []
    app.state.bodies = []
    app.state.counts = Counter()

    async def answer(request: Request, chat: bool) -> Response:
        body: dict[str, Any] = await request.json()
        model = str(body.get("model", ""))
        app.state.calls.append((model, request.headers.get("authorization")))
        app.state.bodies.append(body)
        app.state.counts[model] += 1
        seen = app.state.counts[model]
        kind, _, n = model.partition("-")
        if kind == "flaky" and seen <= int(n):
            return JSONResponse({"error": {"message": "temporary failure"}}, status_code=500)
        if kind == "busy" and seen <= int(n):
            return JSONResponse({"error": {"message": "slow down"}}, status_code=429)
        if kind == "down":
            return JSONResponse({"error": {"message": "down for maintenance"}}, status_code=503)
        if kind == "late":
            await asyncio.sleep(int(n) / 1000)
        if kind == "redirect":
            return RedirectResponse(REDIRECT_TO, status_code=307)
        if kind == "leaky":
            return JSONResponse({"error": {"message": f"failed: {LEAKED}"}}, status_code=int(n))
        base = {"id": "stub-1", "created": int(time.time()), "model": model}
        pieces = words()
        if kind in ("cite", "citecall"):
            pieces = ["From ", "the ", "documents: ", "it ", "is ", "there ", "[", f"{n}]."]
        if kind == "quote":
            pieces = [quoted_source(body.get("messages") or [])]
        if kind == "vision":
            try:
                pieces = [json.dumps(describe_content(body.get("messages")))]
            except ContentError as exc:
                return JSONResponse({"error": {"message": str(exc)}}, status_code=400)
        thinking = []
        if kind == "think" and chat:  # the effort it was sent, and what it was asked
            asked = str(((body.get("messages") or [{}])[-1]).get("content"))
            effort = body.get("reasoning_effort", "default")
            thinking = ["Thinking ", f"at {effort} effort ", "about: ", asked, ". "]
        usage = {"prompt_tokens": 1, "completion_tokens": CHUNKS, "total_tokens": CHUNKS + 1}
        decision = stub_tools.Decision()
        if chat:
            problem = stub_tools.history_error(body.get("messages") or [])
            if problem is not None:
                error = {"message": problem, "type": "invalid_request_error", "param": "messages"}
                return JSONResponse({"error": error}, status_code=400)
            decision = stub_tools.decide(body)
            if kind == "citecall":
                decision.preamble = "".join(pieces)
        if not body.get("stream"):
            text = "".join(pieces)
            choice = (
                {"index": 0, "message": stub_tools.message(decision, text)}
                if chat
                else {"index": 0, "text": text}
            ) | {"finish_reason": stub_tools.finish_reason(decision)}
            if thinking:
                choice["message"]["reasoning_content"] = "".join(thinking)
            obj = "chat.completion" if chat else "text_completion"
            return JSONResponse(base | {"object": obj, "choices": [choice], "usage": usage})

        def events() -> Any:
            obj = "chat.completion.chunk" if chat else "text_completion"
            if kind == "endless":  # a line that never ends: 32 MB, then its end
                app.state.sent = 0
                for _ in range(512):
                    app.state.sent += 65536
                    yield b"data: " + b"a" * 65530
                yield b"\n\ndata: [DONE]\n\n"
                return
            if kind == "garbage":  # a broken upstream: one event of bytes that are no JSON
                yield b'data: {"choices": [{"delta": {"content": "\xff\xfe'
                yield b'"}}]}\n\ndata: [DONE]\n\n' if n == "utf8" else b"oops\n\n"
                return
            deltas = stub_tools.stream_deltas(decision, pieces) if chat else pieces
            deltas = [{"reasoning_content": t} for t in thinking] + deltas
            for i, delta in enumerate(deltas):
                if kind == "slow" and i:
                    time.sleep(0.02)
                choice = (
                    {"index": 0, "delta": delta, "finish_reason": None}
                    if chat
                    else {"index": 0, "text": delta, "finish_reason": None}
                )
                if body.get("logprobs") not in (None, False):
                    choice["logprobs"] = (
                        forged_logprobs(n, delta, chat)
                        if kind == "forged"
                        else token_logprobs(delta, i, body, chat)
                    )
                yield f"data: {json.dumps(base | {'object': obj, 'choices': [choice]})}\n\n"
                if kind == "midfail" and i == 1:
                    yield f"data: {json.dumps({'error': {'message': LEAKED}})}\n\n"
                    return
            # A model named "length" says its answer was cut, as a real one at max_tokens does.
            reason = "length" if kind == "length" else stub_tools.finish_reason(decision)
            end = {"index": 0, "delta": {}} if chat else {"index": 0, "text": ""}
            last = base | {"object": obj, "choices": [end | {"finish_reason": reason}]}
            yield f"data: {json.dumps(last)}\n\n"
            if (body.get("stream_options") or {}).get("include_usage"):
                tail = base | {"object": obj, "choices": [], "usage": usage}
                yield f"data: {json.dumps(tail)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        return await answer(request, chat=True)

    @app.post("/v1/completions")
    async def completions(request: Request) -> Response:
        return await answer(request, chat=False)

    return app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class StubServer:
    """The stub on a free loopback port, served by uvicorn in a background thread."""

    def __init__(self) -> None:
        self.app = create_app()
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def calls(self) -> list[tuple[str, str | None]]:
        return self.app.state.calls

    def register(
        self,
        server: Server,
        name: str = "",
        model: str = "echo",
        shared: bool = True,
        **config: Any,
    ) -> str:
        """This stub, answering as ``model``, registered on a live ``server`` (by its admin) as an
        upstream model with ``config`` added; its name, ``upstream-<random>`` unless given."""
        name = name or f"upstream-{secrets.token_hex(4)}"
        config = {"base_url": self.base_url, "model": model} | config
        made = server.api(
            "POST", "/api/models", json={"id": name, "config": config, "shared": shared}
        )
        assert made.status_code == 201, made.text
        return name

    def __enter__(self) -> StubServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("stub server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=9001)
    args = parser.parse_args()
    uvicorn.run(create_app(), host="127.0.0.1", port=args.port, log_level="warning")
