"""The engine's linear layers: the module's own weights, or a copy that multiplies faster.

fp32 and bf16 on a CPU with oneDNN (every x86 build of torch has it): the weights reordered
once into oneDNN's blocked layout (``PackedLinear``, a copy; a loader that owns the model
drops the module's own, ``Engine(owns_model=True)``). On the 2-core benchmark machine a
Qwen2.5-0.5B decode step's products (24 layers and the output layer, cold caches) take,
against ``F.linear`` on the module's weights: bf16 one row 65 → 44 ms, sixteen rows 108 → 56;
fp32 sixteen rows 340 → 105 (one row 77 ms, as MKL's best below). Elsewhere fp32 runs on the
module's own weights as ``(W xᵀ)ᵀ`` rather than ``x Wᵀ`` for up to a few hundred rows
(``CpuFloatLinear``): the same product, which MKL blocks better for the few rows of a decode
step (one row 141 → 94 ms, sixteen 313 → 232); one row is sent as two copies of itself, MKL's
one-column product being its slow path.

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
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

import torch
import torch.nn.functional as F

Linear = Callable[[torch.Tensor], torch.Tensor]

QUANTS = ("int8", "int8-dynamic")


class CpuFloatLinear:
    """``y = x Wᵀ + b`` over the module's own fp32 weights (no copy), as ``(W xᵀ)ᵀ``."""

    MAX_ROWS = 512  # above this (a long prompt's prefill) ``F.linear`` is as fast

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        self.weight = weight.detach()
        self.bias = bias.detach() if bias is not None else None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        flat = x.reshape(-1, shape[-1])
        rows = flat.shape[0]
        if rows > self.MAX_ROWS:
            return F.linear(x, self.weight, self.bias)
        columns = (flat if rows > 1 else flat.repeat(2, 1)).t()
        y = torch.mm(self.weight, columns).t()[:rows].contiguous()
        if self.bias is not None:
            y += self.bias
        return y.view(*shape[:-1], -1)


class PackedLinear:
    """``y = x Wᵀ + b`` on oneDNN, W reordered once into the layout its kernels read (a copy
    in the weights' dtype; the bias is the module's own). Any number of rows: the layout is
    chosen for ``PACK_ROWS`` but serves one row and a long prompt alike."""

    PACK_ROWS = 64  # one row and sixteen are within a few % of their own best layout

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        dense = weight.detach().contiguous()
        self.weight = torch.ops.mkldnn._reorder_linear_weight(dense, self.PACK_ROWS)
        self.bias = bias.detach().contiguous() if bias is not None else None
        self._shape = (dense.shape[0], dense.shape[1])
        self._itemsize = dense.element_size()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        flat = x.reshape(-1, shape[-1]).contiguous()
        y = torch.ops.mkldnn._linear_pointwise(flat, self.weight, self.bias, "none", [], "")
        return y.view(*shape[:-1], -1)

    @property
    def nbytes(self) -> int:
        return self._shape[0] * self._shape[1] * self._itemsize


def packable(weight: torch.Tensor) -> bool:
    """Whether ``PackedLinear`` takes this weight: on a CPU with oneDNN, fp32, or bf16 where
    the CPU multiplies bf16 natively (oneDNN's emulation elsewhere is slower than MKL)."""
    if not PACKING or weight.device.type != "cpu" or not torch.backends.mkldnn.is_available():
        return False
    return weight.dtype == torch.float32 or (weight.dtype == torch.bfloat16 and cpu_has_bf16())


PACKING = True  # off: fp32 and bf16 on the module's own weights (to measure one against the other)


