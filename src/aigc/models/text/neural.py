"""What GPT, RNN and Hugging Face models share: serving them and training them as jobs.

``NeuralTextModel`` turns any ``StepLM`` plus a tokenizer into the gateway's ``TextModel``:
prompt formatting (``protocols.chat_prompt``: the chat template, or Role: lines), decoding
(``models.decoding``), and text that never splits a character. Each yielded piece is a
``Piece``: a ``str`` that also carries the tokens (with logprobs) that made it.

``train_job`` is the body of the ``train-gpt`` / ``train-rnn`` jobs: read the data, split it,
learn a tokenizer, train with ``models.trainer``, save a Hugging Face style checkpoint.
"""

from __future__ import annotations

import inspect
import json
import math
import re
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from aigc.errors import InvalidRequest, refused_value
from aigc.infra.hf_import import load_transformers
from aigc.models import decoding, trainer
from aigc.models import progress_lines as lines
from aigc.models.base import TextModelBase
from aigc.models.family import LOGPROBS, SOURCES, STRUCTURED_OUTPUT, TEXT, TOOLS, WATERMARK
from aigc.models.protocols import TOOL_FIELDS, TextRequest, chat_prompt
from aigc.models.text import tool_calls
from aigc.models.text.data import clean_text, pydoc_texts, read_texts
from aigc.models.text.tokenizers import byte_level_bytes

# Decoding fields every neural model honours (the gateway refuses them for other families).
DECODING_FIELDS = (
    decoding.SAMPLING_FIELDS
    | decoding.BEAM_FIELDS
    | {"logprobs", "top_logprobs", "logits_processors"}
)


# What a neural model served directly can do; through the batching engine (config "engine")
# it serves text and structured output (the engine runs each request's grammar processor on
# its row), not logprobs. Both read knowledge-base sources.
CAPABILITIES = TEXT | {LOGPROBS, STRUCTURED_OUTPUT, WATERMARK, SOURCES}
ENGINE_CAPABILITIES = TEXT | {STRUCTURED_OUTPUT, SOURCES}


def capabilities_of(config: dict[str, Any]) -> frozenset[str]:
    """Directly or through the engine, function calling too when the checkpoint's chat
    template renders tools in a format we read (``tool_calls.format_of``)."""
    base = ENGINE_CAPABILITIES if "engine" in config else CAPABILITIES
    takes_tools = tool_calls.folder_format(config.get("path")) is not None
    return base | {TOOLS} if takes_tools else base


# --- tokenizers ----------------------------------------------------------------------------


