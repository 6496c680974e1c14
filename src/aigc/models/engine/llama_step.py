"""A Llama-style checkpoint's passes in the engine (Llama, Qwen2/2.5, Mistral), written out.

Why: as for GPT-2 (``gpt2_step``), a decode step's matrices are small and the Hugging Face
forward spends much of the step on generic work (cache objects, mask building, attention
dispatch, output objects). These architectures share one decoder: rotary positions, RMSNorm,
grouped-query attention and a SwiGLU MLP. Their differences are configuration, read from the
checkpoint: Qwen2's query/key/value biases (any projection's bias is used when it has one),
Mistral's sliding window (and Qwen2's per-layer one), the head size, the RMSNorm epsilon and
the rotary scaling (the cos/sin table comes from the model's own rotary module, so
``rope_theta`` and ``rope_scaling`` of the Llama-3, linear and YaRN kinds are the checkpoint's
own). Rotary kinds that change with the sequence length ("dynamic", "longrope") are not
reproduced: those checkpoints use the model's forward.

The projections hold copies of the weights where a copy multiplies faster (``quant.py``): int8
with one scale per output channel, or on a CPU the fp32/bf16 weights reordered for oneDNN;
the query/key/value projections are then stacked into one and the MLP's gate and up
projections into another (one product each). Elsewhere (a GPU; a CPU without oneDNN) the
passes run on the module's own parameters. The model's own projections stay, so its forward
still works, unless a loader that owns the model asks for ``release``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from aigc.models.engine import quant
from aigc.models.engine.gpt2_step import CacheLayer
from aigc.models.engine.quant import Linear, fused, linear

KV = list[tuple[torch.Tensor, torch.Tensor]]

FAMILIES = ("llama", "qwen2", "mistral")
_STATIC_ROPE = ("default", "linear", "llama3", "yarn")  # the table does not depend on length


def refusal(model: Any) -> str | None:
    """Why this model cannot take the written-out passes (None: it can)."""
    config = getattr(model, "config", None)
    kind = getattr(config, "model_type", None)
    if kind not in FAMILIES:
        return f"architecture {kind!r} is not one of {', '.join(FAMILIES)}"
    body = getattr(model, "model", None)
    if body is None or not hasattr(body, "layers") or not hasattr(model, "lm_head"):
        return "the checkpoint does not have the usual Llama module layout"
    rope = getattr(getattr(body, "rotary_emb", None), "rope_type", None)
    if rope not in _STATIC_ROPE:
        return f"rotary scaling {rope!r} changes with the sequence length"
    act = getattr(config, "hidden_act", "silu")
    if act not in ("silu", "swish"):
        return f"activation {act!r} is not SwiGLU's"
    return None


def supports(model: Any) -> bool:
    return refusal(model) is None


@dataclass(frozen=True)
class _Block:
    """One decoder layer's parameters, read once (attribute look-ups cost per step)."""

    ln1: torch.Tensor
    qkv: Linear  # queries, keys and values side by side: split by ``LlamaStep.qkv_sizes``
    o: Linear
    ln2: torch.Tensor
    gate_up: Linear  # the MLP's gate and up projections side by side (halves)
    down: Linear
    window: int | None  # sliding attention: a query sees the last ``window`` positions


