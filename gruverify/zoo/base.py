"""A clean, correct GRU module with ``torch.nn.GRU``'s interface, built from small overridable hooks.

The zoo's mutants (``gruverify.zoo.mutants``) and alternative correct implementations
(``gruverify.zoo.correct``) derive from ``ZooGRU`` and override one hook each, so every planted bug
is a few lines next to the real defect it mirrors. The module computes, per layer and direction,
with the parameters read from ``torch.nn.GRU``'s packed layout (gates in the order r, z, n)::

    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
    z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
    h' = (1 - z) * n + z * h

with explicit matmuls and a Python loop over time (autograd differentiates it). Semantics are
``torch.nn.GRU``'s: ``input`` ``(T, B, I)`` (``(B, T, I)`` with ``batch_first``), unbatched ``(T, I)``
or a ``PackedSequence``; ``hx`` ``(L * D, B, H)`` (``(L * D, H)`` unbatched) or None for zeros;
returns ``(output, h_n)``, output ``(T, B, D * H)`` with the directions concatenated and the reverse
direction's outputs at their real time index. With a ``PackedSequence`` sequence b runs for
``t < lengths[b]`` only and its reverse direction starts at ``t = lengths[b] - 1``.

Hooks (each small): ``gates`` (split the packed parameters), ``sigmoid``, ``cell`` (one step),
``candidate`` (the pre-activation of n), ``update`` (the convex combination), ``validate_hidden``,
``initial_state``,
``recurrent_state`` (the state fed to the next step), ``step_mask``, ``direction_output``,
``final_output`` and ``finish`` (post-processing of ``(output, h_n)``).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

__all__ = ["Gates", "ZooGRU", "flip_valid"]


class Gates(NamedTuple):
    """The twelve matrices and vectors of one layer and direction (W_i* (H, I), W_h* (H, H))."""

    W_ir: Tensor
    W_iz: Tensor
    W_in: Tensor
    W_hr: Tensor
    W_hz: Tensor
    W_hn: Tensor
    b_ir: Tensor
    b_iz: Tensor
    b_in: Tensor
    b_hr: Tensor
    b_hz: Tensor
    b_hn: Tensor


def flip_valid(seq: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse ``seq`` ``(T, B, ...)`` in time within each sequence's valid length.

    ``out[t, b] = seq[lengths[b] - 1 - t, b]`` for ``t < lengths[b]``, zeros beyond.
    """
    T = seq.shape[0]
    if lengths is None:
        return seq.flip(0)
    t = torch.arange(T, device=seq.device)[:, None]
    lens = lengths.to(seq.device)[None, :]
    src = torch.where(t < lens, lens - 1 - t, t)
    idx = src.reshape(T, -1, *([1] * (seq.dim() - 2))).expand_as(seq)
    flipped = torch.gather(seq, 0, idx)
    valid = (t < lens).reshape(T, -1, *([1] * (seq.dim() - 2)))
    return torch.where(valid, flipped, torch.zeros_like(flipped))


