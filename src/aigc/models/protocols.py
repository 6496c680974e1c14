"""The small protocols every model backend speaks, so the gateway never knows a family.

A text model turns a request into a stream of text pieces. The gateway (not the model) applies
``stop`` and ``max_tokens`` and counts usage with ``count_tokens``, so every family behaves the
same to callers.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant", "developer", "tool"]
ToolChoice = Literal["none", "auto", "required", "named"]
# What a model that takes function calling adds to its ``decoding_fields``.
TOOL_FIELDS = frozenset({"tools"})


@dataclass(frozen=True)
class ToolCall:
    """A function call the model made (OpenAI's ``tool_calls`` entry); ``arguments`` is the
    JSON text as the model wrote it."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ChatImage:
    """An image of a chat message, checked and in memory: never a URL still to fetch.

    ``media_type`` is what the bytes are (sniffed, not what the caller declared); ``detail``
    is OpenAI's ``low``/``high``/``auto``. The bytes are left out of ``repr`` so a log line
    never carries them."""

    data: bytes = field(repr=False)
    media_type: str
    width: int
    height: int
    detail: Literal["auto", "low", "high"] = "auto"


@dataclass(frozen=True)
class ChatMessage:
    """One message: its text (text parts joined; what the guard reads and rewrites) and, for a
    user message, the images that came with it, in order after the text."""

    role: Role
    content: str
    images: tuple[ChatImage, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()  # an assistant turn that called functions
    tool_call_id: str | None = None  # a tool turn: the call it answers


@dataclass(frozen=True)
class FunctionTool:
    """A function the model may call; ``parameters`` is its arguments' JSON schema."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None

    def openai(self) -> dict[str, Any]:
        """OpenAI's ``{"type": "function", "function": {...}}`` (what upstreams and chat
        templates read)."""
        function: dict[str, Any] = {"name": self.name}
        if self.description is not None:
            function["description"] = self.description
        if self.parameters is not None:
            function["parameters"] = self.parameters
        if self.strict is not None:
            function["strict"] = self.strict
        return {"type": "function", "function": function}


@dataclass(frozen=True)
class ToolSet:
    """The tools of one request and how they may be used (OpenAI's ``tools``,
    ``tool_choice`` and ``parallel_tool_calls``; ``choice`` "named" forces ``name``)."""

    tools: tuple[FunctionTool, ...]
    choice: ToolChoice = "auto"
    name: str | None = None
    parallel: bool = True

    @property
    def callable(self) -> tuple[FunctionTool, ...]:
        """The tools the model may call now: none, the named one, or all."""
        if self.choice == "none":
            return ()
        if self.choice == "named":
            return tuple(t for t in self.tools if t.name == self.name)
        return self.tools

    def openai_choice(self) -> str | dict[str, Any]:
        if self.choice == "named":
            return {"type": "function", "function": {"name": self.name}}
        return self.choice


class ToolCallDelta(str):
    """A streamed piece of a tool call, as OpenAI's ``delta.tool_calls[i]``: an empty text
    piece carrying the call's index (``call_index``: ``str.index`` is taken), and in the
    call's first delta its ``id`` and function ``name``; ``arguments`` come in fragments.
    ``token_count``: the tokens the model spent on it (usage counts them as completion
    tokens)."""

    call_index: int
    id: str | None
    name: str | None
    arguments: str
    token_count: int

    def __new__(
        cls,
        index: int,
        id: str | None = None,
        name: str | None = None,
        arguments: str = "",
        token_count: int = 0,
    ) -> ToolCallDelta:
        piece = super().__new__(cls, "")
        piece.call_index = index
        piece.id = id
        piece.name = name
        piece.arguments = arguments
        piece.token_count = token_count
        return piece


class ReasoningDelta(str):
    """A streamed piece of a reasoning model's thinking, as vLLM's ``delta.reasoning_content``:
    an empty text piece (it is not the answer: stop sequences, citations and the answer's
    text never read it) carrying ``reasoning``. ``token_count``: the tokens it took (usage
    counts them as completion tokens, as OpenAI's do)."""

    reasoning: str
    token_count: int

    def __new__(cls, reasoning: str, token_count: int = 0) -> ReasoningDelta:
        piece = super().__new__(cls, "")
        piece.reasoning = reasoning
        piece.token_count = token_count
        return piece


# Pieces beside the answer's text: counted against max_tokens, never cut by a stop sequence.
SIDE_PIECES = (ToolCallDelta, ReasoningDelta)


def openai_message(message: ChatMessage) -> dict[str, Any]:
    """A message in OpenAI's request shape, tool calls and tool-call ids included."""
    turn: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        turn["content"] = message.content or None
        turn["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
    if message.tool_call_id is not None:
        turn["tool_call_id"] = message.tool_call_id
    return turn


def _template_turn(message: ChatMessage) -> dict[str, Any]:
    """A message as chat templates read it: tool-call arguments as objects (templates write
    them with ``tojson``)."""
    turn = openai_message(message)
    for call in turn.get("tool_calls", []):
        with contextlib.suppress(ValueError):  # not JSON: the template gets the text as it came
            call["function"]["arguments"] = json.loads(call["function"]["arguments"])
    return turn


def chat_prompt(
    messages: Sequence[ChatMessage], hf_tokenizer: Any = None, tools: ToolSet | None = None
) -> str:
    """The text a causal LM continues for a chat, the same for every built-in family that
    needs one (GPT, RNN, HF, the engine): the tokenizer's own chat template with the generation
    prompt when it has one (it renders ``tools`` the model may call), else the documented
    default (docs/models.md) of one "Role: text" line per message, then "Assistant:" for the
    model to continue."""
    if hf_tokenizer is not None and getattr(hf_tokenizer, "chat_template", None):
        turns = [_template_turn(m) for m in messages]
        offered = [t.openai() for t in tools.callable] if tools is not None else []
        text = hf_tokenizer.apply_chat_template(
            turns, tools=offered or None, add_generation_prompt=True, tokenize=False
        )
        return str(text)
    return "\n".join([*(f"{m.role.capitalize()}: {m.content}" for m in messages), "Assistant:"])


@dataclass(frozen=True)
class TextRequest:
    """One generation: either chat ``messages`` or a plain ``prompt`` (completions)."""

    messages: list[ChatMessage] | None = None
    prompt: str | None = None
    max_tokens: int | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    # Decoding options of neural models (vLLM-style extras where OpenAI has none).
    top_k: int = 0
    min_p: float = 0.0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    num_beams: int = 1
    length_penalty: float = 1.0
    early_stopping: bool = False
    min_tokens: int = 0
    logprobs: bool = False
    top_logprobs: int = 0
    # Per-request logits processors (structured output, watermark...): each is called as
    # ``processor(generated_token_ids, logits) -> logits`` before sampling.
    logits_processors: tuple[Any, ...] = ()
    # Who asks: the batching engine takes turns by tenant (set by the gateway, "" elsewhere).
    tenant: str = ""
    # Functions the model may call (chat only); None: no tools in the request.
    tools: ToolSet | None = None
    # Structured output the model enforces itself (OpenAI's ``response_format``, chat only):
    # set for an upstream server; a model decoded here gets a grammar processor instead.
    response_format: dict[str, Any] | None = None
    # A reasoning model's controls (OpenAI's ``reasoning_effort`` and ``verbosity``, chat
    # only): an upstream server honours them; None: not asked.
    reasoning_effort: str | None = None
    verbosity: str | None = None


@runtime_checkable
class TextModel(Protocol):
    """A loaded text generator, with what it can do declared (``models.base.TextModelBase``
    gives the defaults): the gateway reads these, it never probes a model."""

    # The most tokens (prompt + answer) the model reads at once; None: no fixed limit (or
    # unknown). Grounding fits its sources into it.
    context_length: int | None
    # Decoding fields beyond OpenAI's basics it honours; any other set field is a 400.
    decoding_fields: frozenset[str]
    # It reads the images of chat messages (``ChatMessage.images``); a request with images to
    # a model that does not is a 400. ``needs_images``: it answers only about images.
    takes_images: bool
    needs_images: bool
    # It can answer from numbered knowledge-base sources in its prompt; a grounded answer of
    # a model that cannot cites none of them.
    reads_sources: bool

    @property
    def runs_inline(self) -> bool:
        """Generating is microseconds of pure CPU (no I/O, no sleeping): the gateway runs it on
        the event loop instead of a thread."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens in ``text`` by this model's tokenizer (used for usage and limits)."""
        ...

    def generate(self, request: TextRequest) -> Iterator[str]:
        """Yield the answer as consecutive text pieces (one token or more each)."""
        ...


@dataclass(frozen=True)
class ImageRequest:
    """One image generation: ``n`` square images of side ``size`` (None: the native size)."""

    prompt: str
    n: int = 1
    size: int | None = None
    seed: int | None = None


@runtime_checkable
class AsyncTextModel(Protocol):
    """A text model that streams asynchronously (the batching engine): read on the event loop
    without a worker-thread hop per piece."""

    def agenerate(self, request: TextRequest) -> AsyncIterator[str]: ...


@runtime_checkable
class ImageModel(Protocol):
    """A loaded image generator (GAN, VAE, text-to-image)."""

    @property
    def sizes(self) -> list[int]:
        """Square sides it can produce: its native side and integer upscales of it."""
        ...

    def generate_images(self, request: ImageRequest) -> Any:
        """``request.n`` images as a uint8 array shaped (n, size, size, channels)."""
        ...
