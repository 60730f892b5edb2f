"""MiniGRU: a small GRU written with explicit torch operations, a drop-in for torch.nn.GRU.

Same constructor, state-dict names (weight_ih_l{k}[_reverse], ... gates stacked r, z, n) and call
semantics as torch.nn.GRU (time-major or batch-first, unbatched, hx=None means zeros, stacked layers,
bidirectional); it does not take a PackedSequence, so gruverify skips the lengths checks. It has no
dropout, and says so in ``gruverify_missing``.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn


class MiniGRU(nn.Module):
    gruverify_missing: ClassVar[dict[str, str]] = {
        "dropout": "MiniGRU has no dropout between layers"
    }

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
    ) -> None:
        super().__init__()
        self.hidden_size, self.num_layers, self.bias = hidden_size, num_layers, bias
        self.batch_first, self.dirs = batch_first, 2 if bidirectional else 1
        k = 1.0 / math.sqrt(hidden_size)
        for layer in range(num_layers):
            in_size = input_size if layer == 0 else hidden_size * self.dirs
            for d in range(self.dirs):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                shapes = {
                    "weight_ih": (3 * hidden_size, in_size),
                    "weight_hh": (3 * hidden_size, hidden_size),
                }
                if bias:
                    shapes.update(bias_ih=(3 * hidden_size,), bias_hh=(3 * hidden_size,))
                for name, shape in shapes.items():
                    self.register_parameter(
                        name + sfx, nn.Parameter(torch.empty(shape).uniform_(-k, k))
                    )

    def _cell(self, x: torch.Tensor, h: torch.Tensor, sfx: str) -> torch.Tensor:
        gi = x @ getattr(self, "weight_ih" + sfx).T
        gh = h @ getattr(self, "weight_hh" + sfx).T
        if self.bias:
            gi = gi + getattr(self, "bias_ih" + sfx)
            gh = gh + getattr(self, "bias_hh" + sfx)
        i_r, i_z, i_n = gi.chunk(3, -1)
        h_r, h_z, h_n = gh.chunk(3, -1)
        r = torch.sigmoid(i_r + h_r)
        z = torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + r * h_n)  # reset applied after the recurrent matmul (torch, cuDNN)
        return (1 - z) * n + z * h

    def forward(self, input: torch.Tensor, hx: torch.Tensor | None = None):
        batched = input.dim() == 3
        x = input if batched else input.unsqueeze(1)
        if batched and self.batch_first:
            x = x.transpose(0, 1)
        T, B = x.shape[0], x.shape[1]
        want = (self.num_layers * self.dirs, B, self.hidden_size)
        if hx is None:
            hx = x.new_zeros(want)
        elif not batched:
            hx = hx.unsqueeze(1)
        if tuple(hx.shape) != want:
            raise RuntimeError(f"Expected hidden size {want}, got {tuple(hx.shape)}")
        finals = []
        for layer in range(self.num_layers):
            outs = []
            for d in range(self.dirs):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                h = hx[layer * self.dirs + d]
                ys = [None] * T
                for t in range(T) if d == 0 else range(T - 1, -1, -1):
                    h = self._cell(x[t], h, sfx)
                    ys[t] = h
                finals.append(h)
                outs.append(torch.stack(ys))
            x = torch.cat(outs, -1)
        h_n = torch.stack(finals)
        if not batched:
            return x.squeeze(1), h_n.squeeze(1)
        return (x.transpose(0, 1) if self.batch_first else x), h_n