class ZooGRU(nn.Module):
    """A correct GRU stack (reset-after, torch's equations) with ``torch.nn.GRU``'s signature.

    ``dropout`` is applied between layers in training mode, as ``torch.nn.GRU`` does; the checker
    runs modules in eval mode.
    """

    _h0_given: bool = False
    """Whether the current call passed ``hx`` (read by hooks that treat ``hx=None`` specially)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        for name, v in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"num_layers must be a positive integer, got {num_layers!r}")
        if not 0.0 <= float(dropout) <= 1.0:
            raise ValueError(f"dropout must be in [0, 1], got {dropout!r}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        D = 2 if bidirectional else 1
        kw: dict[str, Any] = {"device": device, "dtype": dtype}
        for layer in range(num_layers):
            in_size = input_size if layer == 0 else hidden_size * D
            for d in range(D):
                sfx = self._suffix(layer, d)
                setattr(
                    self,
                    f"weight_ih{sfx}",
                    nn.Parameter(torch.empty(3 * hidden_size, in_size, **kw)),
                )
                setattr(
                    self,
                    f"weight_hh{sfx}",
                    nn.Parameter(torch.empty(3 * hidden_size, hidden_size, **kw)),
                )
                if self.bias:
                    setattr(self, f"bias_ih{sfx}", nn.Parameter(torch.empty(3 * hidden_size, **kw)))
                    setattr(self, f"bias_hh{sfx}", nn.Parameter(torch.empty(3 * hidden_size, **kw)))
        self.reset_parameters()

    @staticmethod
    def _suffix(layer: int, direction: int) -> str:
        return f"_l{layer}" + ("_reverse" if direction == 1 else "")

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def reset_parameters(self) -> None:
        """Uniform in ``[-1/sqrt(H), 1/sqrt(H)]`` (torch's initialisation)."""
        k = 1.0 / math.sqrt(self.hidden_size)
        with torch.no_grad():
            for p in self.parameters():
                p.uniform_(-k, k)

    # -- hooks ------------------------------------------------------------------------------------

    def gates(self, layer: int, direction: int) -> Gates:
        """Split the packed ``weight_ih``/``weight_hh``/``bias_*`` (rows r, z, n) into named blocks."""
        sfx = self._suffix(layer, direction)
        w_ih: Tensor = getattr(self, f"weight_ih{sfx}")
        w_hh: Tensor = getattr(self, f"weight_hh{sfx}")
        if self.bias:
            b_ih: Tensor = getattr(self, f"bias_ih{sfx}")
            b_hh: Tensor = getattr(self, f"bias_hh{sfx}")
        else:
            b_ih = b_hh = w_hh.new_zeros(3 * self.hidden_size)
        return Gates(*w_ih.chunk(3, 0), *w_hh.chunk(3, 0), *b_ih.chunk(3, 0), *b_hh.chunk(3, 0))

    def sigmoid(self, a: Tensor) -> Tensor:
        return torch.sigmoid(a)

    def cell(self, x: Tensor, h: Tensor, g: Gates, k: int) -> Tensor:
        """One step ``h' = (1 - z) n + z h``; ``k`` counts the steps taken in this direction."""
        r = self.sigmoid(x @ g.W_ir.T + g.b_ir + h @ g.W_hr.T + g.b_hr)
        z = self.sigmoid(x @ g.W_iz.T + g.b_iz + h @ g.W_hz.T + g.b_hz)
        n = torch.tanh(self.candidate(x, h, r, g))
        return self.update(n, z, h)

    def candidate(self, x: Tensor, h: Tensor, r: Tensor, g: Gates) -> Tensor:
        """Reset-after: ``a_n = W_in x + b_in + r * (W_hn h + b_hn)``."""
        return x @ g.W_in.T + g.b_in + r * (h @ g.W_hn.T + g.b_hn)

    def update(self, n: Tensor, z: Tensor, h: Tensor) -> Tensor:
        return (1 - z) * n + z * h

    def validate_hidden(self, hx: Tensor, want: tuple[int, ...]) -> Tensor:
        """Reject an ``hx`` whose shape is not ``want``."""
        if tuple(hx.shape) != want:
            raise RuntimeError(f"Expected hidden size {want}, got {list(hx.shape)}")
        return hx

    def initial_state(self, hx: Tensor | None, batch: int, like: Tensor) -> Tensor:
        """``(L * D, B, H)``: ``hx`` or zeros."""
        if hx is not None:
            return hx
        return like.new_zeros((self.num_layers * self.num_directions, batch, self.hidden_size))

    def recurrent_state(self, h: Tensor, h0: Tensor) -> Tensor:
        """The state the next step reads: the previous step's."""
        return h

    def step_mask(self, t: int, lengths: Tensor | None, direction: int) -> Tensor | None:
        """``(B, 1)`` boolean: which sequences take step ``t`` (None: all)."""
        return None if lengths is None else (t < lengths)[:, None]

    def direction_output(self, out: Tensor, direction: int, lengths: Tensor | None) -> Tensor:
        """One direction's outputs ``(T, B, H)`` indexed by real time."""
        return out

    def final_output(self, seq: Tensor) -> Tensor:
        """The last layer's ``(T, B, D * H)`` output, directions concatenated."""
        return seq

    def finish(self, output: Tensor, h_n: Tensor) -> tuple[Tensor, Tensor]:
        return output, h_n

    # -- the stack --------------------------------------------------------------------------------

    def run_direction(
        self, layer: int, direction: int, seq: Tensor, h0: Tensor, lengths: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """Outputs ``(T, B, H)`` (zeros where a sequence has ended) and the final state."""
        out, h = self.scan(self.gates(layer, direction), seq, h0, lengths, direction)
        return self.direction_output(out, direction, lengths), h

    def scan(
        self, g: Gates, seq: Tensor, h0: Tensor, lengths: Tensor | None, direction: int,
        reverse: bool | None = None,
    ) -> tuple[Tensor, Tensor]:  # fmt: skip
        """Run one direction's loop; ``reverse`` (default: ``direction == 1``) runs t = T-1 .. 0."""
        T = seq.shape[0]
        backwards = direction == 1 if reverse is None else reverse
        order = range(T - 1, -1, -1) if backwards else range(T)
        ys: list[Tensor] = [h0] * T
        h = h0
        for k, t in enumerate(order):
            h_new = self.cell(seq[t], self.recurrent_state(h, h0), g, k)
            m = self.step_mask(t, lengths, direction)
            if m is None:
                h, ys[t] = h_new, h_new
            else:
                h = torch.where(m, h_new, h)
                ys[t] = torch.where(m, h_new, torch.zeros_like(h_new))
        return torch.stack(ys), h

    def forward(self, input: Any, hx: Tensor | None = None) -> tuple[Any, Tensor]:
        """``(output, h_n)`` with ``torch.nn.GRU``'s shapes, layouts and errors (module docstring)."""
        packed = isinstance(input, PackedSequence)
        lengths: Tensor | None = None
        if packed:
            x, lengths = pad_packed_sequence(input)
        else:
            x = input
            if not isinstance(x, Tensor):
                raise TypeError(f"input must be a Tensor or PackedSequence, got {type(x).__name__}")
            if x.dim() not in (2, 3):
                raise ValueError(f"GRU: expected input to be 2-D or 3-D, got {x.dim()}-D input")
        batched = packed or x.dim() == 3
        if not batched:
            x = x.unsqueeze(1)
        elif self.batch_first and not packed:
            x = x.transpose(0, 1)
        if x.shape[-1] != self._layer_input_size(0):
            raise RuntimeError(
                f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                f"got {x.shape[-1]}"
            )
        B = int(x.shape[1])
        L, D, H = self.num_layers, self.num_directions, self.hidden_size
        if hx is not None:
            hx = self.validate_hidden(hx, (L * D, B, H) if batched else (L * D, H))
            if not batched:
                hx = hx.unsqueeze(1)
        if lengths is not None:
            lengths = lengths.to(x.device)
        self._h0_given = hx is not None
        h0 = self.initial_state(hx, B, x)
        seq = x
        finals: list[Tensor] = []
        for layer in range(L):
            if layer > 0 and self.training and self.dropout > 0:
                seq = nn.functional.dropout(seq, self.dropout, True)
            outs = []
            for d in range(D):
                out, h_last = self.run_direction(layer, d, seq, h0[layer * D + d], lengths)
                outs.append(out)
                finals.append(h_last)
            seq = torch.cat(outs, dim=2) if D == 2 else outs[0]
        output = self.final_output(seq)
        h_n = torch.stack(finals)
        output, h_n = self.finish(output, h_n)
        if packed:
            return _repack(output, input), h_n
        if not batched:
            return output[:, 0], h_n[:, 0]
        return (output.transpose(0, 1) if self.batch_first else output), h_n

    def _layer_input_size(self, layer: int) -> int:
        return self.input_size if layer == 0 else self.hidden_size * self.num_directions

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
            f"bias={self.bias}, batch_first={self.batch_first}, bidirectional={self.bidirectional}"
        )


def _repack(output: Tensor, like: PackedSequence) -> PackedSequence:
    """Pack time-major ``output`` (original batch order) with ``like``'s batch sizes and order."""
    seq = output if like.sorted_indices is None else output.index_select(1, like.sorted_indices)
    data = torch.cat([seq[t, : int(bs)] for t, bs in enumerate(like.batch_sizes)])
    return PackedSequence(data, like.batch_sizes, like.sorted_indices, like.unsorted_indices)
