"""Emulated reduced-precision arithmetic on the CPU: TF32 matmuls.

TF32 (NVIDIA Ampere and later, what cuDNN's GRU uses for float32 by default) multiplies float32
operands rounded to 10 stored mantissa bits (unit roundoff 2^-11) and accumulates in float32. On the
CPU we emulate it by rounding both matmul operands to TF32 with round-to-nearest-even on the bit
pattern (clear the low 13 of the 23 mantissa bits) and multiplying in float32:

    bits(t) = bits(x) + 0x0FFF + ((bits(x) >> 13) & 1);   tf32(x) = float(bits(t) & ~0x1FFF)

Infinities and NaNs pass through unchanged. ``Tf32Reference`` is the torch reference (same
equations, same stack driver, ``matmul=tf32_matmul``) with every matmul, forward and backward,
done that way, so the error model can be validated against a correct TF32 computation without a GPU.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gruverify.core.arithmetic import TORCH_TF32, Arithmetic
from gruverify.core.params import Variant
from gruverify.core.problem import Capabilities
from gruverify.reference.implementations import TorchReference

__all__ = ["Tf32Reference", "round_to_tf32", "round_to_tf32_numpy", "tf32_matmul"]

_LOW = 13  # float32 has 23 mantissa bits, TF32 keeps 10


def round_to_tf32(t: torch.Tensor) -> torch.Tensor:
    """``t`` (float32) rounded to TF32 (round to nearest, ties to even), still a float32 tensor."""
    if t.dtype != torch.float32:
        raise TypeError(f"round_to_tf32 expects a float32 tensor, got {t.dtype}")
    bits = t.contiguous().view(torch.int32)
    lsb = (bits >> _LOW) & 1
    rounded = (bits + (0x0FFF + lsb)) & ~0x1FFF
    out = rounded.view(torch.float32)
    return torch.where(torch.isfinite(t), out, t)


def round_to_tf32_numpy(a: np.ndarray) -> np.ndarray:
    """Numpy version of ``round_to_tf32`` (input cast to float32 first), returned as float64."""
    t = torch.as_tensor(np.ascontiguousarray(a, dtype=np.float32))
    return round_to_tf32(t).double().numpy()  # type: ignore[no-any-return]


class _Tf32MatMul(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(a, b)
        return round_to_tf32(a) @ round_to_tf32(b)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = ctx.saved_tensors
        gt = round_to_tf32(g)
        return gt @ round_to_tf32(b).T, round_to_tf32(a).T @ gt


def tf32_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` with TF32 operands and float32 accumulation, differentiable (TF32 backward too)."""
    return _Tf32MatMul.apply(a, b)  # type: ignore[no-any-return]


class Tf32Reference(TorchReference):
    """The torch reference in float32 with TF32-emulated matmuls (forward and backward), on CPU.

    Its arithmetic is ``core.arithmetic.TORCH_TF32`` (TF32 with a float32 accumulator): the torch
    reference's equations with ``matmul=tf32_matmul``.
    """

    capabilities = Capabilities()

    def __init__(self, variant: Variant = "reset_after", device: str = "cpu") -> None:
        super().__init__(variant, "float32", device, matmul=tf32_matmul)
        self.name = f"tf32-emulated-reference[{variant}, {device}]"

    @property
    def arithmetic(self) -> Arithmetic:
        """``TORCH_TF32``: TF32 operands, float32 accumulation, as on CUDA."""
        return TORCH_TF32
