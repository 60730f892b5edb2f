"""The reference equations written with explicit torch operations, for any device and dtype.

Same equations and semantics as ``gruverify.reference.numpy_reference`` (variants, layers, directions, layouts,
lengths), built from matmuls, sigmoid and tanh only, so torch autograd differentiates it and it runs on
CUDA. It is a reference for other devices and dtypes, not a second opinion on the math: the float64
numpy reference is the ground truth and this module is tested against it.

Every matrix product goes through a ``matmul`` argument (``torch.matmul`` by default), so an
emulated arithmetic (``gruverify.reference.emulation.tf32_matmul``) is an argument, not a copy of
the equations. ``gru_gates`` is the one place the GRU step is written; ``gru_step`` / ``rnn_step``
give the new state and ``run_stack`` drives any such step over layers, directions and lengths.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from gruverify.core.params import ALL_VARIANTS, GRUCellParams, RNNCellParams, StackParams, Variant
from gruverify.core.shapes import (
    from_time_major,
    stack_call_shape,
    state_from_batched,
    state_to_batched,
    to_time_major,
    validate_lengths,
)

__all__ = [
    "Matmul",
    "StepFn",
    "gru_forward_torch",
    "gru_gates",
    "gru_step",
    "gru_update",
    "params_to_torch",
    "rnn_forward_torch",
    "rnn_step",
    "run_stack",
]

Matmul = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``matmul(a, b) -> a @ b``: ``torch.matmul``, or an emulated arithmetic's product."""
StepFn = Callable[[Any, torch.Tensor, torch.Tensor, str], torch.Tensor]
"""``step(cell, x (B, I), h (B, H), variant) -> h_new``, e.g. ``gru_step``."""


def params_to_torch(
    params: StackParams[Any],
    dtype: torch.dtype = torch.float64,
    device: str | torch.device = "cpu",
    requires_grad: bool = False,
) -> StackParams[Any]:
    """Copy every array of ``params`` to a fresh torch tensor (a leaf when ``requires_grad``)."""

    def conv(v: Any) -> torch.Tensor:
        t = v.detach().clone() if isinstance(v, torch.Tensor) else torch.as_tensor(np.asarray(v))
        return t.to(dtype=dtype, device=device).requires_grad_(requires_grad)

    return params.map(conv)


def gru_gates(
    c: GRUCellParams[torch.Tensor],
    x: torch.Tensor,
    h: torch.Tensor,
    variant: str,
    matmul: Matmul = torch.matmul,
) -> dict[str, torch.Tensor]:
    """One GRU step on ``x (B, I)``, ``h (B, H)``: ``a_r, a_z, a_n, r, z, one_minus_z, n`` and the
    new state ``h``, with ``1 - z`` as ``sigmoid(-a_z)``."""
    a_r = matmul(x, c.W_ir.T) + c.b_ir + matmul(h, c.W_hr.T) + c.b_hr
    a_z = matmul(x, c.W_iz.T) + c.b_iz + matmul(h, c.W_hz.T) + c.b_hz
    r = torch.sigmoid(a_r)
    if variant == "reset_after":
        a_n = matmul(x, c.W_in.T) + c.b_in + r * (matmul(h, c.W_hn.T) + c.b_hn)
    elif variant == "reset_after_no_bhn":  # no recurrent candidate bias: b_hn is not a parameter
        a_n = matmul(x, c.W_in.T) + c.b_in + r * matmul(h, c.W_hn.T)
    else:
        a_n = matmul(x, c.W_in.T) + c.b_in + matmul(r * h, c.W_hn.T) + c.b_hn
    n = torch.tanh(a_n)
    z = torch.sigmoid(a_z)
    omz = torch.sigmoid(-a_z)
    h_new = gru_update({"one_minus_z": omz, "n": n, "z": z}, h)
    return dict(a_r=a_r, a_z=a_z, a_n=a_n, r=r, z=z, one_minus_z=omz, n=n, h=h_new)