class TextTokenizer:
    """A transformers tokenizer reduced to what decoding needs."""

    def __init__(self, tokenizer: Any, add_special_tokens: bool = False) -> None:
        self.hf = tokenizer
        self.add_special_tokens = add_special_tokens
        eos = tokenizer.eos_token_id
        self.eos_ids: list[int] = [eos] if eos is not None else []
        self.bos_id: int | None = tokenizer.bos_token_id

    def encode(self, text: str, special: bool | None = None) -> list[int]:
        add = self.add_special_tokens if special is None else special
        return list(self.hf.encode(text, add_special_tokens=add))

    def decode(self, ids: Sequence[int], shown: frozenset[int] = frozenset()) -> str:
        """The text of ``ids``, special tokens left out except ``shown`` ones (a tool-call
        format's markers, which its parser must read), written as their text."""
        ids = list(ids)
        if not shown or shown.isdisjoint(ids):
            return str(
                self.hf.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
            )
        parts: list[str] = []
        run: list[int] = []
        for i in [*ids, None]:
            if i is None or i in shown:
                if run:
                    parts.append(self.decode(run))
                    run = []
                if i is not None:
                    parts.append(self.hf.convert_ids_to_tokens(i))
            else:
                run.append(i)
        return "".join(parts)

    def marker_ids(self, markers: Sequence[str]) -> frozenset[int]:
        """The ids of the given special tokens this tokenizer has."""
        ids = {self.hf.convert_tokens_to_ids(m) for m in markers}
        return frozenset(i for i in ids if isinstance(i, int) and i != self.hf.unk_token_id)

    def count(self, text: str) -> int:
        return len(self.hf.encode(text, add_special_tokens=False))

    def token_bytes(self) -> list[bytes] | None:
        """Each token's bytes when tokens can hold part of a character (byte-level BPE,
        SentencePiece byte fallback); None when every token is whole characters. A
        byte-fallback tokenizer's other tokens stand as ``b"a"`` (whole characters: all the
        UTF-8 guard needs to know of them)."""
        vocab = [t or "" for t in self.hf.convert_ids_to_tokens(list(range(len(self.hf))))]
        if self.byte_level:
            special = set(self.hf.all_special_tokens)
            return [b"" if t in special else _entry_bytes(t, True) or t.encode() for t in vocab]
        if any(_BYTE_TOKEN.fullmatch(t) for t in vocab):
            return [_entry_bytes(t, False) or b"a" for t in vocab]
        return None

    def piece_bytes(self, token_id: int, text: str) -> bytes:
        """The bytes of one token whose decoded ``text`` is given. A byte-level or byte-fallback
        token may hold part of a character, which decodes alone as U+FFFD: its own bytes are
        then read from its vocabulary entry (logprobs' ``bytes`` rebuild the text)."""
        if "\ufffd" not in text:
            return text.encode("utf-8")
        piece = self.hf.convert_ids_to_tokens(token_id)
        if not isinstance(piece, str) or piece in self.hf.all_special_tokens:
            return text.encode("utf-8")
        return _entry_bytes(piece, self.byte_level) or text.encode("utf-8")

    @property
    def byte_level(self) -> bool:
        """Byte-level BPE (GPT-2, Qwen, Llama 3, Mistral's tekken): ``token_bytes`` is exact."""
        decoder = getattr(self.hf.backend_tokenizer, "decoder", None)
        return type(decoder).__name__ == "ByteLevel"

    @property
    def chat_template(self) -> str | None:
        return getattr(self.hf, "chat_template", None)


_BYTE_TOKEN = re.compile(r"<0x[0-9A-Fa-f]{2}>")  # SentencePiece byte-fallback pieces


def _entry_bytes(piece: str, byte_level: bool) -> bytes | None:
    """The bytes a vocabulary entry stands for: a byte-level BPE entry's (written in GPT-2's
    byte-to-character map), a byte-fallback piece's one byte (``<0xE4>``); None for an entry
    that is neither (an added token: its text is what decoding writes)."""
    if byte_level:
        return byte_level_bytes(piece)
    if _BYTE_TOKEN.fullmatch(piece):
        return bytes([int(piece[3:5], 16)])
    return None


