"""A reset-after GRU layer without a recurrent candidate bias (as flax nnx computes it).

Declared in gruverify.toml ([tool.gruverify.target."no_bhn_gru:NoBhnGRU"]):

    variant = "reset_after_no_bhn"  # n = tanh(W_in x + b_in + r * (W_hn h)): no b_hn at all
    layout = "fused"                # w_x (3H, I), w_h (3H, H), one bias per gate (3H,)
    returns = "outputs"             # forward returns the outputs only: h_n is the last one

With reset-after, b_hn sits inside r * (W_hn h + b_hn) and cannot be folded into a single bias:
a single candidate bias is b_in alone, a different GRU, which gruverify's reference computes as
the variant reset_after_no_bhn (its output does not depend on b_hn; dL/db_hn = 0).
"""

import torch
from torch import nn


class NoBhnGRU(nn.Module):
    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.w_x = nn.Parameter(torch.randn(3 * hidden_size, input_size) * 0.1)
        self.w_h = nn.Parameter(torch.randn(3 * hidden_size, hidden_size) * 0.1)
        self.bias = nn.Parameter(torch.zeros(3 * hidden_size))

    def forward(self, xs: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        h = xs.new_zeros(xs.shape[1], self.hidden_size) if h is None else h
        outputs = []
        for x in xs:
            ar, az, an = (x @ self.w_x.T + self.bias).chunk(3, dim=-1)
            hr, hz, hn = (h @ self.w_h.T).chunk(3, dim=-1)
            r, z = torch.sigmoid(ar + hr), torch.sigmoid(az + hz)
            h = (1 - z) * torch.tanh(an + r * hn) + z * h
            outputs.append(h)
        return torch.stack(outputs)
