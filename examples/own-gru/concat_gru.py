"""A GRU layer with one Linear per gate over the concatenation [x, h], returning a list.

Declared in gruverify.toml ([tool.gruverify.target."concat_gru:ConcatGRU"]):

    variant = "reset_before"   # the candidate reads [x, r * h]
    layout = "concat"          # per gate a weight (H, I + H): W_i* its columns 0:I, W_h* I:I+H,
                               # and one bias (H,) holding b_i* + b_h*
    gate_order = "rzn"         # the Linears are registered r, z, n
    returns = "list"           # forward(x (T, B, I), h=None) returns [h_1, ..., h_T]
"""

import torch
from torch import nn


class ConcatGRU(nn.Module):
    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.reset = nn.Linear(input_size + hidden_size, hidden_size)
        self.update = nn.Linear(input_size + hidden_size, hidden_size)
        self.candidate = nn.Linear(input_size + hidden_size, hidden_size)

    def forward(self, xs: torch.Tensor, h: torch.Tensor | None = None) -> list[torch.Tensor]:
        if h is None:
            h = xs.new_zeros(xs.shape[1], self.hidden_size)
        states = []
        for x in xs:
            xh = torch.cat([x, h], dim=-1)
            r = torch.sigmoid(self.reset(xh))
            z = torch.sigmoid(self.update(xh))
            n = torch.tanh(self.candidate(torch.cat([x, r * h], dim=-1)))
            h = (1 - z) * n + z * h
            states.append(h)
        return states
