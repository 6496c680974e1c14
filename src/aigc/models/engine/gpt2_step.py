"""A GPT-2 checkpoint's two passes in the engine, written out as a few tensor operations.

Why: in a decode step every request adds one token, so the batch's matrices are small and
the Hugging Face forward spends a large share of its time on generic work (cache objects,
mask building, attention dispatch, output objects); in a prefill its tanh GELU is five
elementwise passes over the largest activations. The engine runs GPT-2-architecture
checkpoints (ours and any local ``GPT2LMHeadModel``) through these passes instead, as vLLM
runs its own implementation of each architecture over the checkpoint's weights.

``prefill`` runs whole (left-padded) prompts and returns their keys/values; ``decode`` adds
one token to every row of the running batch, reading and extending its keys/values. The math
is GPT-2's, on the module's own parameters (no copy): pre-norm blocks, fused query/key/value
projection, causal attention, the model's activation (a fused kernel of the same formula
where there is one), tied output embedding. Any other architecture uses the generic path.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
import torch.nn.functional as F


class CacheLayer(Protocol):
    """One layer's keys/values of the running batch (``batch._SlotLayer``)."""

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]: ...


def supports(model: Any) -> bool:
    """A GPT-2 whose options this step reproduces exactly."""
    config = getattr(model, "config", None)
    return (
        getattr(config, "model_type", None) == "gpt2"
        and hasattr(model, "transformer")
        and hasattr(model, "lm_head")
        and not getattr(config, "add_cross_attention", False)
        and not getattr(config, "reorder_and_upcast_attn", False)
        and getattr(config, "scale_attn_weights", True)
    )


# Activations with a fused kernel of the same formula (transformers' "gelu_new" computes the
# tanh approximation in five Python-level operations).
_FUSED: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gelu": F.gelu,
    "gelu_new": functools.partial(F.gelu, approximate="tanh"),
    "gelu_pytorch_tanh": functools.partial(F.gelu, approximate="tanh"),
}


@dataclass(frozen=True)
class _Block:
    """One transformer block's parameters (the module's own tensors, read once: looking them
    up through ``nn.Module`` attributes every step cost more than some of the operations)."""

    ln1: tuple[torch.Tensor, torch.Tensor]
    qkv: tuple[torch.Tensor, torch.Tensor]  # Conv1D: weight [in, out], bias
    proj: tuple[torch.Tensor, torch.Tensor]
    ln2: tuple[torch.Tensor, torch.Tensor]
    fc: tuple[torch.Tensor, torch.Tensor]
    fc_out: tuple[torch.Tensor, torch.Tensor]
    act: Callable[[torch.Tensor], torch.Tensor]
    scale: float  # of the attention scores


