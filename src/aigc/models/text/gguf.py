"""GGUF checkpoints (what Ollama, LocalAI and llama.cpp users have) served by llama.cpp.

``aigc models add --path model.gguf`` registers one file as ``gguf-<name>``; nothing is
downloaded or converted. llama.cpp (through llama-cpp-python, the optional ``gguf`` extra)
runs the network; everything around it is the platform's own, the same code as the ``hf``
family: the tokenizer is rebuilt from the file's metadata by transformers (so the chat template
of ``tokenizer.chat_template``, the tool-call format, the UTF-8 guard and token counting for
limits are those of every other local family), and decoding goes through ``models.decoding``
step by step on llama.cpp's logits.

Why not llama.cpp's own sampler and grammars: ``decoding`` gives sampling with a per-request
seed, penalties, logprobs of the chosen and top tokens (llama.cpp only computes them with
``logits_all=True``, one vocabulary row per prompt token; here the last row after each step is
enough), and structured output through the project's xgrammar processors, which compile every
JSON schema the other families accept and the tool-call grammars; llama.cpp's
``LlamaGrammar.from_json_schema`` covers a subset of JSON schema, and llama-cpp-python's own
logits-processor hook is marked "probably broken" in its source. The cost is one copy of the
logits row per token and sampling in torch (measured in ``bench/llm_engine.py``).

One llama.cpp context holds one sequence, so requests to a model take turns (a lock); the key/
value cache keeps the previous request's tokens and a new prompt that starts the same way (a
shared system prompt) is only evaluated past the common prefix. Beam search is not offered.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aigc.errors import InvalidRequest, refused_value
from aigc.infra.hf_import import load_transformers
from aigc.models import decoding
from aigc.models.family import (
    LOGPROBS,
    SOURCES,
    STRUCTURED_OUTPUT,
    TEXT,
    TOOLS,
    WATERMARK,
    Family,
    register,
)
from aigc.models.protocols import TOOL_FIELDS, TextRequest
from aigc.models.text import neural, tool_calls

CAPABILITIES = TEXT | {LOGPROBS, STRUCTURED_OUTPUT, WATERMARK, SOURCES}
# Every decoding field of the neural families except beam search (one sequence per context).
DECODING_FIELDS = neural.DECODING_FIELDS - decoding.BEAM_FIELDS
DEFAULT_MAX_CONTEXT = 8192  # a 128k-context file would otherwise reserve its whole KV cache
MAGIC = b"GGUF"

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "path": {"type": "string", "minLength": 1, "description": "Server path of a .gguf file"},
        "n_ctx": {"type": "integer", "minimum": 16, "description": "Context (default: file's)"},
        "n_threads": {"type": "integer", "minimum": 1, "description": "Default: every core"},
        "n_gpu_layers": {"type": "integer", "minimum": -1, "description": "-1: all (CUDA)"},
    },
    "required": ["path"],
}


@dataclass(frozen=True)
class GGUFConfig:
    """How one GGUF file is loaded; the stored model config, with defaults filled in at load.

    ``n_ctx`` None: the file's training context, at most ``DEFAULT_MAX_CONTEXT``. ``n_threads``
    None: every core (llama.cpp's own default is half of them). ``n_gpu_layers`` None: all layers
    on the GPU when the llama-cpp-python build has CUDA/Metal, else none."""

    path: Path
    n_ctx: int | None = None
    n_threads: int | None = None
    n_gpu_layers: int | None = None
    n_batch: int = 512

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> GGUFConfig:
        return cls(
            path=Path(config["path"]),
            n_ctx=config.get("n_ctx"),
            n_threads=config.get("n_threads"),
            n_gpu_layers=config.get("n_gpu_layers"),
        )


def available() -> bool:
    """llama-cpp-python is installed (``pip install 'aigc[gguf]'``)."""
    return importlib.util.find_spec("llama_cpp") is not None


def gpu_layers(config: GGUFConfig) -> int:
    """Offload every layer when the wheel was built with a GPU backend, else none."""
    if config.n_gpu_layers is not None:
        return config.n_gpu_layers
    import llama_cpp

    return -1 if llama_cpp.llama_supports_gpu_offload() else 0


# --- llama.cpp seen step by step -------------------------------------------------------------


class LlamaCppLM:
    """``decoding.StepLM`` over a ``llama_cpp.Llama``: its single sequence is the state.

    ``prefill`` keeps the cached tokens the new prompt shares (llama.cpp drops the rest from
    its key/value cache in ``eval``) and evaluates only the remainder; the logits of the last
    position are read from the context after each ``eval`` (no ``logits_all``). Past the
    context the oldest quarter is dropped and the rest re-read, as ``neural.HFCausalLM`` does.
    """

    def __init__(self, llm: Any) -> None:
        self.llm = llm
        self.vocab_size = int(llm.n_vocab())
        self.max_context: int | None = int(llm.n_ctx())
        self.device = torch.device("cpu")  # logits come back to host memory

    def _logits(self) -> torch.Tensor:
        row = np.ctypeslib.as_array(self.llm._ctx.get_logits(), shape=(self.vocab_size,))
        return torch.from_numpy(row.copy())[None, :]

    def prefill(self, ids: torch.Tensor) -> tuple[torch.Tensor, Any]:
        if ids.shape[0] != 1:
            raise ValueError("a llama.cpp context decodes one sequence")
        tokens = [int(t) for t in ids[0].tolist()]
        if self.max_context and len(tokens) > self.max_context:
            tokens = tokens[-self.max_context :]
        cached = self.llm.input_ids[: self.llm.n_tokens].tolist()
        keep = 0
        limit = min(len(cached), len(tokens) - 1)  # the last token is evaluated for its logits
        while keep < limit and cached[keep] == tokens[keep]:
            keep += 1
        self.llm.n_tokens = keep
        self.llm.eval(tokens[keep:])
        return self._logits(), len(tokens)

    def step(
        self, state: Any, ids: torch.Tensor, history: torch.Tensor
    ) -> tuple[torch.Tensor, Any]:
        length = int(state)
        if self.max_context and length + 1 > self.max_context:
            return self.prefill(history[:, -(self.max_context * 3 // 4) :])
        self.llm.eval([int(ids[0])])
        return self._logits(), length + 1

    def select(self, state: Any, rows: torch.Tensor) -> Any:
        raise ValueError("beam search is not available on GGUF models")


class GGUFTextModel(neural.NeuralTextModel):
    """The gateway's ``TextModel`` for a GGUF file: ``NeuralTextModel`` on llama.cpp's logits,
    one request at a time per loaded file."""

    def __init__(
        self, lm: LlamaCppLM, tokenizer: neural.TextTokenizer, size: int, on_gpu: bool = False
    ) -> None:
        super().__init__(lm, tokenizer)
        self.on_gpu = on_gpu
        fields = DECODING_FIELDS | (TOOL_FIELDS if self.tool_format is not None else frozenset())
        self.decoding_fields = fields
        self.size = size
        self._turn = threading.Lock()

    def generate(self, request: TextRequest) -> Iterator[str]:
        with self._turn:  # held until the stream ends or is closed (a client went away)
            yield from super().generate(request)

    def footprint(self) -> tuple[str, int] | None:
        return ("cuda" if self.on_gpu else "cpu"), self.size

    def unload(self) -> None:
        llm = getattr(self.lm, "llm", None)
        if llm is not None and hasattr(llm, "close"):
            with self._turn:
                llm.close()

    def status(self) -> dict[str, Any]:
        return {"n_ctx": self.context_length, "backend": "llama.cpp"}


def load_tokenizer(path: Path) -> neural.TextTokenizer:
    """The file's tokenizer as transformers rebuilds it from the metadata (vocabulary, merges,
    control and user-defined tokens, ``tokenizer.chat_template``); BOS is prepended to plain
    prompts when the file asks (``tokenizer.ggml.add_bos_token``).

    Rebuilding a real model's 150,000-token vocabulary takes seconds, and registering a file
    (``validate``) is followed by loading it: the last few are kept, by path, size and
    modification time (a file replaced in place is read again)."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise refused_value(
            "data_unreadable",
            "{name}: cannot be read ({reason})",
            param="path",
            name=path.name,
            reason=str(exc.strerror),
        ) from None
    return _tokenizer(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=2)
