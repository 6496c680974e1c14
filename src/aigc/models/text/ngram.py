"""The n-gram family: ``NGramLM`` (``ngram_lm.py``) served as a text model over a tokenizer,
trained as a job, declared as a ``Family`` and bootstrapped as the default ``ngram-pydoc``.

The language model itself (counting, modified Kneser-Ney, ARPA, scoring, sampling) knows
nothing of jobs, the registry or requests; this module is the glue between it and the platform.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from aigc.access import Principal
from aigc.config import Settings
from aigc.errors import refused_value
from aigc.infra.db import Database
from aigc.infra.jobs import JobContext
from aigc.infra.schema import Job, ModelRecord, new_id
from aigc.infra.storage import storage_for
from aigc.models import progress_lines as lines
from aigc.models.base import TextModelBase
from aigc.models.family import PATH_CONFIG, TEXT, Family, register
from aigc.models.progress_lines import Report, no_report
from aigc.models.protocols import TextRequest
from aigc.models.stopping import Ended
from aigc.models.text.arpa import BOS_ID, EOS_ID, UNK_ID
from aigc.models.text.data import (
    clean_text,
    corpus_stats,
    pydoc_texts,
    read_texts,
    split_train_val,
)
from aigc.models.text.ngram_lm import KENLM_FALLBACK, MAX_ORDER, NGramConfig, NGramLM
from aigc.models.text.submit import submit_training
from aigc.models.text.tokenizers import (
    HFTokenizer,
    Utf8Guard,
    byte_level_bytes,
    load_tokenizer,
    train_tokenizer,
)
from aigc.models.training import model_dir, publish_model

log = logging.getLogger("aigc.models.ngram")


# --- the platform: a text model over a tokenizer, training as a job, the default model ---------

SAMPLE_LIMIT = 512  # tokens, when a request sets no max_tokens


def arpa_word(token: str) -> str:
    """A tokenizer token as an ARPA word: whitespace (and the escape) written as \\uXXXX."""
    if not any(ch.isspace() or ch == "\\" for ch in token):
        return token
    return "".join(f"\\u{ord(ch):04x}" if ch.isspace() or ch == "\\" else ch for ch in token)


def token_of_arpa_word(word: str) -> str:
    return re.sub(r"\\u([0-9a-f]{4})", lambda m: chr(int(m.group(1), 16)), word)


class NGramTextModel(TextModelBase):
    """``TextModel`` over an ``NGramLM``: lines of text are its sentences.

    With a tokenizer, the model's words are the tokenizer's tokens (so byte-level BPE can write
    any character); without one (an ARPA file from KenLM) words are whitespace-separated.
    Completions continue the prompt's last line and go on line after line; chat answers one
    line. ``</s>`` ends a line.
    """

    context_length: int | None = None  # it reads the prompt's last line, whatever its length

    def __init__(
        self, lm: NGramLM, tokenizer: HFTokenizer | None = None, lowercase: bool = False
    ) -> None:
        self.lm = lm
        self.tokenizer = tokenizer
        self.lowercase = lowercase
        self._utf8: Utf8Guard | None = None
        if tokenizer is not None:
            self._lm_id = np.full(tokenizer.vocab_size, UNK_ID, np.int64)
            self._token_id = np.full(lm.vocab_size, -1, np.int64)
            for word, lm_id in lm.index.items():
                token_id = tokenizer.backend.token_to_id(token_of_arpa_word(word))
                if lm_id > EOS_ID and token_id is not None:
                    self._lm_id[token_id] = lm_id
                    self._token_id[lm_id] = token_id
            if tokenizer.kind == "bpe":
                words = [token_of_arpa_word(w) for w in lm.vocab[EOS_ID + 1 :]]
                tokens = [None] * (EOS_ID + 1) + [byte_level_bytes(w) for w in words]
                self._utf8 = Utf8Guard(tokens, end_id=EOS_ID)

    @classmethod
    def load(cls, path: Path) -> NGramTextModel:
        """A model folder (model.npz or model.arpa, tokenizer.json optional) or an .arpa file."""
        path = Path(path)
        if path.is_file():
            return cls(NGramLM.load_arpa(path))
        if not path.is_dir():
            raise refused_value(
                "data_not_found", "No n-gram model at {name}", param="path", name=path.name
            )
        if (path / "model.npz").is_file():
            lm = NGramLM.load(path / "model.npz")
        elif (path / "model.arpa").is_file():
            lm = NGramLM.load_arpa(path / "model.arpa")
        else:
            raise refused_value(
                "model_folder_lacks",
                "An n-gram model folder holds model.arpa",
                param="path",
                folder=path.name,
                file="model.arpa",
            )
        tokenizer = load_tokenizer(path) if (path / "tokenizer.json").is_file() else None
        settings = path / "ngram.json"
        lowercase = settings.is_file() and json.loads(settings.read_text()).get("lowercase", False)
        return cls(lm, tokenizer, lowercase=bool(lowercase))

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.lm.save_arpa(directory / "model.arpa")
        self.lm.save(directory / "model.npz")
        if self.tokenizer is not None:
            self.tokenizer.save(directory)

    def count_tokens(self, text: str) -> int:
        if self.tokenizer is None:
            return len(text.split())
        return len(self.tokenizer.encode(text))

    # --- generation ------------------------------------------------------------------------

    def generate(self, request: TextRequest) -> Iterator[str]:
        chat = request.prompt is None
        line = "" if chat else (request.prompt or "").rsplit("\n", 1)[-1]
        line = line.lower() if self.lowercase else line
        prompt = self._tokens(line)  # the tokenizer's ids of the line to continue
        ids: list[int] = []  # model ids sampled on the current line
        shown = ""
        need = 0  # UTF-8 continuation bytes the line still owes (byte-level BPE)
        # numpy seeds are unsigned; a request's seed may be negative (as vLLM's may).
        rng = np.random.default_rng(None if request.seed is None else request.seed % 2**64)
        for _ in range(request.max_tokens or SAMPLE_LIMIT):
            word = self.lm.sample(
                [BOS_ID, *self._model_ids(prompt), *ids],
                rng,
                temperature=request.temperature,
                top_k=request.top_k,
                top_p=request.top_p,
                allowed=None if self._utf8 is None else self._utf8.allowed[need],
            )
            if word == EOS_ID:
                if chat and ids:
                    yield Ended("stop")  # chat answers one line: it ended by itself
                    return
                if not chat:
                    yield "\n"
                prompt, ids, shown, line, need = [], [], "", "", 0
                continue
            ids.append(word)
            if self._utf8 is not None:
                need = self._utf8.need_after(need, word)
            text = self._continuation(prompt, ids, line)
            if text.endswith("\ufffd"):
                continue  # a character split across byte-level tokens: wait for the rest
            if len(text) > len(shown):
                yield text[len(shown) :]
                shown = text
        yield Ended("length")  # the loop ran out: max_tokens, not the model, ended the text

    def _tokens(self, line: str) -> list[int]:
        if not line:
            return []
        return self.lm.ids(line.split()) if self.tokenizer is None else self.tokenizer.encode(line)

    def _model_ids(self, tokens: list[int]) -> list[int]:
        return tokens if self.tokenizer is None else self._lm_id[tokens].tolist()

    def _continuation(self, prompt: list[int], ids: list[int], line: str) -> str:
        """The new text after the prompt's line, decoded as a whole so merges stay right."""
        if self.tokenizer is None:
            return (" " if prompt else "") + " ".join(self.lm.vocab[i] for i in ids)
        decode = self.tokenizer.decode
        full = decode(prompt + self._token_id[ids].tolist(), skip_special_tokens=True)
        return full[len(line) :] if full.startswith(line) else decode(self._token_id[ids].tolist())


