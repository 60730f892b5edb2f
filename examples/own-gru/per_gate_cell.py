"""A cell with a matrix per gate and its own names, constructed as (hidden, input), returning
(y, h'): a three-line factory and an explicit parameter map.

Declared in gruverify.toml ([tool.gruverify.target."per_gate_cell:factory"]):

    cell = true
    needs_h = true
    returns = "pair"     # forward returns (y, h'): h' is the second
    params = {W_ir = "reset_x", W_hr = "reset_h", b_ir = "reset_bx", b_hr = "reset_bh",
              W_iz = "update_x", ...}   # every canonical block to the parameter holding it
"""

import torch
from torch import nn

GATES = ("update", "reset", "new")


class PerGateCell(nn.Module):
    def __init__(self, hidden: int, inputs: int) -> None:
        super().__init__()
        for g in GATES:
            setattr(self, f"{g}_x", nn.Parameter(torch.randn(hidden, inputs) * 0.1))
            setattr(self, f"{g}_h", nn.Parameter(torch.randn(hidden, hidden) * 0.1))
            setattr(self, f"{g}_bx", nn.Parameter(torch.zeros(hidden)))
            setattr(self, f"{g}_bh", nn.Parameter(torch.zeros(hidden)))

    def parts(self, g: str, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        wx, wh = getattr(self, f"{g}_x"), getattr(self, f"{g}_h")
        return x @ wx.T + getattr(self, f"{g}_bx"), h @ wh.T + getattr(self, f"{g}_bh")

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r = torch.sigmoid(sum(self.parts("reset", x, h)))
        z = torch.sigmoid(sum(self.parts("update", x, h)))
        nx, nh = self.parts("new", x, h)
        h = (1 - z) * torch.tanh(nx + r * nh) + z * h
        return h, h


def factory(input_size: int, hidden_size: int) -> PerGateCell:
    """gruverify builds a hand-written GRU as factory(input_size, hidden_size)."""
    return PerGateCell(hidden_size, input_size)