class Int8Linear:
    """``y = x Wᵀ + b`` with W stored as int8 rows and one scale per row (symmetric).

    ``kernel`` says how it multiplies: ``fbgemm`` or ``int_mm`` (int8-dynamic), ``weight-only``
    (int8), or ``widened`` (no int8 kernel for this shape or device: the weights widened to
    bfloat16 for the product)."""

    def __init__(
        self, weight: torch.Tensor, bias: torch.Tensor | None, dynamic: bool = False
    ) -> None:
        w = weight.detach().float()
        scale = w.abs().amax(dim=1).clamp(min=1e-8) / 127.0
        self.weight = (w / scale[:, None]).round_().clamp_(-127, 127).to(torch.int8)
        self.weight = self.weight.contiguous()
        self.compute = torch.bfloat16
        self.bias = bias.detach() if bias is not None else None
        on_cpu = weight.device.type == "cpu"
        self.fbgemm = _fbgemm_pack(self.weight, scale) if dynamic and on_cpu else None
        if self.fbgemm is not None:
            self.kernel = "fbgemm"
        # torch's CPU integer product wants both sizes in steps of 8.
        elif dynamic and on_cpu and weight.shape[0] % 8 == weight.shape[1] % 8 == 0:
            self.kernel = "int_mm"
        # The weight-only kernel reads the inner dimension in steps of 16 (other sizes give
        # NaN or crash in torch 2.13), and is CPU-only.
        elif on_cpu and weight.shape[1] % 16 == 0:
            self.kernel = "weight-only"
        else:
            self.kernel = "widened"
        # The per-row scales as the product reads them: float32 for the integer product,
        # in the compute type for the others (fbgemm's packed weights hold their own).
        self.scale = scale if self.dynamic else scale.to(self.compute)
        if self.fbgemm is not None:  # the packed copy is all the product reads
            self.weight = self.weight[:0]
        self._shape = (weight.shape[0], weight.shape[1])

    @property
    def dynamic(self) -> bool:
        """Whether activations are quantized too (int8-dynamic on an integer kernel)."""
        return self.kernel in ("fbgemm", "int_mm")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        flat = x.reshape(-1, shape[-1])
        if self.kernel == "fbgemm":
            y = self._fbgemm(flat)
        elif self.kernel == "int_mm":
            y = self._int_mm(flat)
        elif self.kernel == "weight-only":
            y = torch._weight_int8pack_mm(flat.to(self.compute), self.weight, self.scale)
        else:
            y = F.linear(flat.to(self.compute), self.weight.to(self.compute) * self.scale[:, None])
        y = y.to(x.dtype).view(*shape[:-1], -1)
        return y + self.bias if self.bias is not None else y

    def _int_mm(self, flat: torch.Tensor) -> torch.Tensor:
        """Rows quantized to int8 with a scale each, an int8 x int8 product, rescaled."""
        wide = flat.float()
        row_scale = wide.abs().amax(dim=1, keepdim=True).clamp_(min=1e-8) / 127.0
        rows = (wide / row_scale).round_().clamp_(-127, 127).to(torch.int8)
        weight_t = self.weight.t()  # (in, out), a view
        return torch._int_mm(rows, weight_t).float().mul_(row_scale).mul_(self.scale)

    def _fbgemm(self, flat: torch.Tensor) -> torch.Tensor:
        """fbgemm's dynamic int8 product, each row quantized on its own scale.

        fbgemm quantizes the activations with one scale for the whole tensor, so a row's
        result would depend on its batch. Each row is divided by its largest magnitude (it
        then spans at most [-1, 1], touching ±1) and one more row, [1, -1, 0, …], fixes the
        tensor's range at exactly [-1, 1]: every row is then quantized alike, to the same
        256 levels whatever it is batched with, the integer sums are exact, and the rows are
        scaled back."""
        wide = flat.float()
        row_scale = wide.abs().amax(dim=1, keepdim=True).clamp_(min=1e-8)
        rows = torch.cat([wide / row_scale, _range_row(wide.shape[1])])
        y = torch.ops.quantized.linear_dynamic(rows, self.fbgemm, not _cpu_has_vnni())
        return y[:-1].mul_(row_scale)

    @property
    def nbytes(self) -> int:
        rows, columns = self._shape
        return rows * columns + self.scale.numel() * self.scale.element_size()


