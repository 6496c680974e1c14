"""The decode step of a GPT-2 checkpoint, written out as a few tensor operations.

Why: in a decode step every request adds one token, so the batch's matrices are small and
the Hugging Face forward spends a large share of its time on generic work (cache objects,
mask building, attention dispatch, output objects). The engine runs GPT-2-architecture
checkpoints (ours and any local ``GPT2LMHeadModel``) through this step instead, as vLLM runs
its own implementation of each architecture over the checkpoint's weights. Prefill still goes
through the model's own forward; the keys and values it produced are the ones read here.

The math is GPT-2's, on the module's own parameters (no copy): pre-norm blocks, fused
query/key/value projection, attention over the cached columns plus the new one, the model's
activation module, tied output embedding. Any other architecture uses the generic path.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import torch
import torch.nn.functional as F


class CacheLayer(Protocol):
    """One layer's keys/values of the running batch (the engine's ``_SlotLayer``)."""

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


class GPT2DecodeStep:
    """``step(ids, positions, layers, mask)`` → next-token logits [rows, vocab]."""

    def __init__(self, model: Any) -> None:
        config = model.config
        body = model.transformer
        self.heads: int = config.n_head
        self.head_dim: int = config.n_embd // config.n_head
        self.eps: float = config.layer_norm_epsilon
        self.wte, self.wpe = body.wte.weight, body.wpe.weight
        self.blocks = list(body.h)
        self.ln_f = body.ln_f
        self.lm_head = model.lm_head.weight
        by_layer = getattr(config, "scale_attn_by_inverse_layer_idx", False)
        self.scales = [
            1.0 / math.sqrt(self.head_dim) / ((i + 1) if by_layer else 1)
            for i in range(len(self.blocks))
        ]

    def __call__(
        self,
        ids: torch.Tensor,
        positions: torch.Tensor,
        layers: list[CacheLayer],
        mask: torch.Tensor | None,
    ) -> torch.Tensor:
        """``ids``, ``positions``: [rows]; ``mask``: [rows, columns] with 0 at padding (None:
        no padding). Each layer's new key/value column is written into ``layers``."""
        rows, width = ids.shape[0], self.heads * self.head_dim
        bias = None
        if mask is not None:  # padding columns get -inf before the softmax
            bias = torch.zeros(mask.shape, dtype=self.wte.dtype, device=mask.device)
            bias = bias.masked_fill_(mask == 0, -torch.inf)[:, None, None, :]
        x = self.wte[ids] + self.wpe[positions]  # [rows, width]
        for block, layer, scale in zip(self.blocks, layers, self.scales, strict=True):
            attn, mlp = block.attn, block.mlp
            h = F.layer_norm(x, (width,), block.ln_1.weight, block.ln_1.bias, self.eps)
            qkv = torch.addmm(attn.c_attn.bias, h, attn.c_attn.weight)
            q, k, v = qkv.view(rows, 3, self.heads, 1, self.head_dim).unbind(1)
            keys, values = layer.update(k, v)  # [rows, heads, columns, head_dim]
            scores = torch.matmul(q, keys.transpose(-1, -2)).mul_(scale)
            if bias is not None:
                scores += bias
            y = torch.matmul(torch.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype), values)
            x = x + torch.addmm(attn.c_proj.bias, y.view(rows, width), attn.c_proj.weight)
            h = F.layer_norm(x, (width,), block.ln_2.weight, block.ln_2.bias, self.eps)
            h = mlp.act(torch.addmm(mlp.c_fc.bias, h, mlp.c_fc.weight))
            x = x + torch.addmm(mlp.c_proj.bias, h, mlp.c_proj.weight)
        x = F.layer_norm(x, (width,), self.ln_f.weight, self.ln_f.bias, self.eps)
        return F.linear(x, self.lm_head)