class GPT2Step:
    """``prefill`` and ``decode`` over one GPT-2 model's parameters."""

    def __init__(self, model: Any) -> None:
        config = model.config
        body = model.transformer
        self.heads: int = config.n_head
        self.head_dim: int = config.n_embd // config.n_head
        self.width: int = self.heads * self.head_dim
        self.eps: float = config.layer_norm_epsilon
        self.wte, self.wpe = body.wte.weight, body.wpe.weight
        self.ln_f = (body.ln_f.weight, body.ln_f.bias)
        self.lm_head = model.lm_head.weight
        by_layer = getattr(config, "scale_attn_by_inverse_layer_idx", False)
        self.blocks = [
            _Block(
                ln1=(b.ln_1.weight, b.ln_1.bias),
                qkv=(b.attn.c_attn.weight, b.attn.c_attn.bias),
                proj=(b.attn.c_proj.weight, b.attn.c_proj.bias),
                ln2=(b.ln_2.weight, b.ln_2.bias),
                fc=(b.mlp.c_fc.weight, b.mlp.c_fc.bias),
                fc_out=(b.mlp.c_proj.weight, b.mlp.c_proj.bias),
                act=_FUSED.get(config.activation_function, b.mlp.act),
                scale=1.0 / math.sqrt(self.head_dim) / ((i + 1) if by_layer else 1),
            )
            for i, b in enumerate(body.h)
        ]

    def prefill(
        self, ids: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """Whole prompts, left-padded: ``ids``, ``positions``, ``mask`` [rows, length] (0 at
        padding) → the next-token logits of each row [rows, vocab] and every layer's keys
        and values [rows, heads, length, head_dim]."""
        rows, length = ids.shape
        # A position attends to the real positions up to itself; a padding position to itself
        # alone (a row with nothing to attend to is NaN on some attention kernels, and the
        # padding's keys/values are stored, as masked columns that must be finite).
        causal = torch.ones(length, length, dtype=torch.bool, device=ids.device).tril_()
        allowed = causal & (mask != 0)[:, None, None, :]
        allowed |= torch.eye(length, dtype=torch.bool, device=ids.device)
        x = (self.wte[ids] + self.wpe[positions]).view(-1, self.width)  # [rows × length, width]
        kv = []
        for block in self.blocks:
            qkv = self._qkv(block, x).view(rows, length, 3, self.heads, self.head_dim)
            q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # [rows, heads, length, head_dim]
            kv.append((k, v))
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, scale=block.scale)
            x = self._project_and_mlp(block, x, y.transpose(1, 2).reshape(-1, self.width))
        return self._logits(x.view(rows, length, self.width)[:, -1]), kv

    def decode(
        self,
        ids: torch.Tensor,
        positions: torch.Tensor,
        layers: Sequence[CacheLayer],
        mask: torch.Tensor | None,
    ) -> torch.Tensor:
        """One new token per row → next-token logits [rows, vocab]. ``ids``, ``positions``:
        [rows]; ``mask``: [rows, columns] with 0 at padding (None: no padding). Each layer's
        new key/value column is written into ``layers``."""
        rows = ids.shape[0]
        bias = None
        if mask is not None:  # padding columns get -inf before the softmax
            bias = torch.zeros(mask.shape, dtype=self.wte.dtype, device=mask.device)
            bias = bias.masked_fill_(mask == 0, -torch.inf)[:, None, None, :]
        x = self.wte[ids] + self.wpe[positions]  # [rows, width]
        for block, layer in zip(self.blocks, layers, strict=True):
            qkv = self._qkv(block, x).view(rows, 3, self.heads, 1, self.head_dim)
            q, k, v = qkv.unbind(1)
            keys, values = layer.update(k, v)  # [rows, heads, columns, head_dim]
            scores = torch.matmul(q, keys.transpose(-1, -2)).mul_(block.scale)
            if bias is not None:
                scores += bias
            y = torch.matmul(torch.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype), values)
            x = self._project_and_mlp(block, x, y.view(rows, self.width))
        return self._logits(x)

    def _qkv(self, block: _Block, x: torch.Tensor) -> torch.Tensor:
        """[n, width] → queries, keys and values side by side [n, 3 × width]."""
        h = F.layer_norm(x, (self.width,), *block.ln1, self.eps)
        return torch.addmm(block.qkv[1], h, block.qkv[0])

    def _project_and_mlp(self, block: _Block, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The rest of a block after attention (``y``, [n, width]): output projection and
        residual, then the MLP and its residual."""
        x = x + torch.addmm(block.proj[1], y, block.proj[0])
        h = F.layer_norm(x, (self.width,), *block.ln2, self.eps)
        h = block.act(torch.addmm(block.fc[1], h, block.fc[0]))
        return x + torch.addmm(block.fc_out[1], h, block.fc_out[0])

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        """[rows, width] → [rows, vocab], a transposed view (each row is strided)."""
        x = F.layer_norm(x, (self.width,), *self.ln_f, self.eps)
        # logits = x @ lm_headᵀ, computed as (lm_head @ xᵀ)ᵀ: the same products and sums, but
        # BLAS then splits the vocabulary (thousands of rows) rather than the batch (a few
        # rows) across its threads: the step's largest product, and the whole step at batch
        # 32 about 10 % faster on this project's 2-core machine. The results are identical.
        return torch.mm(self.lm_head, x.t()).t()