def _tokenizer(path_name: str, size: int, mtime_ns: int) -> neural.TextTokenizer:
    load_transformers()
    from transformers import AutoTokenizer

    path = Path(path_name)
    neural.quiet_transformers()
    try:
        hf = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # ValueError, tokenizers' Exception, or its
        # pyo3 PanicException (a BaseException) on a malformed vocabulary: all the file's fault
        raise refused_value(
            "gguf_tokenizer",
            "{name}: its tokenizer cannot be rebuilt from the GGUF metadata ({reason})",
            param="path",
            name=path.name,
            reason=str(exc),
        ) from None
    _cut_as_sentencepiece(hf)
    return neural.TextTokenizer(hf, add_special_tokens=bool(getattr(hf, "add_bos_token", False)))


def _cut_as_sentencepiece(hf: Any) -> None:
    """A SentencePiece file (the "llama" vocabulary of Llama 2, Mistral-7B and their kind) is
    cut by llama.cpp as SentencePiece cuts it: a blank put before the text (and after each
    control token) unless the file's ``add_space_prefix`` says no, then every blank a ``▁``,
    so " Hi" is ``▁`` + ``▁Hi``. transformers rebuilds such a file with a Metaspace
    pre-tokenizer, which adds the first ``▁`` only when the text does not already start with a
    blank (" Hi" → ``▁Hi``), so the ids handed to llama.cpp were not the ones it would have
    made. That pre-tokenizer is replaced by SentencePiece's rule, keeping its prefix setting
    (from ``add_space_prefix``); vocabularies rebuilt otherwise are left as they are
    (tests/models/test_gguf_sentencepiece.py)."""
    from tokenizers import decoders, normalizers, pre_tokenizers

    backend = hf.backend_tokenizer
    metaspace = backend.pre_tokenizer
    if not isinstance(metaspace, pre_tokenizers.Metaspace):
        return
    prefix = metaspace.prepend_scheme != "never"
    replace = normalizers.Replace(" ", "▁")
    backend.normalizer = normalizers.Sequence(
        [normalizers.Prepend("▁"), replace] if prefix else [replace]
    )
    backend.pre_tokenizer = None
    strip = [decoders.Strip(" ", 1, 0)] if prefix else []
    backend.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), *strip]
    )