def token_text(text: str, data: bytes) -> str:
    """A token as logprobs show it: its text, or, when its bytes are not whole UTF-8 (part of a
    character), OpenAI's ``bytes:\\xNN`` spelling, so that distinct tokens stay distinct (as
    U+FFFD they all looked alike and collapsed in completions' ``top_logprobs``)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "bytes:" + data.decode("utf-8", "backslashreplace")
    return text


def load_text_tokenizer(path: Path, add_special_tokens: bool = False) -> TextTokenizer:
    load_transformers()
    from transformers import AutoTokenizer

    quiet_transformers()
    return TextTokenizer(AutoTokenizer.from_pretrained(path), add_special_tokens)


# --- a transformers causal LM seen step by step ---------------------------------------------


class HFCausalLM:
    """``decoding.StepLM`` over any transformers causal LM, with its key/value cache.

    Past the model's context window the oldest quarter is dropped and the rest re-read, so
    generation can go on beyond ``n_positions`` (each token still sees a full-ish window).
    """

    def __init__(self, model: Any) -> None:
        self.model = model.eval()
        self.device = next(model.parameters()).device
        self.vocab_size = model.get_output_embeddings().weight.shape[0]
        config = model.config
        self.max_context: int | None = getattr(config, "n_positions", None) or getattr(
            config, "max_position_embeddings", None
        )
        # transformers 5 renamed ``past_key_values`` to ``cache``; speak whichever it knows.
        params = inspect.signature(model.forward).parameters
        self._cache_arg = "cache" if "cache" in params else "past_key_values"
        self._last_only = {"logits_to_keep": 1} if "logits_to_keep" in params else {}

    def prefill(self, ids: torch.Tensor) -> tuple[torch.Tensor, Any]:
        if self.max_context and ids.shape[1] > self.max_context:
            ids = ids[:, -self.max_context :]
        out = self.model(input_ids=ids, use_cache=True, **self._last_only)
        return out.logits[:, -1, :], (self._cache_of(out), ids.shape[1])

    def step(
        self, state: Any, ids: torch.Tensor, history: torch.Tensor
    ) -> tuple[torch.Tensor, Any]:
        cache, length = state
        if self.max_context and length + 1 > self.max_context:
            return self.prefill(history[:, -(self.max_context * 3 // 4) :])
        out = self.model(input_ids=ids[:, None], use_cache=True, **{self._cache_arg: cache})
        return out.logits[:, -1, :], (self._cache_of(out), length + 1)

    def _cache_of(self, out: Any) -> Any:
        cache = getattr(out, "cache", None)
        return cache if cache is not None else out.past_key_values

    def select(self, state: Any, rows: torch.Tensor) -> Any:
        cache, length = state
        cache.reorder_cache(rows)
        return cache, length


# --- serving -------------------------------------------------------------------------------


class Piece(str):
    """Generated text that also carries its tokens, for ``logprobs`` in the response, and how
    many were generated for it (``token_count``, as ``stopping.CountedText``: usage bills the
    tokens made, not a re-tokenization of their text, which may be empty); the last one
    (empty) says why the text ended, as ``stopping.Ended`` does."""

    tokens: list[dict[str, Any]]
    token_count: int
    finish_reason: str | None = None

    def __new__(
        cls,
        text: str,
        tokens: list[dict[str, Any]],
        finish_reason: str | None = None,
        token_count: int = 0,
    ) -> Piece:
        piece = super().__new__(cls, text)
        piece.tokens = tokens
        piece.token_count = token_count
        piece.finish_reason = finish_reason
        return piece


class NeuralTextModel(TextModelBase):
    """The gateway's ``TextModel`` for a neural LM."""

    decoding_fields = DECODING_FIELDS
    reads_sources = True  # conditioned on the whole prompt, sources included

    def __init__(self, lm: decoding.StepLM, tokenizer: TextTokenizer) -> None:
        self.lm = lm
        self.tokenizer = tokenizer
        self.context_length: int | None = lm.max_context  # GPT/HF: n_positions; RNN: None
        token_bytes = tokenizer.token_bytes()
        self.utf8 = decoding.Utf8Guard(token_bytes) if token_bytes is not None else None
        # Function calling: the chat template's format; decoding is held to it by a grammar
        # the gateway adds (guard.structured.tool_processor).
        self.tool_format = tool_calls.format_of(tokenizer.chat_template)
        if self.tool_format is not None:
            self.decoding_fields = DECODING_FIELDS | TOOL_FIELDS
        # Its markers that are special tokens: decoded as text while the model may call.
        self.markers = tokenizer.marker_ids(tool_calls.MARKERS.get(self.tool_format or "", ()))

    @property
    def vocab_size(self) -> int:
        """The width of the logits (structured output's grammar masks that many tokens)."""
        return int(self.lm.vocab_size)

    def count_tokens(self, text: str) -> int:
        return self.tokenizer.count(text)

    def count_prompt(self, request: TextRequest) -> int:
        return len(self.prompt_ids(request))

    def prompt_ids(self, request: TextRequest) -> list[int]:
        if request.messages is not None:
            history = tool_calls.template_history(self.tool_format, request.messages)
            text = chat_prompt(history, self.tokenizer.hf, request.tools)
            # A template writes its own special tokens; the default prompt gets the model's.
            special = False if self.tokenizer.chat_template else None
            ids = self.tokenizer.encode(text, special=special)
        else:
            ids = self.tokenizer.encode(request.prompt or "")
        if not ids:  # an empty prompt: start from the beginning-of-text token
            start = self.tokenizer.bos_id
            if start is None and self.tokenizer.eos_ids:
                start = self.tokenizer.eos_ids[0]
            ids = [start if start is not None else 0]
        return ids

    def generate(self, request: TextRequest) -> Iterator[str]:
        if self.tool_format is None or request.tools is None or not request.tools.callable:
            return self._generate(request)
        pieces = self._generate(request, self.markers)
        return tool_calls.CallParser(self.tool_format, self.count_tokens).feed(pieces)

    def _generate(
        self, request: TextRequest, markers: frozenset[int] = frozenset()
    ) -> Iterator[str]:
        ids = self.prompt_ids(request)
        eos = self.tokenizer.eos_ids
        detok = decoding.IncrementalDetokenizer(partial(self.tokenizer.decode, shown=markers), ids)
        waiting: list[dict[str, Any]] = []
        made = 0  # tokens generated whose text is not yielded yet (some decode to nothing)
        last: int | None = None  # the last token decoded: end-of-text, or the limit came first
        for tokens in decoding.decode(self.lm, ids, request, eos, self.utf8):
            if tokens:
                last = tokens[-1].id
            shown = [t for t in tokens if t.id not in eos]
            made += len(shown)
            if request.logprobs:
                waiting.extend(self._describe(t, request.top_logprobs) for t in shown)
            text = detok.add([t.id for t in shown])
            if text:
                yield Piece(text, waiting, token_count=made)
                waiting, made = [], 0
        tail = detok.flush()
        if tail or waiting or made:
            yield Piece(tail, waiting, token_count=made)
        # The decoders end at end-of-text or at max_tokens (the window slides past the context).
        yield Piece("", [], "length" if last is not None and last not in eos else "stop")

    def _entry(self, token_id: int, logprob: float) -> dict[str, Any]:
        text = self.tokenizer.decode([token_id])
        data = self.tokenizer.piece_bytes(token_id, text)
        return {"token": token_text(text, data), "logprob": logprob, "bytes": list(data)}

    def _describe(self, token: decoding.Token, top_n: int) -> dict[str, Any]:
        return self._entry(token.id, token.logprob) | {
            "top_logprobs": [self._entry(i, lp) for i, lp in token.top[:top_n]],
        }


