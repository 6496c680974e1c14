"""The engine's linear layers: the module's own weights, or a weight-only int8 copy.

Why int8: a decode step reads every weight once for a few rows of activations, so on a CPU it
is bound by memory bandwidth; int8 weights are a quarter of fp32's bytes. The product runs on
torch's weight-only int8 kernel (``torch._weight_int8pack_mm``: int8 weights, one scale per
output channel), which is fast with bfloat16 activations (with fp32 activations it falls back
to a slow path), so activations are rounded to bfloat16 for the product only; the rest of the
step (norms, attention, residuals) stays in the model's dtype.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

Linear = Callable[[torch.Tensor], torch.Tensor]

QUANTS = ("int8",)


class Int8Linear:
    """``y = x Wᵀ + b`` with W stored as int8 rows and one scale per row (symmetric)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        w = weight.detach().float()
        scale = w.abs().amax(dim=1).clamp(min=1e-8) / 127.0
        self.weight = (w / scale[:, None]).round_().clamp_(-127, 127).to(torch.int8)
        self.weight = self.weight.contiguous()
        self.compute = torch.bfloat16
        self.scale = scale.to(self.compute)
        self.bias = bias.detach() if bias is not None else None
        # The CPU kernel reads the inner dimension in steps of 16 (other sizes give NaN or
        # crash in torch 2.13), and is CPU-only.
        self.packed = weight.device.type == "cpu" and weight.shape[1] % 16 == 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        flat = x.reshape(-1, shape[-1]).to(self.compute)
        if self.packed:
            y = torch._weight_int8pack_mm(flat, self.weight, self.scale)
        else:  # no kernel for this shape or device: the weights widened for the product
            y = F.linear(flat, self.weight.to(self.compute) * self.scale[:, None])
        y = y.to(x.dtype).view(*shape[:-1], -1)
        return y + self.bias if self.bias is not None else y

    @property
    def nbytes(self) -> int:
        return self.weight.numel() + self.scale.numel() * self.scale.element_size()


def linear(module: Any, quant: str | None) -> Linear:
    """The projection of an ``nn.Linear`` as a function: its own tensors, or int8 ones."""
    if quant is None:
        return functools.partial(F.linear, weight=module.weight, bias=module.bias)
    if quant == "int8":
        return Int8Linear(module.weight, module.bias)
    raise ValueError(f"unknown quantization {quant!r}; known: {', '.join(QUANTS)}")


def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX-512 BF16 or AMX); elsewhere bf16
    weights are emulated and slower than fp32."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