def load(config: dict[str, Any]) -> GGUFTextModel:
    if not available():
        raise refused_value(
            "gguf_needs_llama_cpp",
            "GGUF models need llama-cpp-python: pip install 'aigc[gguf]'",
            param="path",
            code="unsupported_model",
        )
    import llama_cpp

    cfg = GGUFConfig.from_config(config)
    layers = gpu_layers(cfg)
    # The context is chosen before loading: llama.cpp reserves its whole key/value cache.
    n_ctx = cfg.n_ctx or min(file_context(cfg.path) or DEFAULT_MAX_CONTEXT, DEFAULT_MAX_CONTEXT)
    tokenizer = load_tokenizer(cfg.path)
    try:
        llm = llama_cpp.Llama(
            model_path=str(cfg.path),
            n_ctx=n_ctx,
            n_threads=cfg.n_threads or os.cpu_count() or 1,
            n_batch=cfg.n_batch,
            n_gpu_layers=layers,
            logits_all=False,
            verbose=False,
        )
    except ValueError as exc:  # llama.cpp could not load it (its log says why)
        raise refused_value(
            "gguf_not_loaded",
            "{name}: llama.cpp cannot load it ({reason})",
            param="path",
            name=cfg.path.name,
            reason=str(exc),
        ) from None
    return GGUFTextModel(LlamaCppLM(llm), tokenizer, cfg.path.stat().st_size, on_gpu=layers != 0)


def file_context(path: Path) -> int | None:
    """The training context the file declares (``<architecture>.context_length``)."""
    import gguf

    reader = gguf.GGUFReader(str(path))
    arch = reader.get_field("general.architecture")
    if arch is None:
        return None
    length = reader.get_field(f"{arch.contents()}.context_length")
    return int(length.contents()) if length is not None else None


# --- registration ----------------------------------------------------------------------------


def is_gguf(path: Path) -> bool:
    """A regular file that starts with GGUF's magic bytes."""
    try:
        with path.open("rb") as f:
            return f.read(4) == MAGIC
    except OSError:
        return False


def validate(config: dict[str, Any]) -> None:
    """A GGUF model is one .gguf file under the import roots (the registry checks the roots)."""
    path = config.get("path")
    if not isinstance(path, str):
        raise InvalidRequest(
            "Give the .gguf file as config.path",
            param="config.path",
            code="missing_required_parameter",
        )
    for key in ("n_ctx", "n_threads", "n_gpu_layers"):
        value = config.get(key)
        low = -1 if key == "n_gpu_layers" else 1
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < low
        ):
            raise refused_value(
                "greater_than_equal", f"'{key}' " + "must be an integer ≥ {ge}", param=key, ge=low
            )
    file = Path(path)
    if not file.is_file() or not is_gguf(file):
        raise refused_value(
            "gguf_not_gguf", "{name}: not a GGUF file", param="path", name=file.name
        )
    if not available():
        raise refused_value(
            "gguf_needs_llama_cpp",
            "GGUF models need llama-cpp-python: pip install 'aigc[gguf]'",
            param="path",
            code="unsupported_model",
        )
    load_tokenizer(file)  # metadata only: a file we could not serve is refused now, not later


@functools.lru_cache(maxsize=64)
def _file_format(path: str, mtime: float) -> str | None:
    import gguf

    reader = gguf.GGUFReader(path)
    field = reader.get_field("tokenizer.chat_template")
    return tool_calls.format_of(field.contents() if field is not None else None)


def file_tool_format(path: str | None) -> str | None:
    """The tool-call format of the chat template in a GGUF's metadata (no model loaded)."""
    if not path or not Path(path).is_file():
        return None
    try:
        return _file_format(path, Path(path).stat().st_mtime)
    except (OSError, ValueError):
        return None


def capabilities_of(config: dict[str, Any]) -> frozenset[str]:
    """Function calling too when the file's chat template renders tools in a format we read."""
    return CAPABILITIES | {TOOLS} if file_tool_format(config.get("path")) else CAPABILITIES


FAMILY = register(
    Family(
        name="gguf",
        kind="text",
        loader=load,
        validate=validate,
        config_schema=CONFIG_SCHEMA,
        capabilities=CAPABILITIES,
        capabilities_of=capabilities_of,
        summary="A GGUF file (llama.cpp), registered by its path",
    )
)