# --- training as a job ---------------------------------------------------------------------

MakeModel = Callable[[dict[str, Any], int, "int | None", "int | None"], torch.nn.Module]
TOKENIZER_DIR = "tokenizer"
_ADVANCED: dict[str, Any] = {"advanced": True}  # the console folds these away


class NeuralParams(BaseModel):
    """Training parameters every neural LM takes (data, tokenizer, the run); a family adds its
    network's shape. The defaults here are the ones a job uses when a field is not given."""

    model_config = ConfigDict(extra="forbid")

    tokenizer: Literal["char", "word", "bpe"] = "bpe"
    vocab_size: int | None = Field(
        default=None, ge=8, le=200_000, description="BPE vocabulary (default 4,000)"
    )
    max_iters: int = Field(default=2000, ge=1, le=1_000_000, description="Training iterations")
    batch_size: int = Field(default=12, ge=1, le=1024, description="Windows per iteration")
    learning_rate: float = Field(default=1e-3, ge=1e-8, le=1.0, description="Peak learning rate")
    eval_interval: int = Field(
        default=250, ge=1, le=1_000_000, description="Validate (and checkpoint) every N iterations"
    )
    val_fraction: float = Field(
        default=0.1, ge=0.0, le=0.5, description="Held-out documents", json_schema_extra=_ADVANCED
    )
    seed: int | None = Field(
        default=None,
        ge=0,
        le=2**53 - 1,  # exact in JSON (and in the OpenAPI document)
        description="Document split, weights and batches (default: split 0, weights 1337)",
        json_schema_extra=_ADVANCED,
    )
    dropout: float = Field(default=0.0, ge=0.0, le=0.9, json_schema_extra=_ADVANCED)
    min_lr: float = Field(default=1e-4, ge=0.0, le=1.0, json_schema_extra=_ADVANCED)
    warmup_iters: int = Field(default=100, ge=0, le=1_000_000, json_schema_extra=_ADVANCED)
    lr_decay_iters: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description="Default: max_iters",
        json_schema_extra=_ADVANCED,
    )
    weight_decay: float = Field(default=0.1, ge=0.0, le=10.0, json_schema_extra=_ADVANCED)
    beta1: float = Field(default=0.9, ge=0.0, le=0.99999, json_schema_extra=_ADVANCED)
    beta2: float = Field(default=0.99, ge=0.0, le=0.99999, json_schema_extra=_ADVANCED)
    grad_clip: float = Field(default=1.0, ge=0.0, le=1e6, json_schema_extra=_ADVANCED)
    eval_tokens: int = Field(
        default=65_536,
        ge=1,
        le=100_000_000,
        description="Tokens read by each periodic validation",
        json_schema_extra=_ADVANCED,
    )
    checkpoint_interval: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description="Default: eval_interval",
        json_schema_extra=_ADVANCED,
    )
    device: Literal["cpu", "cuda"] | None = Field(
        default=None, description="Default: CUDA when present", json_schema_extra=_ADVANCED
    )


