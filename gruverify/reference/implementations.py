"""gruverify's own references as ``Implementation``s: the float64 numpy GRU and the torch GRU.

``NumpyReference`` runs ``gruverify.reference.numpy_reference`` (float64, CPU); ``TorchReference``
runs the explicit-op torch reference with autograd on any dtype and device.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from gruverify.core.arithmetic import Arithmetic, arithmetic_for
from gruverify.core.params import Variant
from gruverify.core.problem import Capabilities, Gradients, Outputs, Problem, split_leaf_gradients
from gruverify.reference.numpy_reference import gru_backward, gru_forward

__all__ = ["NumpyReference", "TorchReference"]


class NumpyReference:
    """The float64 numpy reference as an ``Implementation``."""

    dtype = "float64"
    device = "cpu"
    capabilities = Capabilities()
    strided_inputs = True
    """It computes on the problem's numpy arrays as they are: a view stays a view."""

    def __init__(self, variant: Variant = "reset_after") -> None:
        self.variant: Variant = variant
        self.name = f"numpy-reference[{variant}]"

    def forward(self, problem: Problem) -> Outputs:
        r = gru_forward(
            problem.params, problem.x, problem.h0, variant=self.variant,
            batch_first=problem.batch_first, lengths=problem.lengths,
        )  # fmt: skip
        return Outputs(r.output, r.h_n)

    def gradients(
        self, problem: Problem, d_output: np.ndarray | None, d_h_n: np.ndarray | None
    ) -> Gradients:
        g = gru_backward(
            problem.params, problem.x, problem.h0, d_output, d_h_n, variant=self.variant,
            batch_first=problem.batch_first, lengths=problem.lengths,
        )  # fmt: skip
        return Gradients(g.dx, g.dh0, g.dparams)


class TorchReference:
    """The torch reference (explicit ops, autograd) as an ``Implementation`` on any dtype/device.

    ``matmul`` (``torch.matmul`` when None) does every matrix product, forward and backward: an
    emulated arithmetic passes its own (``emulation.Tf32Reference``)."""

    capabilities = Capabilities()

    def __init__(
        self,
        variant: Variant = "reset_after",
        dtype: str = "float64",
        device: str = "cpu",
        *,
        matmul: Callable[[Any, Any], Any] | None = None,
    ) -> None:
        self.variant: Variant = variant
        self.dtype = dtype
        self.device = device
        self.matmul = matmul
        self.name = f"torch-reference[{variant}, {dtype}, {device}]"

    @property
    def arithmetic(self) -> Arithmetic:
        """``arithmetic_for(dtype, device)``: torch's (its float32 accumulator for TF32, float16
        and bfloat16 included: the products are torch's matmuls)."""
        return arithmetic_for(self.dtype, self.device)

    def _run(self, problem: Problem, requires_grad: bool) -> tuple[Any, ...]:
        import torch

        from gruverify.reference.torch_reference import gru_forward_torch, params_to_torch

        dt = getattr(torch, self.dtype)
        p = params_to_torch(problem.params, dt, self.device, requires_grad)
        x = torch.tensor(problem.x, dtype=dt, device=self.device, requires_grad=requires_grad)
        h0 = None
        if problem.h0 is not None:
            h0 = torch.tensor(problem.h0, dtype=dt, device=self.device)
            h0.requires_grad_(requires_grad)
        out, h_n = gru_forward_torch(
            p, x, h0, variant=self.variant, batch_first=problem.batch_first,
            lengths=problem.lengths, matmul=self.matmul or torch.matmul,
        )  # fmt: skip
        return p, x, h0, out, h_n

    def forward(self, problem: Problem) -> Outputs:
        import torch

        with torch.no_grad():
            _, _, _, out, h_n = self._run(problem, False)
        return Outputs(_to_np(out), _to_np(h_n))

    def gradients(
        self, problem: Problem, d_output: np.ndarray | None, d_h_n: np.ndarray | None
    ) -> Gradients:
        import torch

        p, x, h0, out, h_n = self._run(problem, True)
        loss = out.sum() * 0
        if d_output is not None:
            loss = (
                loss + (out * torch.as_tensor(d_output, dtype=out.dtype, device=out.device)).sum()
            )
        if d_h_n is not None:
            loss = loss + (h_n * torch.as_tensor(d_h_n, dtype=h_n.dtype, device=h_n.device)).sum()
        leaves = [x] + ([h0] if h0 is not None else []) + [v for _, v in p.named()]
        grads = torch.autograd.grad(loss, leaves, allow_unused=True)
        dx, dh0, rest = split_leaf_gradients(
            grads, leaves, h0 is not None, tuple(h_n.shape), _to_np
        )
        flat = np.concatenate([np.ravel(a) for a in rest])
        return Gradients(dx, dh0, problem.params.unflat(flat))


def _to_np(t: Any) -> np.ndarray:
    return t.detach().to("cpu").double().numpy()  # type: ignore[no-any-return]