class LlamaStep:
    """``prefill`` and ``decode`` over one Llama-style model's parameters."""

    def __init__(
        self, model: Any, max_positions: int, quant: str | None = None, release: bool = False
    ) -> None:
        """``release``: drop each model weight as soon as its copy exists (``_project``; for
        a loader that owns the model: the copies never sit beside the whole model)."""
        config = model.config
        body = model.model
        attn = body.layers[0].self_attn
        self.heads: int = config.num_attention_heads
        self.kv_heads: int = getattr(config, "num_key_value_heads", None) or self.heads
        self.head_dim: int = attn.head_dim
        self.groups = self.heads // self.kv_heads
        kv_width = self.kv_heads * self.head_dim
        self.qkv_sizes = (self.heads * self.head_dim, kv_width, kv_width)
        self.scale: float = getattr(attn, "scaling", 1.0 / math.sqrt(self.head_dim))
        self.eps: float = body.norm.variance_epsilon
        self.embed = body.embed_tokens.weight
        self.norm = body.norm.weight
        # Which model modules each projection stands for (``copied_bytes``, ``_project``).
        self._sources: list[tuple[Linear, list[Any]]] = []
        self._release = release
        self.released = 0  # bytes of model weights dropped
        self.lm_head = self._project([model.lm_head], linear(model.lm_head, quant))
        self.cos, self.sin = _rope_table(body.rotary_emb, max_positions, self.embed)
        self.blocks: list[_Block] = []
        for layer in body.layers:
            attn, mlp = layer.self_attn, layer.mlp
            qkv, gate_up = [attn.q_proj, attn.k_proj, attn.v_proj], [mlp.gate_proj, mlp.up_proj]
            self.blocks.append(
                _Block(
                    ln1=layer.input_layernorm.weight,
                    qkv=self._project(qkv, fused(qkv, quant)),
                    o=self._project([attn.o_proj], linear(attn.o_proj, quant)),
                    ln2=layer.post_attention_layernorm.weight,
                    gate_up=self._project(gate_up, fused(gate_up, quant)),
                    down=self._project([mlp.down_proj], linear(mlp.down_proj, quant)),
                    window=_window(config, layer),
                )
            )
        self.windowed = any(b.window is not None for b in self.blocks)

    @property
    def copied_bytes(self) -> int:
        """Bytes of the weight copies the projections hold (int8, or packed for oneDNN)."""
        return sum(quant.copy_bytes(projection) for projection, _ in self._sources)

    def _project(self, modules: list[Any], projection: Linear) -> Linear:
        """Record which model modules ``projection`` stands for; with ``release``, drop their
        weights now if it reads a copy (each becomes a "meta" tensor of the same shape and
        dtype: no memory; the model's forward then fails loudly instead of running on stale
        numbers). The embedding stays, with an output layer tied to it."""
        self._sources.append((projection, modules))
        if not (self._release and quant.copies(projection)):
            return projection
        for module in modules:
            weight = module.weight
            if weight is self.embed:
                continue
            self.released += weight.numel() * weight.element_size()
            module.weight = torch.nn.Parameter(
                torch.empty(weight.shape, dtype=weight.dtype, device="meta"),
                requires_grad=False,
            )
        return projection

    # --- the two passes -------------------------------------------------------------------

    def prefill(
        self,
        ids: torch.Tensor,
        positions: torch.Tensor,
        mask: torch.Tensor | None,
        past: KV | None = None,
        every_position: bool = False,
        past_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, KV]:
        """Prompts (or the next chunk of prompts): ``ids``, ``positions`` [rows, length],
        ``mask`` [rows, length] with 0 at left padding (None: no padding); ``past``: keys and
        values of the positions before, per layer [rows, kv_heads, P, head_dim], each row's
        starting at position 0, left-padded to a common P with ``past_mask`` [rows, P] (0 at
        padding; None: no padding). → next-token logits
        [rows, vocab] and every layer's keys/values, past included [rows, kv_heads, P +
        length, head_dim]; padding columns are finite (the running batch stores them).
        ``every_position``: the logits of every position [rows, length, vocab] (a loss)."""
        rows, length = ids.shape
        known = 0 if past is None else past[0][0].shape[2]
        total = known + length
        device = ids.device
        column = torch.arange(total, device=device)
        # Index-causal: query i (column known + i) sees the columns up to its own.
        allowed = column[None, :] <= (column[known:, None])  # [length, total]
        real = torch.ones(rows, total, dtype=torch.bool, device=device)
        if mask is not None:
            real[:, known:] = mask != 0
        if past_mask is not None:
            real[:, :known] = past_mask != 0
        allowed = allowed[None] & real[:, None, :]  # [rows, length, total]
        allowed |= column[None, None, :] == column[known:, None][None]  # padding sees itself
        windowed = None
        if self.windowed:
            if past_mask is None:
                past_pos = column[:known].expand(rows, known)
            else:
                past_pos = (past_mask.cumsum(-1) - 1).clamp(min=0)
            key_pos = torch.cat([past_pos, positions], dim=1)
            near = positions[:, :, None] - key_pos[:, None, :]
            windowed = [
                None if b.window is None else (allowed & (near < b.window))[:, None]
                for b in self.blocks
            ]
        allowed = allowed[:, None]  # one mask for every head
        cos, sin = self.cos[positions][:, None], self.sin[positions][:, None]
        x = self.embed[ids].view(rows * length, -1)
        kv: KV = []
        for i, block in enumerate(self.blocks):
            h = F.rms_norm(x, (x.shape[-1],), block.ln1, self.eps)
            q, k, v = block.qkv(h).split(self.qkv_sizes, dim=-1)
            q = q.view(rows, length, self.heads, self.head_dim).transpose(1, 2)
            k = k.view(rows, length, self.kv_heads, self.head_dim).transpose(1, 2)
            v = v.view(rows, length, self.kv_heads, self.head_dim).transpose(1, 2)
            q, k = _rotate(q, cos, sin), _rotate(k, cos, sin)
            if past is not None:
                k = torch.cat([past[i][0], k], dim=2)
                v = torch.cat([past[i][1], v], dim=2)
            kv.append((k, v))
            attn_mask = allowed if windowed is None or windowed[i] is None else windowed[i]
            y = F.scaled_dot_product_attention(
                q, k, v, attn_mask=attn_mask, scale=self.scale, enable_gqa=self.groups > 1
            )
            x = self._rest(block, x, y.transpose(1, 2).reshape(rows * length, -1))
        x = x.view(rows, length, -1)
        return self._logits(x if every_position else x[:, -1]), kv

    def decode(
        self,
        ids: torch.Tensor,
        positions: torch.Tensor,
        layers: Sequence[CacheLayer],
        mask: torch.Tensor | None,
    ) -> torch.Tensor:
        """One new token per row → next-token logits [rows, vocab]. ``ids``, ``positions``
        [rows]; ``mask`` [rows, columns] with 0 at padding, the new column included (None: no
        padding). Each layer's new key/value column is written into ``layers``."""
        rows = ids.shape[0]
        dtype = self.embed.dtype
        bias = None
        if mask is not None:
            bias = torch.zeros(mask.shape, dtype=dtype, device=mask.device)
            bias = bias.masked_fill_(mask == 0, -torch.inf)[:, None, None, :]
        window_bias: dict[int, torch.Tensor | None] = {}
        cos, sin = self.cos[positions][:, None, None], self.sin[positions][:, None, None]
        x = self.embed[ids]  # [rows, hidden]
        for block, layer in zip(self.blocks, layers, strict=True):
            h = F.rms_norm(x, (x.shape[-1],), block.ln1, self.eps)
            # Queries grouped by their key/value head: [rows, kv_heads, groups, head_dim].
            q, k, v = block.qkv(h).split(self.qkv_sizes, dim=-1)
            q = q.view(rows, self.kv_heads, self.groups, self.head_dim)
            k = k.view(rows, self.kv_heads, 1, self.head_dim)
            v = v.view(rows, self.kv_heads, 1, self.head_dim)
            q, k = _rotate(q, cos, sin), _rotate(k, cos, sin)
            keys, values = layer.update(k, v)  # [rows, kv_heads, columns, head_dim]
            scores = torch.matmul(q, keys.transpose(-1, -2)).mul_(self.scale)
            layer_bias = bias
            if block.window is not None:
                if block.window not in window_bias:
                    window_bias[block.window] = _window_bias(
                        positions, mask, keys.shape[2], block.window, dtype
                    )
                layer_bias = window_bias[block.window]
            if layer_bias is not None:
                scores += layer_bias
            probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
            y = torch.matmul(probs, values)  # [rows, kv_heads, groups, head_dim]
            x = self._rest(block, x, y.reshape(rows, -1))
        return self._logits(x)

    # --- pieces ---------------------------------------------------------------------------

    def _rest(self, block: _Block, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """After attention (``y`` [n, heads × head_dim]): output projection and residual,
        then the SwiGLU MLP and its residual."""
        x = x + block.o(y)
        h = F.rms_norm(x, (x.shape[-1],), block.ln2, self.eps)
        gate, up = block.gate_up(h).chunk(2, dim=-1)
        return x + block.down(F.silu(gate) * up)

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.lm_head(F.rms_norm(x, (x.shape[-1],), self.norm, self.eps))


def _window(config: Any, layer: Any) -> int | None:
    """The layer's sliding window: Qwen2 sets it per layer (``layer_types``), Mistral for all."""
    if config.model_type == "mistral":
        return getattr(config, "sliding_window", None) or None
    if config.model_type == "qwen2":
        return getattr(layer.self_attn, "sliding_window", None) or None
    return None


def _window_bias(
    positions: torch.Tensor, mask: torch.Tensor | None, columns: int, window: int, dtype: Any
) -> torch.Tensor:
    """-inf at padding and at keys ``window`` or more positions behind the row's query."""
    if mask is None:
        mask = torch.ones(positions.shape[0], columns, dtype=torch.long, device=positions.device)
    key_pos = mask.cumsum(-1) - 1
    keep = (mask != 0) & (positions[:, None] - key_pos < window)
    bias = torch.zeros(keep.shape, dtype=dtype, device=keep.device)
    return bias.masked_fill_(~keep, -torch.inf)[:, None, None, :]


def _rope_table(rotary: Any, positions: int, like: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """cos and sin [positions, head_dim] from the model's own rotary module (its theta, its
    scaling and its attention factor), computed once in slices."""
    cos, sin = [], []
    probe = torch.zeros(1, dtype=like.dtype, device=like.device)
    for start in range(0, positions, 8192):
        at = torch.arange(start, min(positions, start + 8192), device=like.device)[None]
        c, s = rotary(probe, at)
        cos.append(c[0])
        sin.append(s[0])
    return torch.cat(cos), torch.cat(sin)


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary positions, the halves convention of Hugging Face's Llama."""
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin
