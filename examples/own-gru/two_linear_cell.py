"""A GRU cell written with two Linear layers, as many tutorials do.

Declared in gruverify.toml ([tool.gruverify.target."two_linear_cell:TwoLinearCell"]):

    cell = true          # forward(x_t, h) -> h', stepped over time by gruverify
    needs_h = true       # h is required: gruverify passes zeros for h0 = None
    layout = "fused"     # x2h.weight (3H, I), h2h.weight (3H, H), two biases (3H,)
    gate_order = "rzn"   # the blocks are r, z, n (torch's order; the default)
"""

import torch
from torch import nn


class TwoLinearCell(nn.Module):
    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.x2h = nn.Linear(input_size, 3 * hidden_size)
        self.h2h = nn.Linear(hidden_size, 3 * hidden_size)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        xr, xz, xn = self.x2h(x).chunk(3, dim=-1)
        hr, hz, hn = self.h2h(h).chunk(3, dim=-1)
        r = torch.sigmoid(xr + hr)
        z = torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)  # reset after the recurrent product (torch's variant)
        return (1 - z) * n + z * h
