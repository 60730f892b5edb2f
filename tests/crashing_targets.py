"""GRUs that crash while computing, written as a user would, for the crash tests (issue 20).

``SqueezesBatch`` is ``torch.nn.GRU`` with a stray ``squeeze``: it raises ``IndexError`` at
batch 1 (an unbatched call is batch 1 to it) and is correct everywhere else;
``SqueezesBatchScalesState`` raises the same way and, on every other case, returns ``h_n`` 1%
too large (a wrong equation the checks must still find). ``ZerosWithoutDtype`` makes its
default zero state without the input's dtype: it crashes in float64 only. ``HandWritten`` is a
GRU written out step by step with torch.nn.GRU's parameter names; ``Misnamed`` calls one of them
``w_hh_l0`` (the likeliest mistake), ``MisnamedDeclared`` declares the map. Used as
``crashing_targets:NAME`` (tests/ is on the path).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn


class SqueezesBatch(nn.GRU):
    """Raises IndexError at batch 1: ``squeeze`` drops the batch axis."""

    def forward(self, input: Any, hx: Any = None) -> Any:
        x = input if input.dim() == 3 else input.unsqueeze(1)
        rows = x.squeeze(0 if self.batch_first else 1)  # the stray squeeze
        _ = rows.shape[2]  # IndexError when the batch axis was squeezed away
        return super().forward(input, hx)


class SqueezesBatchScalesState(SqueezesBatch):
    """``SqueezesBatch`` whose ``h_n`` is 1% too large on every case it does not crash on."""

    def forward(self, input: Any, hx: Any = None) -> Any:
        out, h_n = super().forward(input, hx)
        return out, h_n * 1.01


class ZerosWithoutDtype(nn.GRU):
    """Its default initial state is float32 whatever the input: float64 crashes."""

    def forward(self, input: Any, hx: Any = None) -> Any:
        if hx is None:
            batch = input.shape[0 if self.batch_first else 1] if input.dim() == 3 else None
            rows = self.num_layers * (2 if self.bidirectional else 1)
            shape = (rows, self.hidden_size) if batch is None else (rows, batch, self.hidden_size)
            hx = torch.zeros(shape)  # no dtype=input.dtype
        return super().forward(input, hx)


class HandWritten(nn.Module):
    """One layer, one direction, step by step, torch.nn.GRU's parameter names."""

    gruverify_missing: ClassVar[dict[str, str]] = {
        "multilayer": "one layer",
        "bidirectional": "one direction",
        "lengths": "no PackedSequence",
        "dropout": "no dropout",
    }
    names = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")

    def __init__(
        self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
        batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
    ) -> None:  # fmt: skip
        super().__init__()
        self.batch_first, self.hidden_size, self.bias = batch_first, hidden_size, bias
        shapes = [(3 * hidden_size, input_size), (3 * hidden_size, hidden_size)]
        shapes += [(3 * hidden_size,)] * 2 if bias else []
        for name, shape in zip(self.names, shapes, strict=False):
            setattr(self, name, nn.Parameter(torch.zeros(shape)))

    def weights(self) -> list[Any]:
        return [getattr(self, n) for n in self.names[: 4 if self.bias else 2]]

    def forward(self, input: Any, hx: Any = None) -> Any:
        unbatched = input.dim() == 2
        x = input.unsqueeze(1) if unbatched else input
        x = x.transpose(0, 1) if self.batch_first else x
        h = (
            x.new_zeros(x.shape[1], self.hidden_size)
            if hx is None
            else hx.reshape(-1, self.hidden_size)
        )
        w_ih, w_hh, *b = self.weights()
        outs = []
        for x_t in x:
            gi, gh = x_t @ w_ih.T, h @ w_hh.T
            if b:
                gi, gh = gi + b[0], gh + b[1]
            i_r, i_z, i_n = gi.chunk(3, -1)
            h_r, h_z, h_n = gh.chunk(3, -1)
            r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
            h = (1 - z) * torch.tanh(i_n + r * h_n) + z * h
            outs.append(h)
        out = torch.stack(outs)
        out = out.transpose(0, 1) if self.batch_first else out
        if unbatched:
            return out[:, 0], h
        return out, h.unsqueeze(0)


class Misnamed(HandWritten):
    """``HandWritten`` with ``weight_hh_l0`` named ``w_hh_l0``."""

    names = ("weight_ih_l0", "w_hh_l0", "bias_ih_l0", "bias_hh_l0")


class MisnamedDeclared(Misnamed):
    """``Misnamed`` with the map declared: it loads and is checked."""

    gruverify_parameter_names: ClassVar[dict[str, str]] = {"weight_hh_l0": "w_hh_l0"}