def job_params(ctx_params: dict[str, Any], model: type[NeuralParams]) -> dict[str, Any]:
    """A job's params with every hyperparameter filled in from the family's defaults (given
    values win; other keys such as ``paths`` or ``source`` are kept)."""
    given = {k: v for k, v in ctx_params.items() if k in model.model_fields}
    return dict(ctx_params) | model.model_validate(given).model_dump(exclude_none=True)


def training_texts(params: dict[str, Any], skipped: list[str] | None = None) -> list[str]:
    """The job's documents; files a folder walk skipped are added to ``skipped``."""
    if params.get("source") == "pydoc":
        return [t for t in (clean_text(x) for x in pydoc_texts()) if t.strip()]
    paths = [Path(p) for p in params.get("paths") or []]
    if not paths:
        raise InvalidRequest(
            "No training data was given", param="file_ids", code="missing_required_parameter"
        )
    return read_texts(paths, skipped)


def encode_documents(tokenizer: Any, docs: Sequence[str]) -> torch.Tensor:
    """One token stream: each document followed by end-of-text, so the model learns to stop."""
    ids: list[int] = []
    for doc in docs:
        ids.extend(tokenizer.encode(doc))
        ids.append(tokenizer.eos_id)
    return torch.tensor(ids, dtype=torch.long)


