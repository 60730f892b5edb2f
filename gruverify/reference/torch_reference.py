"""The reference equations written with explicit torch operations, for any device and dtype.

Same equations and semantics as ``gruverify.reference.numpy_reference`` (variants, layers, directions, layouts,
lengths), built from matmuls, sigmoid and tanh only, so torch autograd differentiates it and it runs on
CUDA. It is a reference for other devices and dtypes, not a second opinion on the math: the float64
numpy reference is the ground truth and this module is tested against it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gruverify.core.params import VARIANTS, GRUCellParams, RNNCellParams, StackParams, Variant
from gruverify.core.shapes import call_shape, validate_lengths

__all__ = ["gru_forward_torch", "params_to_torch", "rnn_forward_torch"]


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


def _gru_step(
    c: GRUCellParams[torch.Tensor], x: torch.Tensor, h: torch.Tensor, variant: str
) -> torch.Tensor:
    a_r = x @ c.W_ir.T + c.b_ir + h @ c.W_hr.T + c.b_hr
    a_z = x @ c.W_iz.T + c.b_iz + h @ c.W_hz.T + c.b_hz
    r = torch.sigmoid(a_r)
    if variant == "reset_after":
        a_n = x @ c.W_in.T + c.b_in + r * (h @ c.W_hn.T + c.b_hn)
    else:
        a_n = x @ c.W_in.T + c.b_in + (r * h) @ c.W_hn.T + c.b_hn
    n = torch.tanh(a_n)
    return torch.sigmoid(-a_z) * n + torch.sigmoid(a_z) * h


def _rnn_step(
    c: RNNCellParams[torch.Tensor], x: torch.Tensor, h: torch.Tensor, variant: str
) -> torch.Tensor:
    return torch.tanh(x @ c.W_ih.T + c.b_ih + h @ c.W_hh.T + c.b_hh)


def _run(
    step: Any,
    params: StackParams[Any],
    x: torch.Tensor,
    h0: torch.Tensor | None,
    variant: str,
    batch_first: bool,
    lengths: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    shape = call_shape(
        tuple(x.shape),
        None if h0 is None else tuple(h0.shape),
        input_size=params.input_size,
        hidden_size=params.hidden_size,
        num_layers=params.num_layers,
        num_directions=params.num_directions,
        batch_first=batch_first,
    )
    lens = validate_lengths(lengths, shape)
    seq = x.unsqueeze(1) if not shape.batched else (x.transpose(0, 1) if batch_first else x)
    T, B, H, D = shape.steps, shape.batch, shape.hidden_size, params.num_directions
    if h0 is None:
        h0 = seq.new_zeros((params.num_layers * D, B, H))
    elif not shape.batched:
        h0 = h0.unsqueeze(1)
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
    if not shape.batched:
        return seq[:, 0], h_n[:, 0]
    return (seq.transpose(0, 1) if batch_first else seq), h_n


def gru_forward_torch(
    params: StackParams[Any],
    x: torch.Tensor,
    h0: torch.Tensor | None = None,
    *,
    variant: Variant = "reset_after",
    batch_first: bool = False,
    lengths: Any = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(output, h_n)`` of a GRU stack with tensor parameters (see ``params_to_torch``)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown GRU variant {variant!r}; expected one of {VARIANTS}")
    return _run(_gru_step, params, x, h0, variant, batch_first, lengths)


def rnn_forward_torch(
    params: StackParams[Any],
    x: torch.Tensor,
    h0: torch.Tensor | None = None,
    *,
    batch_first: bool = False,
    lengths: Any = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(output, h_n)`` of a tanh-RNN stack with tensor parameters."""
    return _run(_rnn_step, params, x, h0, "rnn", batch_first, lengths)
