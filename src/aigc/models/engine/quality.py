"""What a lower precision costs: a small Llama trained on the project's own text, and its
validation loss through the engine's passes in fp32 and in the precision under test.

Why train one: random weights say nothing about quality (every output is noise either way);
a model that has learned something shows whether int8 weights lose it. The corpus is the one
the default models train on, the ``pydoc`` help topics that ship with CPython (no download):
documents alternate into training and validation (every tenth one is held out), read as UTF-8
bytes (a 256-token vocabulary, no tokenizer to train).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from aigc.infra.hf_import import load_transformers
from aigc.models.engine.llama_step import LlamaStep
from aigc.models.text.data import clean_text, pydoc_texts


@dataclass
class Corpus:
    train: torch.Tensor  # byte ids, documents joined by a newline
    valid: torch.Tensor


def pydoc_corpus() -> Corpus:
    docs = [t for t in (clean_text(x) for x in pydoc_texts()) if t.strip()]
    train = "\n".join(d for i, d in enumerate(docs) if i % 10 != 9)
    valid = "\n".join(d for i, d in enumerate(docs) if i % 10 == 9)

    def ids(text: str) -> torch.Tensor:
        return torch.tensor(list(text.encode("utf-8")), dtype=torch.long)

    return Corpus(ids(train), ids(valid))


def train_llama(
    corpus: Corpus,
    *,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int = 2,
    context: int = 128,
    steps: int = 200,
    batch: int = 16,
    lr: float = 3e-3,
    seed: int = 0,
) -> Any:
    """A ``LlamaForCausalLM`` (grouped-query attention, SwiGLU, RMSNorm, RoPE) trained on
    random windows of the training text with AdamW and a cosine schedule."""
    load_transformers()
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=256,
        hidden_size=hidden,
        intermediate_size=hidden * 8 // 3 // 16 * 16,  # SwiGLU's usual ⅔ of 4×, by 16
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=context,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda i: 0.5 * (1 + math.cos(math.pi * min(i, steps) / steps))
    )
    rng = random.Random(seed)
    data = corpus.train
    for _ in range(steps):
        starts = [rng.randrange(len(data) - context - 1) for _ in range(batch)]
        window = torch.stack([data[s : s + context + 1] for s in starts])
        logits = model(window[:, :-1]).logits
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), window[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
    return model.eval()


@torch.inference_mode()
def validation_loss(
    model: Any, corpus: Corpus, quant: str | None = None, max_tokens: int = 32768
) -> float:
    """Mean next-byte cross-entropy over the held-out text, in windows of the model's
    context, through the engine's Llama passes (``quant``: their weights' precision)."""
    context = model.config.max_position_embeddings
    step = LlamaStep(model, context, quant)
    data = corpus.valid[: max_tokens + 1]
    windows = (len(data) - 1) // context
    ids = data[: windows * context].view(windows, context)
    targets = data[1 : windows * context + 1].view(windows, context)
    positions = torch.arange(context).expand(windows, context)
    total = 0.0
    for start in range(0, windows, 16):
        rows = slice(start, start + 16)
        logits, _ = step.prefill(ids[rows], positions[rows], None, every_position=True)
        loss = F.cross_entropy(
            logits.float().flatten(0, 1), targets[rows].flatten(), reduction="sum"
        )
        total += float(loss)
    return total / (windows * context)
