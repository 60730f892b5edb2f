"""Andrew Ng's course notation (deeplearning.ai Sequence Models, week 1, "GRU") <-> canonical.

The course writes the full GRU on column vectors, with ``c`` the memory cell (``a<t> = c<t>``) and
the previous state stacked *above* the input::

    Gamma_u = sigmoid(W_u [c<t-1>, x<t>] + b_u)
    Gamma_r = sigmoid(W_r [c<t-1>, x<t>] + b_r)
    c~<t>   = tanh(W_c [Gamma_r * c<t-1>, x<t>] + b_c)
    c<t>    = Gamma_u * c~<t> + (1 - Gamma_u) * c<t-1>

The reset gate multiplies ``c<t-1>`` *before* the matrix product, so the course's GRU is the
reset-before variant (Cho et al. 2014; ``variant="reset_before"``, ONNX ``linear_before_reset=0``,
Keras ``reset_after=False``), not torch's reset-after. Its update gate is the complement of the
canonical one (docs/gru-math.md section 1): ``Gamma_u = 1 - z``, ``Gamma_r = r``,
``c = h``. Since ``1 - sigmoid(a) = sigmoid(-a)``::

    W_u = -[W_hz | W_iz]    b_u = -(b_iz + b_hz)
    W_r =  [W_hr | W_ir]    b_r =   b_ir + b_hr
    W_c =  [W_hn | W_in]    b_c =   b_in + b_hn       (valid for reset-before only)

with ``W_*`` of shape (n_a, n_a + n_x) and ``b_*`` columns (n_a, 1), as in the course. The sign flips
are exact; the bias sums are float64 additions (one rounding each; pass ``fold_hidden_biases=False``
for an ``UnsupportedParameterError`` instead). ``from_ng`` puts each bias into ``b_i*`` with
``b_h* = 0``, so ``from_ng(to_ng(p)) == ng_canonical_form(p)`` and ``to_ng(from_ng(q)) == q`` bit
for bit.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from gruverify.core.params import GRUCellParams
from gruverify.layouts.errors import LayoutError, UnsupportedParameterError
from gruverify.reference.numpy_reference import sigmoid

__all__ = [
    "NgGRUParams",
    "ng_canonical_form",
    "gru_cell_to_ng",
    "gru_cell_from_ng",
    "ng_gru_forward",
]


@dataclasses.dataclass(frozen=True)
class NgGRUParams:
    """The course's GRU parameters: ``W_u, W_r, W_c`` (n_a, n_a + n_x), ``b_u, b_r, b_c`` (n_a, 1)."""

    W_u: np.ndarray
    W_r: np.ndarray
    W_c: np.ndarray
    b_u: np.ndarray
    b_r: np.ndarray
    b_c: np.ndarray

    def __post_init__(self) -> None:
        shapes = {k: np.shape(getattr(self, k)) for k in ("W_u", "W_r", "W_c", "b_u", "b_r", "b_c")}
        n_a = shapes["W_u"][0] if len(shapes["W_u"]) == 2 else -1
        cols = shapes["W_u"][1] if len(shapes["W_u"]) == 2 else -1
        if n_a < 1 or cols <= n_a:
            raise LayoutError(f"W_u has shape {shapes['W_u']}, expected (n_a, n_a + n_x), n_x >= 1")
        for k, s in shapes.items():
            want = (n_a, cols) if k.startswith("W") else (n_a, 1)
            if s != want:
                raise LayoutError(
                    f"{k} has shape {s}, expected {want} (n_a={n_a}, n_x={cols - n_a})"
                )

    @property
    def n_a(self) -> int:
        return int(np.shape(self.W_u)[0])

    @property
    def n_x(self) -> int:
        return int(np.shape(self.W_u)[1]) - self.n_a


_FOLD = (("b_ir", "b_hr"), ("b_iz", "b_hz"), ("b_in", "b_hn"))


