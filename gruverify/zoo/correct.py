"""Correct GRUs written differently from torch: the checker must pass every one of them.

Each computes ``torch.nn.GRU``'s function (reset-after, ``h' = (1 - z) n + z h``) by another route,
so a checker that compares bit patterns, operation order or intermediate values instead of the
function itself raises false alarms on them. All agree with ``torch.nn.GRU`` in float64 to ~1e-15
(tests/test_zoo.py).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

from gruverify.zoo.base import Gates, ZooGRU, flip_valid

__all__ = [
    "ChunkedGRU",
    "CourseConventionGRU",
    "Float64InsideGRU",
    "FusedBiasGRU",
    "ReverseByFlipGRU",
    "TanhSigmoidGRU",
]


class FusedBiasGRU(ZooGRU):
    """One matmul per operand for all three gates, with ``b_i* + b_h*`` fused for r and z.

    ``[a_r, a_z] = [W_ir; W_iz] x + [W_hr; W_hz] h + (b_i + b_h)[r, z]`` and
    ``a_n = W_in x + b_in + r * (W_hn h + b_hn)`` (``b_hn`` cannot be fused: it sits inside the reset
    product). cuDNN's and torch's fused kernels work this way.
    """

    def cell(self, x: Tensor, h: Tensor, g: Gates, k: int) -> Tensor:
        H = self.hidden_size
        gi = x @ torch.cat((g.W_ir, g.W_iz, g.W_in)).T
        gh = h @ torch.cat((g.W_hr, g.W_hz, g.W_hn)).T
        b_rz = torch.cat((g.b_ir + g.b_hr, g.b_iz + g.b_hz))
        r, z = self.sigmoid(gi[..., : 2 * H] + gh[..., : 2 * H] + b_rz).split(H, dim=-1)
        n = torch.tanh(gi[..., 2 * H :] + g.b_in + r * (gh[..., 2 * H :] + g.b_hn))
        return self.update(n, z, h)


class TanhSigmoidGRU(ZooGRU):
    """The logistic function through tanh: ``sigmoid(a) = (1 + tanh(a / 2)) / 2``."""

    def sigmoid(self, a: Tensor) -> Tensor:
        return 0.5 * (1 + torch.tanh(0.5 * a))


class CourseConventionGRU(ZooGRU):
    """The course's update convention: ``G_u = 1 - z``, ``h' = G_u n + (1 - G_u) h``.

    ``G_u = sigmoid(-(W_iz x + b_iz + W_hz h + b_hz))`` is computed from the negated weights, so the
    module stores torch's parameters and converts internally.
    """

    def cell(self, x: Tensor, h: Tensor, g: Gates, k: int) -> Tensor:
        r = self.sigmoid(x @ g.W_ir.T + g.b_ir + h @ g.W_hr.T + g.b_hr)
        g_u = self.sigmoid(x @ (-g.W_iz).T + (-g.b_iz) + h @ (-g.W_hz).T + (-g.b_hz))
        n = torch.tanh(self.candidate(x, h, r, g))
        return g_u * n + (1 - g_u) * h


class Float64InsideGRU(ZooGRU):
    """Computes in float64 whatever the parameter dtype, and rounds the results back once."""

    def gates(self, layer: int, direction: int) -> Gates:
        return Gates(*(t.to(torch.float64) for t in super().gates(layer, direction)))

    def forward(self, input: Any, hx: Tensor | None = None) -> tuple[Any, Tensor]:
        dtype = input.data.dtype
        wide = input.to(torch.float64)
        output, h_n = super().forward(wide, None if hx is None else hx.to(torch.float64))
        return output.to(dtype), h_n.to(dtype)


class ChunkedGRU(ZooGRU):
    """Runs the batch in chunks of two sequences and, for unidirectional unpacked input, the time
    axis in chunks of three steps, carrying the state between chunks (streaming)."""

    batch_chunk = 2
    time_chunk = 3

    def run_direction(
        self, layer: int, direction: int, seq: Tensor, h0: Tensor, lengths: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        outs, finals = [], []
        for b in range(0, seq.shape[1], self.batch_chunk):
            sl = slice(b, b + self.batch_chunk)
            lens = None if lengths is None else lengths[sl]
            o, h = super().run_direction(layer, direction, seq[:, sl], h0[sl], lens)
            outs.append(o)
            finals.append(h)
        return torch.cat(outs, dim=1), torch.cat(finals, dim=0)

    def forward(self, input: Any, hx: Tensor | None = None) -> tuple[Any, Tensor]:
        if isinstance(input, PackedSequence) or self.bidirectional or input.dim() != 3:
            return super().forward(input, hx)
        t_axis = 1 if self.batch_first else 0
        outs = []
        h = hx
        for chunk in input.split(self.time_chunk, dim=t_axis):
            o, h = super().forward(chunk, h)
            outs.append(o)
        assert h is not None
        return torch.cat(outs, dim=t_axis), h


class ReverseByFlipGRU(ZooGRU):
    """The reverse direction as flip, forward scan, flip (each sequence within its own length)."""

    def run_direction(
        self, layer: int, direction: int, seq: Tensor, h0: Tensor, lengths: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        if direction == 0:
            return super().run_direction(layer, direction, seq, h0, lengths)
        g = self.gates(layer, direction)
        out, h = self.scan(g, flip_valid(seq, lengths), h0, lengths, direction, reverse=False)
        return self.direction_output(flip_valid(out, lengths), direction, lengths), h
