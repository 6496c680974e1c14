"""The embedding model as ONNX: exported here from the shipped weights, run by ONNX Runtime.

Why: ingestion spends almost all its time embedding (about 95% on the financebench filings),
and PyTorch on two CPU cores embeds a 200-token chunk several times slower than ONNX Runtime
does with the same weights. sentence-transformers' own ``backend="onnx"`` goes through
optimum-onnx, which requires ``transformers<4.58`` (we run 5.x); so the export is done
here with ``torch.onnx.export`` and the graph is run with ONNX Runtime directly.

The exported graph is the whole sentence-transformers pipeline of a BERT-style model: the
transformer, mean pooling over the attention mask and L2 normalisation, so its output is the
sentence vector itself. ``fp32`` gives the same vectors as PyTorch (cosine > 0.9999); ``int8``
(dynamic quantization of the weight matrices, per channel) is faster and a little different,
so its vectors are never mixed with float ones (see ``Embedder.signature``).

Nothing is downloaded: the export reads the local model directory and is cached under the
data directory (``models/onnx/<source checksum>-<precision>/``) with a manifest holding the
file's SHA-256; a missing, truncated or altered file is rebuilt. Exporting takes ~10 s once.
"""

from __future__ import annotations

import fcntl
import inspect
import json
import logging
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aigc.infra.hf_import import load_transformers

log = logging.getLogger("aigc.knowledge")

PRECISIONS = ("fp32", "int8")
EXPORT_VERSION = 1  # bump when the exported graph changes: old caches are then rebuilt
OPSET = 17


class OnnxUnsupported(RuntimeError):
    """This model directory is not one the exporter handles (not mean pooling, extra layers)."""


def onnx_supported(model_dir: Path) -> bool:
    """Whether the directory is a Transformer → mean Pooling (→ Normalize) model: the shape the
    exported graph reproduces. Anything else keeps running on PyTorch."""
    try:
        modules = json.loads((model_dir / "modules.json").read_text())
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        if kinds not in (["Transformer", "Pooling", "Normalize"], ["Transformer", "Pooling"]):
            return False
        pooling = next(m["path"] for m in modules if m["type"].endswith("Pooling"))
        config = json.loads((model_dir / pooling / "config.json").read_text())
    except (OSError, ValueError, KeyError, StopIteration):
        return False
    modes = [k for k, v in config.items() if k.startswith("pooling_mode") and v]
    return modes == ["pooling_mode_mean_tokens"] and (model_dir / "tokenizer.json").is_file()


def max_seq_length(model_dir: Path) -> int:
    """The length sentence-transformers truncates to (``sentence_bert_config.json``)."""
    try:
        config = json.loads((model_dir / "sentence_bert_config.json").read_text())
        return int(config["max_seq_length"])
    except (OSError, ValueError, KeyError):
        return 512


# --- export ---------------------------------------------------------------------------------


def export_path(cache_root: Path, source_sha256: str, precision: str) -> Path:
    """Where the export of these weights at this precision lives."""
    return Path(cache_root) / f"{source_sha256[:16]}-v{EXPORT_VERSION}-{precision}" / "model.onnx"


def _file_sha256(path: Path) -> str:
    from aigc.knowledge.embed import file_sha256

    return file_sha256(path)


def cached_export(path: Path) -> bool:
    """Whether ``path`` is a complete export: present and matching its manifest's checksum."""
    manifest = path.parent / "manifest.json"
    try:
        expected = json.loads(manifest.read_text())["sha256"]
    except (OSError, ValueError, KeyError):
        return False
    return path.is_file() and _file_sha256(path) == expected