def ng_canonical_form(cell: GRUCellParams[np.ndarray]) -> GRUCellParams[np.ndarray]:
    """``cell`` with ``b_ir + b_hr``, ``b_iz + b_hz``, ``b_in + b_hn`` moved into ``b_i*``
    (``b_h* = 0``): the same reset-before GRU, and what ``from_ng(to_ng(cell))`` returns."""
    c = cell.map(lambda v: np.asarray(v, np.float64))
    changes: dict[str, np.ndarray] = {}
    for bi, bh in _FOLD:
        changes[bi] = getattr(c, bi) + getattr(c, bh)
        changes[bh] = np.zeros_like(changes[bi])
    return c.replace(**changes)


def gru_cell_to_ng(
    cell: GRUCellParams[np.ndarray], *, fold_hidden_biases: bool = True
) -> NgGRUParams:
    """The course's parameters for the reset-before GRU ``cell`` (module docstring)."""
    c = cell.map(lambda v: np.asarray(v, np.float64))
    if not fold_hidden_biases:
        for _, bh in _FOLD:
            value = getattr(c, bh)
            if np.any(value != 0):
                raise UnsupportedParameterError(
                    f"the course's GRU has one bias per gate, so {bh} (max |{bh}| = "
                    f"{float(np.max(np.abs(value))):.3g}) must be folded; pass fold_hidden_biases=True"
                )
    f = ng_canonical_form(c)
    return NgGRUParams(
        W_u=-np.hstack([f.W_hz, f.W_iz]),
        W_r=np.hstack([f.W_hr, f.W_ir]),
        W_c=np.hstack([f.W_hn, f.W_in]),
        b_u=-f.b_iz[:, None],
        b_r=f.b_ir[:, None].copy(),
        b_c=f.b_in[:, None].copy(),
    )


def gru_cell_from_ng(ng: NgGRUParams) -> GRUCellParams[np.ndarray]:
    """Canonical (reset-before) parameters from the course's; ``b_h* = 0``."""
    n_a = ng.n_a
    W_u, W_r, W_c = (np.asarray(w, np.float64) for w in (ng.W_u, ng.W_r, ng.W_c))
    b_u, b_r, b_c = (np.asarray(b, np.float64)[:, 0] for b in (ng.b_u, ng.b_r, ng.b_c))
    zeros = np.zeros(n_a)
    return GRUCellParams(
        W_ir=W_r[:, n_a:].copy(), W_iz=-W_u[:, n_a:], W_in=W_c[:, n_a:].copy(),
        W_hr=W_r[:, :n_a].copy(), W_hz=-W_u[:, :n_a], W_hn=W_c[:, :n_a].copy(),
        b_ir=b_r.copy(), b_iz=-b_u, b_in=b_c.copy(),
        b_hr=zeros, b_hz=zeros.copy(), b_hn=zeros.copy(),
    )  # fmt: skip


def ng_gru_forward(ng: NgGRUParams, x: Any, c0: Any = None) -> np.ndarray:
    """The course's equations, literally, in its layout: ``x`` (n_x, m, T_x), ``c0`` (n_a, m) or
    None (zeros); returns ``c`` (n_a, m, T_x), the state after each step (``a<t> = c<t>``)."""
    x = np.asarray(x, np.float64)
    if x.ndim != 3 or x.shape[0] != ng.n_x:
        raise LayoutError(f"x has shape {x.shape}, expected (n_x={ng.n_x}, m, T_x)")
    _, m, T_x = x.shape
    c_prev = np.zeros((ng.n_a, m)) if c0 is None else np.asarray(c0, np.float64)
    if c_prev.shape != (ng.n_a, m):
        raise LayoutError(f"c0 has shape {c_prev.shape}, expected (n_a={ng.n_a}, m={m})")
    c = np.zeros((ng.n_a, m, T_x))
    for t in range(T_x):
        xt = x[:, :, t]
        concat = np.vstack([c_prev, xt])
        gamma_u = sigmoid(ng.W_u @ concat + ng.b_u)
        gamma_r = sigmoid(ng.W_r @ concat + ng.b_r)
        c_tilde = np.tanh(ng.W_c @ np.vstack([gamma_r * c_prev, xt]) + ng.b_c)
        c_prev = gamma_u * c_tilde + (1.0 - gamma_u) * c_prev
        c[:, :, t] = c_prev
    return c