class NGramParams(BaseModel):
    """The training parameters of an n-gram model: defaults and ranges, read by submission
    (``POST /api/train``), ``aigc train ngram`` and the console's form."""

    model_config = ConfigDict(extra="forbid")

    order: int = Field(default=4, ge=1, le=MAX_ORDER, description="n of the n-grams")
    tokenizer: Literal["char", "word", "bpe"] = "bpe"
    vocab_size: int | None = Field(
        default=None, ge=8, le=200_000, description="BPE vocabulary (default 4,000)"
    )
    val_fraction: float = Field(default=0.1, ge=0.0, le=0.5, description="Held-out documents")
    seed: int = Field(default=0, ge=0, le=2**53 - 1, description="Document split")  # JSON-exact
    discount_fallback: bool = Field(default=True, description="KenLM's --discount_fallback")
    lowercase: bool = Field(default=False, description="Train (and read prompts) in lower case")


class TrainParams(NGramParams):
    """What ``train-ngram`` needs; ``paths`` are the data files, resolved (and checked) at submit
    by ``models.text.submit.submit_training`` (``POST /api/train``, ``aigc train ngram``)."""

    file_ids: list[str] | None = None
    data_path: str | None = None
    paths: list[str] = Field(default_factory=list)


def start_ngram_training(
    session: Session,
    principal: Principal,
    name: str,
    params: TrainParams,
    *,
    data_dir: Path,
    import_roots: list[Path],
    shared: bool = False,
) -> tuple[ModelRecord, Job]:
    """Check the data (the caller's uploads or an allowed server path) and queue the job."""
    return submit_training(
        session,
        principal,
        family="ngram",
        name=name,
        params=params.model_dump(exclude={"file_ids", "data_path", "paths"}, exclude_none=True),
        file_ids=params.file_ids,
        data_path=params.data_path,
        data_dir=data_dir,
        import_roots=import_roots,
        shared=shared,
    )


