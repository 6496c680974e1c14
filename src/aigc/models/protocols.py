"""The small protocols every model backend speaks, so the gateway never knows a family.

A text model turns a request into a stream of text pieces. The gateway (not the model) applies
``stop`` and ``max_tokens`` and counts usage with ``count_tokens``, so every family behaves the
same to callers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant", "developer", "tool"]


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


def chat_prompt(messages: Sequence[ChatMessage], hf_tokenizer: Any = None) -> str:
    """The text a causal LM continues for a chat, the same for every built-in family that
    needs one (GPT, RNN, HF, the engine): the tokenizer's own chat template with the generation
    prompt when it has one, else the documented default (docs/models.md) of one "Role: text"
    line per message, then "Assistant:" for the model to continue."""
    if hf_tokenizer is not None and getattr(hf_tokenizer, "chat_template", None):
        turns = [{"role": m.role, "content": m.content} for m in messages]
        text = hf_tokenizer.apply_chat_template(turns, add_generation_prompt=True, tokenize=False)
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
