"""Hand-written GRUs, written from scratch here, one per convention a user may declare.

None of them is shaped like torch.nn.GRU: each is checked through a declaration only (and at most
a few-line factory), and ``gruverify suggest`` must find that declaration. ``IgnoresBhn`` has a
real bug (its b_hn is a parameter the computation forgets), which no declaration explains.
"""

from __future__ import annotations

import torch
from torch import nn


class TwoLinearCell(nn.Module):
    """Reset-after, standard update, gates r, z, n in two fused Linears: forward(x, h) needs h."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.x2h = nn.Linear(input_size, 3 * hidden_size)
        self.h2h = nn.Linear(hidden_size, 3 * hidden_size)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        xr, xz, xn = self.x2h(x).chunk(3, dim=-1)
        hr, hz, hn = self.h2h(h).chunk(3, dim=-1)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        return (1 - z) * n + z * h


class CourseCell(nn.Module):
    """The course's GRU: reset-before, h' = Γu * n + (1 - Γu) * h, gates z, r, n in kernels stored
    (I, 3H) and (H, 3H), one bias per gate."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.H = hidden_size
        self.W = nn.Parameter(torch.randn(input_size, 3 * hidden_size) * 0.1)
        self.U = nn.Parameter(torch.randn(hidden_size, 3 * hidden_size) * 0.1)
        self.b = nn.Parameter(torch.zeros(3 * hidden_size))

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        H = self.H
        gx = x @ self.W + self.b
        gamma_u = torch.sigmoid(gx[:, :H] + h @ self.U[:, :H])
        gamma_r = torch.sigmoid(gx[:, H : 2 * H] + h @ self.U[:, H : 2 * H])
        c = torch.tanh(gx[:, 2 * H :] + (gamma_r * h) @ self.U[:, 2 * H :])
        return gamma_u * c + (1 - gamma_u) * h


class ConcatGRU(nn.Module):
    """A layer: one Linear per gate over [x, h] (r, z, n), reset-before; forward(x, h=None)
    returns the list of per-step states."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.reset = nn.Linear(input_size + hidden_size, hidden_size)
        self.update = nn.Linear(input_size + hidden_size, hidden_size)
        self.cand = nn.Linear(input_size + hidden_size, hidden_size)

    def forward(self, xs: torch.Tensor, h: torch.Tensor | None = None) -> list[torch.Tensor]:
        if h is None:
            h = xs.new_zeros(xs.shape[1], self.hidden_size)
        states = []
        for x in xs:
            xh = torch.cat([x, h], dim=-1)
            r, z = torch.sigmoid(self.reset(xh)), torch.sigmoid(self.update(xh))
            n = torch.tanh(self.cand(torch.cat([x, r * h], dim=-1)))
            h = (1 - z) * n + z * h
            states.append(h)
        return states


class NoBhnGRU(nn.Module):
    """A layer computing reset-after without a recurrent candidate bias (as flax nnx does): fused
    weights (3H, I), (3H, H), one bias per gate; returns the outputs only."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.w_x = nn.Parameter(torch.randn(3 * hidden_size, input_size) * 0.1)
        self.w_h = nn.Parameter(torch.randn(3 * hidden_size, hidden_size) * 0.1)
        self.bias = nn.Parameter(torch.zeros(3 * hidden_size))
        self.hidden_size = hidden_size

    def forward(self, xs: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        h = xs.new_zeros(xs.shape[1], self.hidden_size) if h is None else h
        out = []
        for x in xs:
            ar, az, an = (x @ self.w_x.T + self.bias).chunk(3, dim=-1)
            hr, hz, hn = (h @ self.w_h.T).chunk(3, dim=-1)
            r, z = torch.sigmoid(ar + hr), torch.sigmoid(az + hz)
            h = (1 - z) * torch.tanh(an + r * hn) + z * h
            out.append(h)
        return torch.stack(out)


class PerGateCell(nn.Module):
    """Separate per-gate matrices with its own names, constructed as (hidden, input): a cell
    returning (y, h') that needs a factory and an explicit parameter map."""

    def __init__(self, hidden: int, inputs: int) -> None:
        super().__init__()
        for g in ("upd", "rst", "new"):
            setattr(self, f"{g}_x", nn.Parameter(torch.randn(hidden, inputs) * 0.1))
            setattr(self, f"{g}_h", nn.Parameter(torch.randn(hidden, hidden) * 0.1))
            setattr(self, f"{g}_bx", nn.Parameter(torch.zeros(hidden)))
            setattr(self, f"{g}_bh", nn.Parameter(torch.zeros(hidden)))

    def gate(self, g: str, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p = lambda n: getattr(self, f"{g}_{n}")  # noqa: E731
        return x @ p("x").T + p("bx"), h @ p("h").T + p("bh")

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r = torch.sigmoid(sum(self.gate("rst", x, h)))
        z = torch.sigmoid(sum(self.gate("upd", x, h)))
        nx, nh = self.gate("new", x, h)
        h = (1 - z) * torch.tanh(nx + r * nh) + z * h
        return h, h


def per_gate_cell(input_size: int, hidden_size: int) -> PerGateCell:
    """The factory: PerGateCell takes (hidden, input)."""
    return PerGateCell(hidden_size, input_size)


PER_GATE_PARAMS = {
    f"{k}{g}": f"{name}_{part}"
    for g, name in (("r", "rst"), ("z", "upd"), ("n", "new"))
    for k, part in (("W_i", "x"), ("W_h", "h"), ("b_i", "bx"), ("b_h", "bh"))
}
"""The explicit map of PerGateCell: W_ir = rst_x, W_hr = rst_h, b_ir = rst_bx, ..."""


class IgnoresBhn(TwoLinearCell):
    """TwoLinearCell with a real bug: it holds b_hn (h2h.bias[2H:]) but leaves it out of the
    candidate, claiming the standard two-bias layout."""

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        xr, xz, xn = self.x2h(x).chunk(3, dim=-1)
        hr, hz, _ = self.h2h(h).chunk(3, dim=-1)
        hn = h @ self.h2h.weight[2 * h.shape[-1] :].T
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        return (1 - z) * torch.tanh(xn + r * hn) + z * h
