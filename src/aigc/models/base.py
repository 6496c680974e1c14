"""The base classes of loaded models: what the platform may ask of any of them, declared.

The gateway and the registry read these attributes instead of probing a model with
``getattr``: a family overrides what differs (a neural model its ``decoding_fields``, a
template model ``runs_inline``, the batching engine ``footprint``/``unload``/
``check_capacity``). Image models are not text models: they share only ``LoadedModel``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from aigc.models.protocols import ImageRequest, TextRequest


class LoadedModel:
    """What the registry needs of every loaded model, text or image."""

    def footprint(self) -> tuple[str, int] | None:
        """(device, bytes) it holds; None: let ``resources.footprint`` measure its torch module."""
        return None

    def unload(self) -> None:
        """Called when the registry drops it (e.g. an engine stops its thread when idle)."""

    def check_capacity(self) -> None:
        """Raise 503 before a response starts when its own queue is full (the engine's)."""

    def status(self) -> dict[str, Any]:
        """What ``GET /api/models/{id}/status`` adds for it (no secrets)."""
        return {}


# Above this many characters of input, an inline model's work is no longer microseconds:
# it runs in a worker thread like the others (the gateway and a Ray replica alike).
INLINE_MAX_CHARS = 4096


def request_chars(request: TextRequest) -> int:
    """Characters of a request's messages or prompt (what an inline model's work grows with)."""
    return len(request.prompt or "") + sum(len(m.content) for m in request.messages or ())


class TextModelBase(LoadedModel):
    """A text generator. The gateway applies ``stop`` and ``max_tokens`` and counts usage with
    ``count_tokens``, so every family behaves the same to callers."""

    # The prompt + answer tokens it can attend to; None = unbounded (or unknown).
    context_length: int | None = None
    # Decoding fields beyond OpenAI's basics it honours; any other set field is a 400.
    decoding_fields: frozenset[str] = frozenset()
    # Reads the images of chat messages (a vision model); a request with images to any other
    # model is a 400. ``needs_images``: answers only about images (a captioner).
    takes_images: bool = False
    needs_images: bool = False
    # A local chat model's tool-call format ("hermes", "llama": models/text/tool_calls.py),
    # which a grammar holds decoding to; None: no tools, or the model is not decoded here.
    tool_format: str | None = None
    # It enforces a chat's JSON ``response_format`` itself (an upstream OpenAI-compatible
    # server), so the format is sent on instead of held to by a grammar here.
    enforces_formats: bool = False
    # Reads numbered knowledge-base sources in its prompt and can answer from them (a neural
    # or upstream chat model). A grounded answer of a model that cannot (a template's fixed
    # answers, an n-gram chain) cites no source: it does not come from the documents.
    reads_sources: bool = False
    # Its own queue answers only when a request is sent (Ray Serve's back-pressure): a stream
    # waits for the first piece before its status is sent, so a full queue is a 503, not an
    # error event after a 200.
    refuses_on_submit: bool = False
    # Served elsewhere (Ray Serve): prompts are counted where its tokenizer is, all of a
    # request's in one round trip (``acount_prompts``), not with a blocking call per message.
    counts_elsewhere: bool = False
    # ``count_tokens`` is the tokenizer the model reads with: the gateway holds each prompt and
    # its answer to ``context_length`` (400 context_length_exceeded). False where the count is
    # an estimate (an upstream: its own server judges its window).
    counts_exactly: bool = True
    # A model trained here on a small window (the GPT family: 128 to 256 tokens) reads longer
    # text by sliding it, as it was trained to continue; a checkpoint built for its window
    # (Hugging Face, GGUF) must not lose a prompt's start that way. Sliding models are not held
    # to ``context_length``.
    slides_window: bool = False

    @property
    def held_to_window(self) -> bool:
        """Whether each prompt and its answer must fit ``context_length`` (the gateway's 400
        context_length_exceeded), so grounding must count the prompt as the model is fed it."""
        return self.context_length is not None and self.counts_exactly and not self.slides_window

    @property
    def runs_inline(self) -> bool:
        """Generating is microseconds of pure CPU (no I/O, no sleeping): run it on the event
        loop. A family sets it as a class attribute, or computes it from its config."""
        return False

    def count_tokens(self, text: str) -> int:
        raise NotImplementedError

    def count_prompt(self, request: TextRequest) -> int | None:
        """The tokens the model is fed for ``request`` (its chat template's included) when it
        builds them here; None: they are counted from the request's texts
        (``prompt_tokens.count_prompt_tokens``)."""
        return None

    def count_texts(self, texts: Sequence[str]) -> list[int]:
        """The tokens of each text (blocking): one call for many, so that a model that
        ``counts_elsewhere`` answers them in one round trip (grounding fits its sources)."""
        return [self.count_tokens(t) for t in texts]

    async def acount_prompts(self, requests: Sequence[TextRequest]) -> list[int]:
        """Each request's prompt tokens, in one round trip, for a model that
        ``counts_elsewhere``."""
        raise NotImplementedError

    def generate(self, request: TextRequest) -> Iterator[str]:
        raise NotImplementedError


class ImageModelBase(LoadedModel):
    """An image generator: ``n`` square images of a side it lists in ``sizes``."""

    @property
    def sizes(self) -> list[int]:
        raise NotImplementedError

    def generate_images(self, request: ImageRequest) -> Any:
        raise NotImplementedError
