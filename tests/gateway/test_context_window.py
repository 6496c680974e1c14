"""A prompt longer than the model's context is a 400 ``context_length_exceeded``, as OpenAI
answers it, on every route that generates text: before, the Hugging Face path read only the
prompt's last 4,096 tokens (the system prompt and the tools dropped) while usage billed them
all. The tiny Qwen2 of the tool tests (4,096 positions, one token per byte) is the model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from aigc.config import Settings
from tests.in_process import started_app_client
from tests.models.tiny_qwen import chat_tokenizer, save_tiny_qwen
from tests.templates import ECHO

pytestmark = pytest.mark.anyio

MODEL = "hf-qwen"
WINDOW = 4096  # the checkpoint's max_position_embeddings


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_qwen(tmp_path_factory.mktemp("models") / "qwen")


@pytest.fixture
async def qwen(
    tmp_path: Path, admin_key: str, checkpoint: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with the tiny Qwen registered by path (and an echo template), in process."""
    settings = Settings(
        data_dir=tmp_path / "data",
        admin_key=admin_key,
        default_models=False,
        console=False,
        import_roots=[checkpoint.parent],
    )
    async with started_app_client(settings) as client:
        for model_id, config in (
            (MODEL, {"path": str(checkpoint)}),
            ("template-echo", {"yaml": ECHO}),
        ):
            made = await client.post("/api/models", json={"id": model_id, "config": config})
            assert made.status_code == 201, made.text
        yield client


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def _template_tokens() -> int:
    """The tokens the tiny Qwen's chat template writes around one user message (its markers,
    the role, the assistant's turn): part of the prompt the model reads, and of its usage."""
    tokenizer = chat_tokenizer()
    text = tokenizer.apply_chat_template(user(""), add_generation_prompt=True, tokenize=False)
    return len(tokenizer.encode(text, add_special_tokens=False))


TEMPLATE_TOKENS = _template_tokens()


def refusal(reply: httpx.Response, param: str) -> str:
    assert reply.status_code == 400, reply.text
    error: dict[str, Any] = reply.json()["error"]
    assert error["code"] == "context_length_exceeded" and error["param"] == param
    assert error["type"] == "invalid_request_error"
    message: str = error["message"]
    assert message.startswith(f"This model's maximum context length is {WINDOW} tokens.")
    return message


async def test_a_prompt_beyond_the_context_is_refused_on_every_route(
    qwen: httpx.AsyncClient,
) -> None:
    long = "a" * 5000  # 5,000 tokens
    chat = {"model": MODEL, "messages": user(long)}
    message = refusal(await qwen.post("/v1/chat/completions", json=chat), "messages")
    assert f"your messages resulted in {5000 + TEMPLATE_TOKENS} tokens" in message
    streamed = await qwen.post("/v1/chat/completions", json=chat | {"stream": True})
    refusal(streamed, "messages")  # a status, not an error event after a 200
    asked = await qwen.post("/v1/chat/completions", json=chat | {"max_tokens": 5})
    prompt = 5000 + TEMPLATE_TOKENS
    assert (
        f"you requested {prompt + 5} tokens ({prompt} in the messages, 5 in the completion)"
        in refusal(asked, "messages")
    )
    listed = {"model": MODEL, "prompt": ["hello", long], "max_tokens": 5}
    refusal(await qwen.post("/v1/completions", json=listed), "prompt")  # each prompt must fit
    response = {"model": MODEL, "input": long, "max_output_tokens": 16}
    refusal(await qwen.post("/v1/responses", json=response), "input")


async def test_an_answer_asked_beyond_the_context_is_refused(qwen: httpx.AsyncClient) -> None:
    """max_tokens counts as at OpenAI: prompt + max_tokens must fit the context."""
    chat = {"model": MODEL, "messages": user("hello"), "max_tokens": 100_000}
    message = refusal(await qwen.post("/v1/chat/completions", json=chat), "messages")
    assert "in the messages, 100000 in the completion" in message
    newer = {"model": MODEL, "messages": user("hello"), "max_completion_tokens": WINDOW}
    refusal(await qwen.post("/v1/chat/completions", json=newer), "messages")


async def test_the_default_answer_is_cut_to_the_room_the_prompt_leaves(
    qwen: httpx.AsyncClient,
) -> None:
    """No max_tokens: the answer may take what the context leaves (not the default 512, which
    would slide the window over the prompt's start), and the limiter reserves that."""
    text = "a" * (WINDOW - 40 - TEMPLATE_TOKENS)
    body = {"model": MODEL, "messages": user(text), "temperature": 0}
    reply = await qwen.post("/v1/chat/completions", json=body)
    assert reply.status_code == 200, reply.text
    usage = reply.json()["usage"]
    assert usage["prompt_tokens"] == WINDOW - 40
    assert usage["prompt_tokens"] + usage["completion_tokens"] <= WINDOW


