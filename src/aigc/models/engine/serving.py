"""The engine as a ``TextModel``: the gateway's pipeline calls ``generate`` as for any model.

``generate`` submits at once (so a full queue answers 503 before any text) and returns the
text as the engine produces it. Closing the iterator (the client went away) cancels the request,
which leaves the running batch before the engine's next step.

Structured output and function calling work as for a model served directly: the gateway gives
each request its own grammar processor (``guard.structured``), which the engine's ``_pick``
runs on that request's row alone; a preempted request keeps its generated tokens, so its
processor's state stays right when the engine recomputes its cache. A chat template that
renders tools makes the model take them: the template gets the tools, and the text is read
back as calls (``tool_calls.CallParser``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import torch

from aigc.errors import refused_value
from aigc.infra.hf_import import load_transformers
from aigc.models import decoding
from aigc.models.base import TextModelBase
from aigc.models.device import pick_device
from aigc.models.engine.engine import Engine, EngineConfig, Handle
from aigc.models.placement import to_device
from aigc.models.protocols import TOOL_FIELDS, TextRequest, chat_prompt
from aigc.models.stopping import CountedText, Ended
from aigc.models.text import tool_calls
from aigc.models.text.neural import TextTokenizer

# Decoding options the engine honours per request (beam search and logprobs are not served).
DECODING_FIELDS = decoding.SAMPLING_FIELDS


class EngineModel(TextModelBase):
    """A continuous-batching text model over a transformers causal LM and its tokenizer (a
    transformers tokenizer, or the ``TextTokenizer`` over one that grammars read)."""

    decoding_fields = DECODING_FIELDS
    reads_sources = True  # conditioned on the whole prompt, sources included

    def __init__(self, engine: Engine, tokenizer: Any) -> None:
        self.engine = engine
        self.tokenizer = (
            tokenizer if isinstance(tokenizer, TextTokenizer) else TextTokenizer(tokenizer)
        )
        self.context_length: int | None = engine.context_length
        # The width of the logits, which a grammar's token mask covers.
        head = engine.model.get_output_embeddings()
        width = head.weight.shape[0] if head is not None else engine.model.config.vocab_size
        self.vocab_size = int(width)
        self.tool_format = tool_calls.format_of(self.tokenizer.chat_template)
        if self.tool_format is not None:
            self.decoding_fields = DECODING_FIELDS | TOOL_FIELDS
        markers = tool_calls.MARKERS.get(self.tool_format or "", ())
        self.markers = self.tokenizer.marker_ids(markers)

    def count_tokens(self, text: str) -> int:
        return self.tokenizer.count(text)

    def check_capacity(self) -> None:
        self.engine.check_capacity()

    def footprint(self) -> tuple[str, int]:
        params = self.engine.model.parameters()
        size = sum(p.numel() * p.element_size() for p in params if not p.is_meta)
        size += self.engine.copied_bytes
        kv = int((self.engine.config.kv_cache_mb + self.engine.config.prefix_cache_mb) * 2**20)
        return str(self.engine.device), size + kv

    def unload(self) -> None:
        self.engine.stop_when_idle()

    def status(self) -> dict[str, Any]:
        stats = self.engine.stats
        return {
            "engine": {
                "running": stats.running,
                "waiting": stats.waiting,
                "kv_cache_usage": round(stats.kv_used, 4),
                "steps": stats.steps,
                "generated_tokens": stats.tokens_out,
                "preemptions": stats.preemptions,
                "prefix_cached_tokens": stats.cached_tokens,
                "passes": self.engine.path,  # gpt2 / llama (written out) or forward
                "weights": self.engine.weights,
            }
        }

    def count_prompt(self, request: TextRequest) -> int:
        return len(self.prompt_ids(request))

    def prompt_ids(self, request: TextRequest) -> list[int]:
        if request.messages is None:
            text = request.prompt or ""
        else:
            history = tool_calls.template_history(self.tool_format, request.messages)
            text = chat_prompt(history, self.tokenizer.hf, request.tools)
        ids = self.tokenizer.encode(text, special=False)
        return ids or [self.engine.eos_ids[0] if self.engine.eos_ids else 0]

    def _parser(self, request: TextRequest) -> tool_calls.CallParser | None:
        """The reader of the model's calls, when the request offers tools it may call now."""
        if self.tool_format is None or request.tools is None or not request.tools.callable:
            return None
        return tool_calls.CallParser(self.tool_format, self.count_tokens)

    def generate(self, request: TextRequest) -> Iterator[str]:
        ids = self.prompt_ids(request)
        handle = self.engine.submit(ids, request, tenant=request.tenant)
        parser = self._parser(request)
        if parser is None:
            return self._texts(handle, ids)
        return parser.feed(self._texts(handle, ids, self.markers))

    def agenerate(self, request: TextRequest) -> AsyncIterator[str]:
        """``generate`` for a reader on the event loop; it also submits at once (503 early)."""
        ids = self.prompt_ids(request)
        handle = self.engine.submit(ids, request, tenant=request.tenant)
        parser = self._parser(request)
        if parser is None:
            return self._atexts(handle, ids)
        return parser.afeed(self._atexts(handle, ids, self.markers))

    def _decoder(self, shown: frozenset[int]) -> Any:
        return partial(self.tokenizer.decode, shown=shown)

    async def _atexts(
        self, handle: Handle, prompt_ids: list[int], shown: frozenset[int] = frozenset()
    ) -> AsyncIterator[str]:
        texts = _Texts(self._decoder(shown), prompt_ids, self.engine.eos_ids)
        try:
            async for tokens in handle.abatches():
                if piece := texts.add(tokens):
                    yield piece
            if (tail := texts.flush()) is not None:  # empty, it still bills its tokens
                yield tail
            if handle.finish_reason is not None:  # "length": max_tokens or the context
                yield Ended(handle.finish_reason)
        finally:
            handle.cancel()  # a no-op when finished; frees the slot when the caller left

    def _texts(
        self, handle: Handle, prompt_ids: list[int], shown: frozenset[int] = frozenset()
    ) -> Iterator[str]:
        texts = _Texts(self._decoder(shown), prompt_ids, self.engine.eos_ids)
        try:
            for tokens in handle.batches():
                if piece := texts.add(tokens):
                    yield piece
            if (tail := texts.flush()) is not None:  # empty, it still bills its tokens
                yield tail
            if handle.finish_reason is not None:  # "length": max_tokens or the context
                yield Ended(handle.finish_reason)
        finally:
            handle.cancel()  # a no-op when finished; frees the slot when the caller left