def gru_update(gates: dict[str, torch.Tensor], h: torch.Tensor) -> torch.Tensor:
    """The state update ``h' = (1 - z) n + z h`` from the gates' ``one_minus_z``, ``n`` and ``z``
    (the error model passes gates it rounded)."""
    return gates["one_minus_z"] * gates["n"] + gates["z"] * h


def gru_step(
    c: GRUCellParams[torch.Tensor],
    x: torch.Tensor,
    h: torch.Tensor,
    variant: str,
    matmul: Matmul = torch.matmul,
) -> torch.Tensor:
    """The new state of one GRU step (``gru_gates``)."""
    return gru_gates(c, x, h, variant, matmul)["h"]


def rnn_step(
    c: RNNCellParams[torch.Tensor],
    x: torch.Tensor,
    h: torch.Tensor,
    variant: str = "rnn",
    matmul: Matmul = torch.matmul,
) -> torch.Tensor:
    """One tanh-RNN step ``tanh(W_ih x + b_ih + W_hh h + b_hh)`` (``variant`` is ignored)."""
    return torch.tanh(matmul(x, c.W_ih.T) + c.b_ih + matmul(h, c.W_hh.T) + c.b_hh)


def run_stack(
    step: StepFn,
    params: StackParams[Any],
    x: torch.Tensor,
    h0: torch.Tensor | None,
    variant: str,
    batch_first: bool,
    lengths: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(output, h_n)`` of ``step`` run over every layer, direction and time step (the semantics of
    ``numpy_reference.stack_forward``); ``h0=None`` means zeros."""
    shape = stack_call_shape(
        params, tuple(x.shape), None if h0 is None else tuple(h0.shape), batch_first
    )
    lens = validate_lengths(lengths, shape)
    seq = to_time_major(x, shape)
    T, B, H, D = shape.steps, shape.batch, shape.hidden_size, params.num_directions
    h0 = seq.new_zeros((params.num_layers * D, B, H)) if h0 is None else state_to_batched(h0, shape)
    masks: list[torch.Tensor | None] = [None] * T
    if lens is not None:
        lt = torch.as_tensor(lens, device=seq.device)
        masks = [(t < lt)[:, None] for t in range(T)]
    finals = []
    for layer, row in enumerate(params.cells):
        outs = []
        for d, cell in enumerate(row):
            h = h0[layer * D + d]
            ys: list[torch.Tensor] = [seq.new_zeros(())] * T
            for t in range(T) if d == 0 else range(T - 1, -1, -1):
                h_new = step(cell, seq[t], h, variant)
                m = masks[t]
                if m is None:
                    h, ys[t] = h_new, h_new
                else:
                    h = torch.where(m, h_new, h)
                    ys[t] = torch.where(m, h_new, torch.zeros_like(h_new))
            finals.append(h)
            outs.append(torch.stack(ys))
        seq = torch.cat(outs, dim=2) if D == 2 else outs[0]
    h_n = torch.stack(finals)
    return from_time_major(seq, shape), state_from_batched(h_n, shape)


def gru_forward_torch(
    params: StackParams[Any],
    x: torch.Tensor,
    h0: torch.Tensor | None = None,
    *,
    variant: Variant = "reset_after",
    batch_first: bool = False,
    lengths: Any = None,
    matmul: Matmul = torch.matmul,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(output, h_n)`` of a GRU stack with tensor parameters (see ``params_to_torch``), every
    matrix product by ``matmul``."""
    if variant not in ALL_VARIANTS:
        raise ValueError(f"unknown GRU variant {variant!r}; expected one of {ALL_VARIANTS}")
    step = functools.partial(gru_step, matmul=matmul)
    return run_stack(step, params, x, h0, variant, batch_first, lengths)


def rnn_forward_torch(
    params: StackParams[Any],
    x: torch.Tensor,
    h0: torch.Tensor | None = None,
    *,
    batch_first: bool = False,
    lengths: Any = None,
    matmul: Matmul = torch.matmul,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(output, h_n)`` of a tanh-RNN stack with tensor parameters."""
    step = functools.partial(rnn_step, matmul=matmul)
    return run_stack(step, params, x, h0, "rnn", batch_first, lengths)