def ensure_export(model_dir: Path, cache_root: Path, source_sha256: str, precision: str) -> Path:
    """The ONNX file for these weights, exported (and quantized) now if it is not cached.

    One exporter at a time (a file lock, so a server and a job runner do not both export);
    written to a temporary folder and renamed into place, so a reader never sees half a file."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    path = export_path(cache_root, source_sha256, precision)
    if cached_export(path):
        return path
    path.parent.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent.parent / ".export.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if cached_export(path):  # another process finished it while we waited
                return path
            tmp = Path(tempfile.mkdtemp(dir=path.parent.parent, prefix=".export-"))
            try:
                float_file = tmp / "float.onnx"
                _export_float(model_dir, float_file)
                out = tmp / "model.onnx"
                if precision == "int8":
                    _quantize_int8(float_file, out)
                    float_file.unlink()
                else:
                    float_file.rename(out)
                manifest = {
                    "source": str(model_dir),
                    "source_sha256": source_sha256,
                    "precision": precision,
                    "export_version": EXPORT_VERSION,
                    "sha256": _file_sha256(out),
                }
                (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
                shutil.rmtree(path.parent, ignore_errors=True)  # a broken earlier export
                tmp.rename(path.parent)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    log.info("exported the embedding model to ONNX (%s): %s", precision, path)
    return path


def _export_float(model_dir: Path, out: Path) -> None:
    """Transformer + mean pooling + normalisation as one float32 ONNX graph."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    load_transformers()
    from transformers import AutoModel

    model = AutoModel.from_pretrained(
        str(model_dir), local_files_only=True, attn_implementation="eager"
    ).eval()
    with_types = "token_type_ids" in inspect.signature(model.forward).parameters
    graph = _pooled_module()(model, with_types)
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if with_types else [])
    example = tuple(torch.ones(2, 8, dtype=torch.long) for _ in names)
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on shapes it fixes: none apply
        torch.onnx.export(
            graph,
            example,
            str(out),
            dynamo=False,  # the TorchScript exporter: no onnxscript, dynamic axes as given
            input_names=names,
            output_names=["sentence_embedding"],
            dynamic_axes={**axes, "sentence_embedding": {0: "batch"}},
            opset_version=OPSET,
        )


def _pooled_module() -> type:
    import torch

    class Pooled(torch.nn.Module):
        """The model's last hidden state, mean-pooled over real tokens, L2-normalised."""

        def __init__(self, model: Any, with_types: bool) -> None:
            super().__init__()
            self.model = model
            self.with_types = with_types

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None) -> Any:
            extra = {"token_type_ids": token_type_ids} if self.with_types else {}
            hidden = self.model(
                input_ids=input_ids, attention_mask=attention_mask, **extra
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2.0, dim=1)

    return Pooled


def _quantize_int8(src: Path, out: Path) -> None:
    """Weights of the matrix products as int8, per output channel (activations stay dynamic).

    Per-tensor int8 moved vectors too far (cosine to float 0.92–0.95 on financebench chunks);
    per channel keeps them at 0.99. Embedding lookups (Gather) are left in float."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(src),
        str(out),
        op_types_to_quantize=["MatMul"],
        per_channel=True,
        weight_type=QuantType.QInt8,
    )


# --- running --------------------------------------------------------------------------------


class OnnxEncoder:
    """Texts to normalised vectors with ONNX Runtime and the model's own fast tokenizer.

    Texts are sorted by length and batched, so a batch pads to about its own length instead
    of the longest text's; results come back in the caller's order."""

    def __init__(self, onnx_file: Path, model_dir: Path, threads: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or 0  # 0: one per physical core
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # No busy-waiting between operators: on a shared CPU it burns time others need
        # (measured: ~8% less CPU per text, the same wall time).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            str(onnx_file), options, providers=["CPUExecutionProvider"]
        )
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.max_seq_length = max_seq_length(model_dir)
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.max_seq_length)
        self.tokenizer.no_padding()
        self._counter = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._counter.no_truncation()
        self._counter.no_padding()
        self._lock = threading.Lock()
        self.dim = int(self.session.get_outputs()[0].shape[-1] or self.encode(["x"]).shape[1])

    def count_tokens(self, text: str) -> int:
        return len(self._counter.encode(text, add_special_tokens=False).ids)

    def vocab_size(self) -> int:
        return int(self._counter.get_vocab_size(with_added_tokens=True))

    def decode(self, ids: list[int]) -> str:
        return str(self._counter.decode(ids, skip_special_tokens=True))

    def token_ids(self, text: str) -> list[int]:
        return list(self._counter.encode(text, add_special_tokens=False).ids)

    def special_ids(self) -> frozenset[int]:
        added = self._counter.get_added_tokens_decoder()
        return frozenset(i for i, token in added.items() if token.special)

    def continues_word(self, token_id: int) -> bool:
        prefix = getattr(self._counter.model, "continuing_subword_prefix", None)
        if not isinstance(prefix, str) or not prefix:
            return False  # not WordPiece: no piece continues a word
        return str(self._counter.id_to_token(token_id)).startswith(prefix)

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = np.zeros((len(texts), 0), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                n = len(encodings[i].ids)
                ids[r, :n] = encodings[i].ids
                mask[r, :n] = 1
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.inputs:
                feed["token_type_ids"] = np.zeros_like(ids)
            with self._lock:  # one run at a time: each already uses every core
                vectors = self.session.run(None, feed)[0]
            if not out.shape[1]:
                out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
            out[rows] = vectors
        return out