def train_job(
    ctx: Any, out_dir: Path, params_model: type[NeuralParams], make_model: MakeModel
) -> dict[str, Any]:
    """Train a neural LM from the job's params and save it to ``out_dir``; returns its config.

    The tokenizer is kept in the checkpoint folder, so a resumed run continues with exactly
    the tokenizer (and token stream) the interrupted run had.
    """
    from aigc.models.text.data import corpus_stats, split_train_val
    from aigc.models.text.tokenizers import load_tokenizer, train_tokenizer

    params = job_params(ctx.params, params_model)
    ctx.progress(0.0, "reading data", lines.READING_DATA)
    skipped: list[str] = []
    docs = training_texts(params, skipped)
    train_docs, val_docs = split_train_val(
        docs, float(params["val_fraction"]), int(params.get("seed", 0))
    )
    stats = corpus_stats(train_docs, val_docs)
    tok_dir = Path(ctx.checkpoint_dir) / TOKENIZER_DIR
    if (tok_dir / "tokenizer.json").exists():
        tokenizer = load_tokenizer(tok_dir)
    else:
        ctx.progress(0.0, "learning the tokenizer", lines.LEARNING_TOKENIZER)
        vocab = params.get("vocab_size")
        kind = params["tokenizer"]
        tokenizer = train_tokenizer(kind, train_docs, int(vocab) if vocab else None)
        tokenizer.save(tok_dir)
    train_ids = encode_documents(tokenizer, train_docs)
    val_ids = encode_documents(tokenizer, val_docs)
    cfg = trainer.TrainConfig.from_params(params)
    torch.manual_seed(cfg.seed)  # the same params give the same initial weights
    model = make_model(params, tokenizer.vocab_size, tokenizer.bos_id, tokenizer.eos_id)
    block = getattr(model.config, "n_positions", None) or getattr(model.config, "block_size", 0)
    if block:
        cfg.block_size = int(block)

    from aigc.models.text.live import LiveMetrics, sample_text

    live = LiveMetrics(cfg.max_iters, ctx.live)

    def report(p: trainer.Progress) -> None:
        ctx.progress(min(0.99, p.fraction), p.message(), lines.TRAIN_STEP, p.values())
        evaluated = p.iteration % cfg.eval_interval == 0 or p.iteration == cfg.max_iters
        if evaluated:
            seed = cfg.seed + p.iteration
            live.add_sample(p.iteration, sample_text(model, tokenizer, cfg.block_size, seed))
        if live.add(p, evaluated) or evaluated:
            ctx.publish(live.view())

    result = trainer.train(
        model, train_ids, val_ids, cfg, ctx.checkpoint_dir, report, ctx.save_checkpoints
    )
    save_checkpoint(model, tokenizer, out_dir)
    ctx.progress(
        1.0,
        f"done: validation loss {result.val_loss:.4f}",
        lines.DONE_VAL_LOSS,
        {"val_loss": result.val_loss},
    )
    return {
        "path": str(out_dir),
        "val_loss": round(result.val_loss, 6),
        "val_perplexity": round(math.exp(result.val_loss), 4),
        "tokenizer": tokenizer.kind,
        "vocab_size": tokenizer.vocab_size,
        "iterations": result.iterations,
        "resumed_from": result.resumed_from,
        "train_tokens": len(train_ids),
        "val_tokens": len(val_ids),
        "corpus": stats.as_dict(),
    } | ({"skipped_files": skipped} if skipped else {})


def quiet_transformers() -> None:
    """No tqdm bars from transformers in server logs (loading and saving weights)."""
    load_transformers()
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def save_checkpoint(model: Any, tokenizer: Any, out_dir: Path) -> None:
    """config.json + model.safetensors (+ generation_config.json) + the tokenizer files."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.to("cpu")
    if hasattr(model, "save_pretrained"):
        quiet_transformers()
        model.save_pretrained(out_dir, safe_serialization=True)
    else:
        model.save(out_dir)
    tokenizer.save(out_dir)


def validate_checkpoint_config(config: dict[str, Any]) -> None:
    """A model registered by path must point at a folder with config.json and a tokenizer."""
    path = config.get("path")
    if not isinstance(path, str):
        raise InvalidRequest(
            "Give the model's folder as config.path",
            param="config.path",
            code="missing_required_parameter",
        )
    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise refused_value(
            "model_folder_lacks",
            "{folder}: no config.json in this folder",
            param="path",
            folder=folder.name,
            file="config.json",
        )
    if not any((folder / n).is_file() for n in ("tokenizer.json", "tokenizer_config.json")):
        raise refused_value(
            "model_folder_lacks",
            "{folder}: no tokenizer files in this folder",
            param="path",
            folder=folder.name,
            file="tokenizer.json",
        )
    try:
        json.loads((folder / "config.json").read_text())
    except ValueError:
        raise refused_value(
            "model_file_not_json",
            "{folder}: config.json is not JSON",
            param="path",
            folder=folder.name,
            file="config.json",
        ) from None


# --- default models ------------------------------------------------------------------------


def bootstrap_shared(db: Any, name: str, family: str, params: dict[str, Any]) -> None:
    """Submit the training of a shared default model unless it exists (idempotent)."""
    with db.session() as session:
        submit_shared(session, name, family, params)


def submit_shared(session: Any, name: str, family: str, params: dict[str, Any]) -> None:
    from aigc.infra.schema import ModelRecord
    from aigc.infra.tenants import platform_operator
    from aigc.models.training import start_training

    exists = session.scalar(
        select(ModelRecord.id).where(ModelRecord.name == name, ModelRecord.tenant_id.is_(None))
    )
    if exists is not None:
        return
    start_training(session, platform_operator(session), family, name, params, shared=True)
