"""The engine's linear layers: the module's own weights, or an int8 copy.

Why int8: a decode step reads every weight once for a few rows of activations, so on a CPU it
is bound by memory bandwidth; int8 weights are a quarter of fp32's bytes. Two ways to multiply
by them, both with one scale per output channel:

- ``int8`` (weight-only): torch's weight-only int8 kernel (``torch._weight_int8pack_mm``),
  which is fast with bfloat16 activations (with fp32 ones it falls back to a slow path), so
  activations are rounded to bfloat16 for the product only. Fastest for one or two rows; for
  a batch of 16 decoding requests it is slower than a bfloat16 matrix product (the 151,936-row
  output layer of a Qwen2.5-0.5B: 54 ms against 25 ms on the 2-core benchmark machine).
- ``int8-dynamic``: each row of activations quantized to int8 on the fly (its own scale,
  symmetric, as llama.cpp's q8_0 does per block of 32) and multiplied on the CPU's integer
  dot-product units (``torch._int_mm``, int32 sums), then rescaled: 17 ms for that layer at
  16 rows, 9 ms at one. The integer sums are exact, so a row's result does not depend on what
  it is batched with. CPU only; elsewhere (or for a shape the kernel does not take) it falls
  back to the weight-only product.

The rest of the step (norms, attention, residuals) stays in the model's dtype.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

Linear = Callable[[torch.Tensor], torch.Tensor]

QUANTS = ("int8", "int8-dynamic")


class Int8Linear:
    """``y = x Wᵀ + b`` with W stored as int8 rows and one scale per row (symmetric)."""

    def __init__(
        self, weight: torch.Tensor, bias: torch.Tensor | None, dynamic: bool = False
    ) -> None:
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
        # int8-dynamic: torch's CPU integer product wants both sizes in steps of 8.
        self.dynamic = (
            dynamic
            and weight.device.type == "cpu"
            and weight.shape[0] % 8 == weight.shape[1] % 8 == 0
        )
        self.weight_t = self.weight.t()  # (in, out) for torch._int_mm; a view, no copy
        self.scale_f32 = scale

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        if self.dynamic:
            return self._dynamic(x.reshape(-1, shape[-1])).view(*shape[:-1], -1)
        flat = x.reshape(-1, shape[-1]).to(self.compute)
        if self.packed:
            y = torch._weight_int8pack_mm(flat, self.weight, self.scale)
        else:  # no kernel for this shape or device: the weights widened for the product
            y = F.linear(flat, self.weight.to(self.compute) * self.scale[:, None])
        y = y.to(x.dtype).view(*shape[:-1], -1)
        return y + self.bias if self.bias is not None else y

    def _dynamic(self, flat: torch.Tensor) -> torch.Tensor:
        """Rows quantized to int8 with a scale each, an int8 x int8 product, rescaled."""
        wide = flat.float()
        row_scale = wide.abs().amax(dim=1, keepdim=True).clamp_(min=1e-8) / 127.0
        rows = (wide / row_scale).round_().clamp_(-127, 127).to(torch.int8)
        y = torch._int_mm(rows, self.weight_t).float().mul_(row_scale).mul_(self.scale_f32)
        y = y.to(flat.dtype)
        return y + self.bias if self.bias is not None else y

    @property
    def nbytes(self) -> int:
        return self.weight.numel() + self.scale.numel() * self.scale.element_size()


def linear(module: Any, quant: str | None) -> Linear:
    """The projection of an ``nn.Linear`` as a function: its own tensors, or int8 ones."""
    if quant is None:
        return functools.partial(F.linear, weight=module.weight, bias=module.bias)
    if quant in QUANTS:
        return Int8Linear(module.weight, module.bias, dynamic=quant == "int8-dynamic")
    raise ValueError(f"unknown quantization {quant!r}; known: {', '.join(QUANTS)}")


def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX-512 BF16 or AMX); elsewhere bf16
    weights are emulated and slower than fp32."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