@functools.cache
def _range_row(columns: int) -> torch.Tensor:
    row = torch.zeros(1, columns)
    row[0, 0], row[0, -1] = 1.0, -1.0
    return row


def _fbgemm_pack(weight: torch.Tensor, scale: torch.Tensor) -> Any | None:
    """The int8 weights packed for fbgemm's dynamic product, or None where fbgemm is not
    there (not x86, a torch without it). torch marks its quantized tensor types deprecated
    (pinned torch 2.13 has them); without them int8-dynamic uses ``torch._int_mm``."""
    if "fbgemm" not in torch.backends.quantized.supported_engines:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            zero = torch.zeros(weight.shape[0], dtype=torch.long)
            qweight = torch._make_per_channel_quantized_tensor(weight, scale.double(), zero, 0)
            return torch.ops.quantized.linear_prepack(qweight, None)
    except (AttributeError, RuntimeError):
        return None


def linear(module: Any, quant: str | None) -> Linear:
    """The projection of an ``nn.Linear`` as a function: its own tensors, or int8 ones."""
    if quant is None:
        weight = module.weight
        if packable(weight):
            return PackedLinear(weight, module.bias)
        if weight.device.type == "cpu" and weight.dtype == torch.float32:
            return CpuFloatLinear(weight, module.bias)
        return functools.partial(F.linear, weight=weight, bias=module.bias)
    if quant in QUANTS:
        return Int8Linear(module.weight, module.bias, dynamic=quant == "int8-dynamic")
    raise ValueError(f"unknown quantization {quant!r}; known: {', '.join(QUANTS)}")


def fused(modules: Sequence[Any], quant: str | None) -> Linear:
    """Several projections of one input as one function whose output is theirs side by side
    (split it with their widths). With int8 or packed weights it is one product over the
    stacked weights (a new copy anyway; one call instead of three reads the input once and
    halves the calls of a decode step); over the module's own weights, one product each,
    concatenated (stacking them would copy the weights)."""
    if quant is None and not all(packable(module.weight) for module in modules):
        parts = [linear(module, None) for module in modules]
        return lambda x: torch.cat([part(x) for part in parts], dim=-1)
    weight = torch.cat([module.weight.detach() for module in modules])
    biases = [module.bias for module in modules]
    bias = None
    if any(b is not None for b in biases):
        bias = torch.cat(
            [
                b.detach()
                if b is not None
                else torch.zeros(m.weight.shape[0], dtype=m.weight.dtype)
                for m, b in zip(modules, biases, strict=True)
            ]
        )
    return linear(_Stacked(weight, bias), quant)


@dataclass(frozen=True)
class _Stacked:
    """Stacked projections, shaped like the ``nn.Linear`` that ``linear`` reads."""

    weight: torch.Tensor
    bias: torch.Tensor | None


def copies(projection: Linear) -> TypeGuard[PackedLinear | Int8Linear]:
    """Whether a projection from ``linear``/``fused`` reads a copy, not the module's weight."""
    return isinstance(projection, PackedLinear | Int8Linear)


def copy_bytes(projection: Linear) -> int:
    """The bytes of the copy a projection holds (0: it reads the module's own weight)."""
    return projection.nbytes if copies(projection) else 0


def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX-512 BF16 or AMX); elsewhere bf16
    weights are emulated and slower than fp32."""
    flags = _cpu_flags()
    return "avx512_bf16" in flags or "amx_bf16" in flags


@functools.cache
def _cpu_has_vnni() -> bool:
    """Whether fbgemm may use all 8 bits of the activations: without VNNI its u8 x s8 pair
    sums can saturate 16 bits, and the activations are kept to 7 (``reduce_range``)."""
    flags = _cpu_flags()
    return "avx512_vnni" in flags or "avx_vnni" in flags


@functools.cache
def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    return {flag for line in text.splitlines() if line.startswith("flags") for flag in line.split()}