def train_on_texts(
    docs: list[str],
    params: TrainParams,
    out_dir: Path,
    progress: Report | None = None,
) -> dict[str, Any]:
    """Tokenizer, model, validation perplexity; files in ``out_dir``; returns the config."""
    report = progress or no_report
    started = time.perf_counter()
    if params.lowercase:
        docs = [doc.lower() for doc in docs]
    train_docs, val_docs = split_train_val(docs, params.val_fraction, params.seed)
    stats = corpus_stats(train_docs, val_docs)
    report(0.1, "training the tokenizer", lines.LEARNING_TOKENIZER)
    tokenizer = train_tokenizer(params.tokenizer, train_docs, params.vocab_size)
    words = [arpa_word(tokenizer.id_to_token(i)) for i in range(tokenizer.vocab_size)]

    def sentences(texts: list[str]) -> list[list[str]]:
        lines = [line for text in texts for line in text.split("\n") if line.strip()]
        return [[words[i] for i in ids] for ids in tokenizer.encode_batch(lines)]

    report(0.3, "counting n-grams", lines.COUNTING_NGRAMS)
    fallback = KENLM_FALLBACK if params.discount_fallback else None
    lm = NGramLM.train(sentences(train_docs), NGramConfig(params.order, fallback))
    report(0.8, "validating", lines.VALIDATING)
    held_out = sentences(val_docs)
    ppl = lm.perplexity(held_out) if held_out else None
    model = NGramTextModel(lm, tokenizer, lowercase=params.lowercase)
    model.save(out_dir)
    config: dict[str, Any] = {
        "path": str(out_dir),
        "order": params.order,
        "tokenizer": params.tokenizer,
        "lowercase": params.lowercase,
        "vocab_size": tokenizer.vocab_size,
        "val_perplexity": round(ppl.perplexity, 4) if ppl else None,
        "val_tokens": ppl.tokens if ppl else 0,
        "ngrams": lm.report.counts,
        "discount_fallback_orders": lm.report.fallback_orders,
        "corpus": stats.as_dict(),
        "train_seconds": round(time.perf_counter() - started, 3),
    }
    (out_dir / "ngram.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    ppl_shown = config["val_perplexity"]
    report(
        1.0,
        f"validation perplexity {ppl_shown}",
        lines.DONE_PERPLEXITY,
        {"perplexity": ppl_shown},
    )
    return config


def _train_job(ctx: JobContext, out_dir: Path) -> dict[str, Any]:
    params = TrainParams(**{k: v for k, v in ctx.params.items() if k != "model_record_id"})
    ctx.progress(0.02, "reading the data", lines.READING_DATA)
    skipped: list[str] = []
    docs = read_texts([Path(p) for p in params.paths], skipped)
    if not docs:
        raise refused_value("training_data_empty", "The training data holds no text", param="data")
    config = train_on_texts(docs, params, out_dir, ctx.progress)
    return config | ({"skipped_files": skipped} if skipped else {})


def _validate_config(config: dict[str, Any]) -> None:
    path = Path(str(config.get("path", "")))
    if not (path.is_file() or (path / "model.arpa").is_file() or (path / "model.npz").is_file()):
        raise refused_value(
            "ngram_path",
            "An n-gram model needs config.path: an ARPA file or a folder with model.arpa",
            param="config",
        )


# --- the default model: ngram-pydoc ------------------------------------------------------------

DEFAULT_NAME = "ngram-pydoc"
DEFAULT_PARAMS = TrainParams(order=4, tokenizer="bpe", vocab_size=4000)


def bootstrap_default(db: Database, settings: Settings) -> None:
    """Train ``ngram-pydoc`` in place (well under a second) unless it is there and ready."""
    with db.session() as session:
        record = session.scalar(
            select(ModelRecord).where(
                ModelRecord.name == DEFAULT_NAME, ModelRecord.tenant_id.is_(None)
            )
        )
        path = Path(str((record.config or {}).get("path", ""))) if record else None
        storage = (record.config or {}).get("storage") if record else None
        store = storage_for(settings)
        # One key's existence, not a listing of the folder (a paginated S3 call every start).
        prefix = str(storage.get("prefix", "")).rstrip("/") if isinstance(storage, dict) else ""
        stored = bool(prefix) and store.exists(f"{prefix}/ngram.json")
        if record is not None and record.status == "ready" and (stored or (path and path.is_dir())):
            return  # in the blob store (every instance loads it from there), or here
        if record is None:
            record = ModelRecord(
                id=new_id("mdl_"), tenant_id=None, name=DEFAULT_NAME, family="ngram", config={}
            )
            session.add(record)
            session.flush()
        out_dir = model_dir(settings.data_dir, record.id)
        out_dir.mkdir(parents=True, exist_ok=True)
        config = train_on_texts([clean_text(t) for t in pydoc_texts()], DEFAULT_PARAMS, out_dir)
        record.config = config | publish_model(store, out_dir, record.id)
        record.status, record.status_detail = "ready", ""
    log.info("trained the default model %s", DEFAULT_NAME)


FAMILY = register(
    Family(
        name="ngram",
        kind="text",
        from_folder=True,
        loader=lambda config: NGramTextModel.load(Path(config["path"])),
        validate=_validate_config,
        config_schema=PATH_CONFIG,
        capabilities=TEXT,
        summary="Train an n-gram model (modified Kneser-Ney), e.g. -p order=5.",
        params=NGramParams,
        trainer=_train_job,
        bootstrap=bootstrap_default,
    )
)
