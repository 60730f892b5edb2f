"""Haiku ``haiku.GRU`` parameters <-> canonical parameters (reset-before, complemented update gate).

``haiku.GRU(hidden_size)`` (haiku/_src/recurrent.py, dm-haiku 0.0.17) has three parameters, gates
packed z, r, a (a is the candidate, canonical n) along the *last* axis, multiplying row vectors::

    w_i (I, 3H)   w_h (H, 3H)   b (3H,)

and computes (its docstring and code)::

    z_hk = sigmoid(x w_i[z] + h w_h[z] + b[z])       r = sigmoid(x w_i[r] + h w_h[r] + b[r])
    a = tanh(x w_i[a] + (r * h) w_h[a] + b[a])                                  (reset-before)
    h' = (1 - z_hk) * h + z_hk * a

**The update convention is the complement of the canonical one**: Haiku's gate multiplies the
*candidate*, the canonical ``z`` multiplies the *old state* (``h' = (1 - z) n + z h``). So
``z_hk = 1 - z = sigmoid(-(W_iz x + W_hz h + b_iz + b_hz))``: the converter maps the update gate by
negating its weights and bias, an exact operation (a sign flip), and ``sigmoid(-u) = 1 -
sigmoid(u)`` exactly in real arithmetic. Haiku's ``r`` and ``a`` are the canonical ones::

    w_i = [-W_iz | W_ir | W_in]^T        w_h = [-W_hz | W_hr | W_hn]^T
    b   = [-(b_iz + b_hz), b_ir + b_hr, b_in + b_hn]

Bias folding: Haiku has one bias per gate; in the reset-before GRU each canonical pair enters the
pre-activation as one sum, so ``gru_cell_to_haiku`` stores the float64 sums (one rounding each;
``fold_hidden_biases=False`` raises ``UnsupportedParameterError`` instead) and
``gru_cell_from_haiku`` returns ``b_h* = 0``: ``from(to(p)) == haiku_canonical_form(p)`` bit for bit
(the fold is Keras' ``reset_after=False`` one). Haiku has no ``use_bias`` switch: a ``bias=False``
GRU is ``b = 0``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gruverify.core.params import GRUCellParams
from gruverify.layouts.errors import LayoutError, UnsupportedParameterError
from gruverify.layouts.keras_layout import keras_canonical_form

__all__ = [
    "HAIKU_GATE_ORDER",
    "HAIKU_KEYS",
    "gru_cell_from_haiku",
    "gru_cell_to_haiku",
    "haiku_canonical_form",
]

HAIKU_GATE_ORDER = ("z", "r", "n")  # z complemented: z_hk = 1 - z
HAIKU_KEYS = ("w_i", "w_h", "b")


def haiku_canonical_form(cell: GRUCellParams[np.ndarray]) -> GRUCellParams[np.ndarray]:
    """The canonical parameters a Haiku GRU holds for ``cell``: ``b_i* + b_h*`` in ``b_i*`` and
    ``b_h* = 0`` (the same reset-before GRU; Keras' ``reset_after=False`` fold)."""
    return keras_canonical_form(cell.map(lambda v: np.asarray(v, np.float64)), reset_after=False)


def gru_cell_to_haiku(
    cell: GRUCellParams[np.ndarray], *, fold_hidden_biases: bool = True
) -> dict[str, np.ndarray]:
    """``{"w_i", "w_h", "b"}`` of a ``haiku.GRU`` computing the reset-before GRU ``cell``."""
    c = cell.map(lambda v: np.asarray(v, np.float64))
    if not fold_hidden_biases:
        for name in ("b_hr", "b_hz", "b_hn"):
            if np.any(getattr(c, name) != 0):
                raise UnsupportedParameterError(
                    f"haiku.GRU has no parameter for {name}, which is nonzero; pass "
                    "fold_hidden_biases=True to fold it into b_i*"
                )
    f = haiku_canonical_form(c)
    return {
        "w_i": np.concatenate([-f.W_iz, f.W_ir, f.W_in]).T.copy(),
        "w_h": np.concatenate([-f.W_hz, f.W_hr, f.W_hn]).T.copy(),
        "b": np.concatenate([-f.b_iz, f.b_ir, f.b_in]),
    }


def gru_cell_from_haiku(params: Mapping[str, Any]) -> GRUCellParams[np.ndarray]:
    """Canonical parameters (reset-before, ``b_h* = 0``) from a ``haiku.GRU``'s ``w_i, w_h, b``."""
    if set(params) != set(HAIKU_KEYS):
        raise LayoutError(f"haiku.GRU parameters are {list(HAIKU_KEYS)}; got {sorted(params)}")
    w_i, w_h, b = (np.array(params[k], dtype=np.float64) for k in HAIKU_KEYS)
    if w_h.ndim != 2 or w_h.shape[1] != 3 * w_h.shape[0]:
        raise LayoutError(f"w_h has shape {w_h.shape}, expected (H, 3H) packed z, r, a")
    H = w_h.shape[0]
    if w_i.ndim != 2 or w_i.shape[1] != 3 * H:
        raise LayoutError(f"w_i has shape {w_i.shape}, expected (input_size, {3 * H})")
    if b.shape != (3 * H,):
        raise LayoutError(f"b has shape {b.shape}, expected ({3 * H},)")
    wi, wh = w_i.T, w_h.T
    z, r, n = slice(0, H), slice(H, 2 * H), slice(2 * H, 3 * H)
    return GRUCellParams(
        W_ir=wi[r].copy(), W_iz=-wi[z], W_in=wi[n].copy(),
        W_hr=wh[r].copy(), W_hz=-wh[z], W_hn=wh[n].copy(),
        b_ir=b[r].copy(), b_iz=-b[z], b_in=b[n].copy(),
        b_hr=np.zeros(H), b_hz=np.zeros(H), b_hn=np.zeros(H),
    )  # fmt: skip
