"""The course's GRU cell: reset-before, h' = Γu * c + (1 - Γu) * h, gates u, r, c.

Declared in gruverify.toml ([tool.gruverify.target."course_cell:CourseCell"]):

    cell = true
    needs_h = true
    variant = "reset_before"   # the reset gate multiplies h before the recurrent product
    update = "complement"      # h' = z n + (1 - z) h: the update gate's weights are negated
    layout = "transposed"      # W (I, 3H), U (H, 3H) (x @ W), one bias per gate (3H,)
    gate_order = "zrn"         # the column blocks are u (= z), r, c (= n)

One bias per gate is exact for reset-before: b_z = b_iz + b_hz, b_r = b_ir + b_hr,
b_n = b_in + b_hn (each enters its pre-activation as one sum).
"""

import torch
from torch import nn


class CourseCell(nn.Module):
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