async def test_usage_counts_the_tokens_the_chat_template_adds(qwen: httpx.AsyncClient) -> None:
    """prompt_tokens summed the messages' own tokens, leaving out what the chat template
    writes around them (19 tokens here), so usage under-billed and a prompt within 19 tokens
    of the window passed the context check and slid. Now it is the tokens the model is fed, as
    OpenAI and vLLM count them; a completion's prompt has no template."""
    chat = {"model": MODEL, "messages": user("hello 你好"), "max_tokens": 1}
    reply = await qwen.post("/v1/chat/completions", json=chat)
    assert reply.status_code == 200, reply.text
    assert TEMPLATE_TOKENS == 19
    assert reply.json()["usage"]["prompt_tokens"] == len("hello 你好".encode()) + TEMPLATE_TOKENS
    plain = {"model": MODEL, "prompt": "hello 你好", "max_tokens": 1}
    reply = await qwen.post("/v1/completions", json=plain)
    assert reply.status_code == 200, reply.text
    assert reply.json()["usage"]["prompt_tokens"] == len("hello 你好".encode())
    full = user("a" * (WINDOW - TEMPLATE_TOKENS))  # the window, with no room for an answer
    refusal(
        await qwen.post("/v1/chat/completions", json={"model": MODEL, "messages": full}), "messages"
    )


async def test_a_model_without_a_fixed_context_takes_any_length(qwen: httpx.AsyncClient) -> None:
    body = {"model": "template-echo", "messages": user("b" * 20_000), "max_tokens": 100_000}
    reply = await qwen.post("/v1/chat/completions", json=body)
    assert reply.status_code == 200, reply.text


def test_a_model_trained_here_slides_through_its_small_window() -> None:
    """gpt-pydoc reads 128 tokens; it was trained to continue text through that window, and a
    chat or a JSON answer longer than it is what it serves (200 structured answers of up to 512
    tokens, tests/guard/test_structured_gpt_pydoc.py). A checkpoint built for its window is held
    to it; a model trained here is not."""
    from aigc.gateway.pipeline import fit_context
    from aigc.models.base import TextModelBase
    from aigc.models.protocols import ChatMessage, TextRequest

    class Windowed(TextModelBase):
        context_length = 128

    asked = [TextRequest(messages=[ChatMessage(role="user", content="x")], max_tokens=512)]
    sliding = Windowed()
    sliding.slides_window = True
    assert fit_context(sliding, asked, [300], asked=True) == asked
    with pytest.raises(Exception, match="maximum context length is 128 tokens"):
        fit_context(Windowed(), asked, [300], asked=True)


async def grounding_base(qwen: httpx.AsyncClient) -> str:
    """A keyword-only knowledge base whose one document fills any source budget."""
    made = await qwen.post("/api/kb", json={"name": "printers", "dense": False})
    assert made.status_code == 201, made.text
    kb: str = made.json()["id"]
    text = "".join(
        f"Printer P-{n} is on floor {n % 9} and prints in colour on A4 paper.\n\n"
        for n in range(200, 400)
    )
    sent = await qwen.post(
        f"/api/kb/{kb}/documents", files=[("files", ("printers.txt", text.encode(), "text/plain"))]
    )
    assert sent.status_code == 200, sent.text
    job = sent.json()["job"]
    for _ in range(600):
        state = (await qwen.get(f"/api/jobs/{job['id']}")).json()["status"]
        if state not in ("queued", "running"):
            break
        await anyio.sleep(0.1)
    assert state == "succeeded"
    return kb


async def test_a_grounded_answer_keeps_the_max_tokens_the_caller_set(
    qwen: httpx.AsyncClient,
) -> None:
    """Sources took half of what the conversation left, whatever max_tokens the caller set,
    so a max_tokens over half the window turned a grounded request that fits into a 400
    (prompt + max_tokens beyond the context). Sources now get what the asked answer leaves;
    an answer that leaves them no room is a 400 naming the field that asked for it. The room
    the conversation takes was estimated from its texts alone, without the tools offered."""
    kb = await grounding_base(qwen)
    ask = {
        "model": MODEL,
        "messages": user("Which printers print in colour on A4 paper?"),  # every chunk
        "knowledge_bases": [kb],
        "temperature": 0,
    }
    reply = await qwen.post("/v1/chat/completions", json=ask | {"max_tokens": 2400})
    assert reply.status_code == 200, reply.text
    usage = reply.json()["usage"]
    assert usage["prompt_tokens"] + 2400 <= WINDOW
    assert usage["prompt_tokens"] > 600  # the sources are in the prompt
    # The tools offered and the chat template are in the prompt too: sources fit beside them.
    tool = {
        "type": "function",
        "function": {
            "name": "find_printer",
            "description": "Finds a printer by its number and says where it stands. " * 25,
            "parameters": {"type": "object", "properties": {"number": {"type": "string"}}},
        },
    }
    reply = await qwen.post(
        "/v1/chat/completions", json=ask | {"max_tokens": 1500, "tools": [tool]}
    )
    assert reply.status_code == 200, reply.text
    assert 1400 < reply.json()["usage"]["prompt_tokens"] <= WINDOW - 1500
    for field, param in (
        ("max_tokens", "max_tokens"),
        ("max_completion_tokens", "max_completion_tokens"),
    ):
        crowded = await qwen.post("/v1/chat/completions", json=ask | {field: WINDOW - 200})
        assert crowded.status_code == 400, crowded.text
        error = crowded.json()["error"]
        assert error["param"] == param and error["code"] == "context_length_exceeded"
        assert "knowledge-base sources" in error["message"]
    response = {
        "model": MODEL,
        "input": "Which printers print in colour on A4 paper?",
        "knowledge_bases": [kb],
        "max_output_tokens": WINDOW - 200,
    }
    crowded = await qwen.post("/v1/responses", json=response)
    assert crowded.status_code == 400, crowded.text
    assert crowded.json()["error"]["param"] == "max_output_tokens"
