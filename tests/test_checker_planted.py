"""Planted-bug GRU modules for the checker's own tests (module:attr targets), and their base.

``TinyGRU`` is a correct torch.nn.GRU look-alike (explicit ops, no PackedSequence support); each
other class plants one bug. The tests that use them live in test_checker.py and test_cli.py; the
one test here shows the base is correct, so a failure elsewhere is the planted bug's.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import nn


class TinyGRU(nn.Module):
    """torch.nn.GRU's constructor, state-dict names and semantics; no PackedSequence, no dropout."""

    gruverify_missing: ClassVar[dict[str, str]] = {"dropout": "TinyGRU has no dropout"}

    def __init__(
        self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
        batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
    ) -> None:  # fmt: skip
        super().__init__()
        self.hidden_size, self.num_layers, self.bias = hidden_size, num_layers, bias
        self.batch_first, self.dirs = batch_first, 2 if bidirectional else 1
        k = 1.0 / math.sqrt(hidden_size)
        for layer in range(num_layers):
            in_size = input_size if layer == 0 else hidden_size * self.dirs
            for d in range(self.dirs):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                shapes = {"weight_ih": (3 * hidden_size, in_size),
                          "weight_hh": (3 * hidden_size, hidden_size)}  # fmt: skip
                if bias:
                    shapes.update(bias_ih=(3 * hidden_size,), bias_hh=(3 * hidden_size,))
                for name, shape in shapes.items():
                    p = nn.Parameter(torch.empty(shape).uniform_(-k, k))
                    self.register_parameter(name + sfx, p)

    def tanh(self, a: torch.Tensor) -> torch.Tensor:
        return torch.tanh(a)

    def cell(self, x: torch.Tensor, h: torch.Tensor, sfx: str) -> torch.Tensor:
        gi = x @ getattr(self, "weight_ih" + sfx).T
        gh = h @ getattr(self, "weight_hh" + sfx).T
        if self.bias:
            gi = gi + getattr(self, "bias_ih" + sfx)
            gh = gh + self.recurrent_bias(sfx)
        i_r, i_z, i_n = gi.chunk(3, -1)
        h_r, h_z, h_n = gh.chunk(3, -1)
        r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
        return (1 - z) * self.tanh(i_n + r * h_n) + z * h

    def recurrent_bias(self, sfx: str) -> torch.Tensor:
        return getattr(self, "bias_hh" + sfx)

    def initial_state(self, hx: torch.Tensor | None, want: tuple[int, ...], like: Any) -> Any:
        return like.new_zeros(want) if hx is None else hx

    def forward(self, input: torch.Tensor, hx: torch.Tensor | None = None) -> Any:
        batched = input.dim() == 3
        x = input if batched else input.unsqueeze(1)
        if batched and self.batch_first:
            x = x.transpose(0, 1)
        T, B = x.shape[0], x.shape[1]
        want = (self.num_layers * self.dirs, B, self.hidden_size)
        if hx is not None and not batched:
            hx = hx.unsqueeze(1)
        if hx is not None and tuple(hx.shape) != want:
            raise RuntimeError(f"Expected hidden size {want}, got {tuple(hx.shape)}")
        hx = self.initial_state(hx, want, x)
        finals = []
        for layer in range(self.num_layers):
            outs = []
            for d in range(self.dirs):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                h = hx[layer * self.dirs + d]
                ys: list[Any] = [None] * T
                for t in range(T) if d == 0 else range(T - 1, -1, -1):
                    h = self.cell(x[t], h, sfx)
                    ys[t] = h
                finals.append(h)
                outs.append(torch.stack(ys))
            x = torch.cat(outs, -1)
        h_n = torch.stack(finals)
        if not batched:
            return x.squeeze(1), h_n.squeeze(1)
        return (x.transpose(0, 1) if self.batch_first else x), h_n


class IgnoresHx(TinyGRU):
    """Bug: the initial state is ignored (zeros used)."""

    def initial_state(self, hx: torch.Tensor | None, want: tuple[int, ...], like: Any) -> Any:
        return like.new_zeros(want)


class DropsBhn(TinyGRU):
    """Bug: b_hn (the recurrent bias of the candidate, inside the reset product) is dropped."""

    def recurrent_bias(self, sfx: str) -> torch.Tensor:
        b = getattr(self, "bias_hh" + sfx)
        H = self.hidden_size
        return torch.cat([b[: 2 * H], torch.zeros_like(b[2 * H :])])


class _WrongTanh(torch.autograd.Function):
    """tanh forward, but backward uses 1 - y instead of 1 - y^2."""

    @staticmethod
    def forward(ctx: Any, a: torch.Tensor) -> torch.Tensor:
        y = torch.tanh(a)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:
        (y,) = ctx.saved_tensors
        return g * (1 - y.abs())


class WrongGradient(TinyGRU):
    """Bug: correct forward, wrong backward (custom autograd Function for the candidate's tanh)."""

    def tanh(self, a: torch.Tensor) -> torch.Tensor:
        return _WrongTanh.apply(a)  # type: ignore[no-any-return]


class RemembersState(TinyGRU):
    """Bug: with hx=None it starts from the previous call's final state (state leaks across calls)."""

    def initial_state(self, hx: torch.Tensor | None, want: tuple[int, ...], like: Any) -> Any:
        prev = getattr(self, "_last", None)
        if hx is None and prev is not None and tuple(prev.shape) == want:
            hx = prev
        return super().initial_state(hx, want, like)

    def forward(self, input: torch.Tensor, hx: torch.Tensor | None = None) -> Any:
        out, h_n = super().forward(input, hx)
        self._last = h_n.detach() if input.dim() == 3 else h_n.detach().unsqueeze(1)
        return out, h_n


class NoBidirectional(TinyGRU):
    """Correct, but declares bidirectional (and bias=False) missing: those checks must skip."""

    gruverify_missing: ClassVar[dict[str, str]] = {
        "bidirectional": "NoBidirectional runs one direction only",
        "bias_false": "biases are always on",
        "dropout": "no dropout",
    }


def test_tiny_gru_equals_torch_gru() -> None:
    """The base is correct (so a failure of a planted class is its bug): equals nn.GRU in float64."""
    torch.manual_seed(0)
    ref = nn.GRU(3, 4, 2, bidirectional=True, batch_first=True).double()
    tiny = TinyGRU(3, 4, 2, bidirectional=True, batch_first=True).double()
    tiny.load_state_dict(ref.state_dict())
    x, h0 = torch.randn(2, 5, 3, dtype=torch.float64), torch.randn(4, 2, 4, dtype=torch.float64)
    for a, b in zip(tiny(x, h0), ref(x, h0), strict=True):
        assert torch.allclose(a, b, atol=1e-12), (a - b).abs().max()