class _Texts:
    """Tokens in, text out: end-of-sequence tokens dropped, characters completed across
    tokens, each piece carrying the number of tokens that made it."""

    def __init__(self, decode: Any, prompt_ids: list[int], eos_ids: Sequence[int]) -> None:
        self._detok = decoding.IncrementalDetokenizer(decode, prompt_ids)
        self._eos = set(eos_ids)
        self._pending = 0  # tokens read whose text the detokenizer has not released yet

    def add(self, tokens: list[int]) -> CountedText | None:
        kept = [t for t in tokens if t not in self._eos]
        self._pending += len(kept)
        text = self._detok.add(kept)
        return self._piece(text) if text else None

    def flush(self) -> CountedText | None:
        """The text still held, with every token read since the last piece: tokens whose
        text is empty (padding, unknown) are billed too, on an empty piece if need be."""
        text = self._detok.flush()
        return self._piece(text) if text or self._pending else None

    def _piece(self, text: str) -> CountedText:
        piece, self._pending = CountedText(text, self._pending), 0
        return piece


def load_engine_model(
    path: str | Path,
    config: EngineConfig | None = None,
    device: str | None = None,
    name: str | None = None,
) -> EngineModel:
    """A Hugging Face checkpoint directory (model + tokenizer) served by a new engine, named
    ``name`` in metrics and status (default: the folder's name)."""
    load_transformers()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device_ = pick_device(device)
    dtype: Any = "auto" if device_.type == "cuda" else torch.float32  # half is slow on CPU
    model = to_device(AutoModelForCausalLM.from_pretrained(path, dtype=dtype), device_)
    tokenizer = AutoTokenizer.from_pretrained(path)
    eos = tokenizer.eos_token_id
    eos_ids = [eos] if eos is not None else []
    engine = Engine(model, eos_ids, config, name=name or Path(path).name, owns_model=True)
    return EngineModel(engine, tokenizer)


def load_from_config(config: dict[str, Any], name: str | None = None) -> EngineModel:
    """The registry's loader for ``hf``/``gpt`` records whose config has ``"engine": {...}``."""
    options = config.get("engine") or {}
    if not isinstance(options, dict):
        raise refused_value("dict", "config.engine is an object of engine settings", param="engine")
    try:
        engine_config = EngineConfig(**options)
    except TypeError:
        fields = ", ".join(EngineConfig.__dataclass_fields__)
        raise refused_value(
            "engine_settings_known",
            "config.engine takes {known}",
            param="engine",
            known=fields,
        ) from None
    except ValueError as exc:
        raise refused_value(
            "engine_setting_invalid", "config.engine: {reason}", param="engine", reason=str(exc)
        ) from None
    try:
        return load_engine_model(
            config["path"], engine_config, device=config.get("device"), name=name
        )
    except ValueError as exc:  # an option this checkpoint cannot take (int8 on GPT-2)
        raise refused_value(
            "engine_setting_invalid", "config.engine: {reason}", param="engine", reason=str(exc)
        ) from None
