"""Equinox ``equinox.nn.GRUCell`` parameters <-> canonical parameters.

``equinox.nn.GRUCell(input_size, hidden_size, use_bias=True)`` (equinox/nn/_rnn.py, equinox 0.13)
is one step on unbatched vectors, ``cell(x (I,), h (H,)) -> h' (H,)``; its fields, gates packed
r, z, n along the rows like torch's::

    weight_ih (3H, I) = [W_ir; W_iz; W_in]        weight_hh (3H, H) = [W_hr; W_hz; W_hn]
    bias      (3H,)   = [b_ir + b_hr, b_iz + b_hz, b_in]          bias_n (H,) = b_hn

and it computes the reset-after GRU ``n = tanh(W_in x + bias[n] + r * (W_hn h + bias_n))`` with the
update written ``h' = n + z * (h - n)``: algebraically the canonical ``(1 - z) * n + z * h`` (one
rounding fewer). ``use_bias=False`` sets ``bias`` and ``bias_n`` to ``None``.

Bias folding: ``b_hr`` and ``b_hz`` have no field of their own; each enters its sigmoid beside
``b_ir``, ``b_iz`` as one sum, so ``gru_cell_to_equinox`` stores the float64 sums (one rounding
each; ``fold_hidden_biases=False`` raises ``UnsupportedParameterError`` instead) and
``gru_cell_from_equinox`` returns ``b_hr = b_hz = 0``: ``from(to(p)) == equinox_canonical_form(p)``
bit for bit. ``b_hn`` keeps its own field (it sits inside the reset product).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gruverify.core.params import GRUCellParams
from gruverify.layouts.errors import LayoutError, UnsupportedParameterError
from gruverify.layouts.flax_layout import flax_canonical_form

__all__ = [
    "EQUINOX_FIELDS",
    "EQUINOX_GATE_ORDER",
    "equinox_canonical_form",
    "gru_cell_from_equinox",
    "gru_cell_to_equinox",
]

EQUINOX_GATE_ORDER = ("r", "z", "n")
EQUINOX_FIELDS = ("weight_ih", "weight_hh", "bias", "bias_n")


def equinox_canonical_form(cell: GRUCellParams[np.ndarray]) -> GRUCellParams[np.ndarray]:
    """The canonical parameters an Equinox GRUCell holds for ``cell``: ``b_ir + b_hr`` and
    ``b_iz + b_hz`` in ``b_ir``, ``b_iz`` and ``b_hr = b_hz = 0`` (the same GRU; the fold is
    Flax's, ``flax_canonical_form``)."""
    return flax_canonical_form(cell)


def gru_cell_to_equinox(
    cell: GRUCellParams[np.ndarray], *, use_bias: bool = True, fold_hidden_biases: bool = True
) -> dict[str, np.ndarray | None]:
    """The fields ``weight_ih, weight_hh, bias, bias_n`` of an Equinox GRUCell computing ``cell``
    (``bias = bias_n = None`` for ``use_bias=False``, which requires every bias to be zero)."""
    c = cell.map(lambda v: np.asarray(v, np.float64))
    biases = {k: v for k, v in c.items() if k.startswith("b_")}
    if not use_bias:
        nonzero = [k for k, v in biases.items() if np.any(v != 0)]
        if nonzero:
            raise UnsupportedParameterError(
                f"equinox.nn.GRUCell(use_bias=False) has no biases, but {', '.join(nonzero)} "
                "are nonzero"
            )
    elif not fold_hidden_biases:
        for name in ("b_hr", "b_hz"):
            if np.any(biases[name] != 0):
                raise UnsupportedParameterError(
                    f"equinox.nn.GRUCell has no parameter for {name}, which is nonzero; pass "
                    "fold_hidden_biases=True to fold it into b_i*"
                )
    f = equinox_canonical_form(c)
    return {
        "weight_ih": np.concatenate([f.W_ir, f.W_iz, f.W_in]),
        "weight_hh": np.concatenate([f.W_hr, f.W_hz, f.W_hn]),
        "bias": np.concatenate([f.b_ir, f.b_iz, f.b_in]) if use_bias else None,
        "bias_n": f.b_hn.copy() if use_bias else None,
    }


def _array(fields: Mapping[str, Any], name: str) -> np.ndarray | None:
    v = fields[name]
    return None if v is None else np.array(v, dtype=np.float64)


def gru_cell_from_equinox(fields: Any) -> GRUCellParams[np.ndarray]:
    """Canonical parameters from an Equinox GRUCell (or a mapping of its four fields);
    ``b_hr = b_hz = 0``, and all biases zero when ``bias`` is ``None``."""
    if not isinstance(fields, Mapping):
        fields = {k: getattr(fields, k) for k in EQUINOX_FIELDS}
    if set(fields) != set(EQUINOX_FIELDS):
        raise LayoutError(
            f"an Equinox GRUCell has the fields {list(EQUINOX_FIELDS)}; got {sorted(fields)}"
        )
    w_ih, w_hh = _array(fields, "weight_ih"), _array(fields, "weight_hh")
    if w_hh is None or w_hh.ndim != 2 or w_hh.shape[0] != 3 * w_hh.shape[1]:
        shape = None if w_hh is None else w_hh.shape
        raise LayoutError(f"weight_hh has shape {shape}, expected (3H, H) packed r, z, n")
    H = w_hh.shape[1]
    if w_ih is None or w_ih.ndim != 2 or w_ih.shape[0] != 3 * H:
        raise LayoutError(f"weight_ih has shape {None if w_ih is None else w_ih.shape}, "
                          f"expected ({3 * H}, input_size)")  # fmt: skip
    bias, bias_n = _array(fields, "bias"), _array(fields, "bias_n")
    if (bias is None) != (bias_n is None):
        raise LayoutError("bias and bias_n must both be arrays (use_bias=True) or both None")
    b = np.zeros(3 * H) if bias is None else bias
    b_n = np.zeros(H) if bias_n is None else bias_n
    if b.shape != (3 * H,) or b_n.shape != (H,):
        raise LayoutError(f"bias {b.shape} and bias_n {b_n.shape}, expected ({3 * H},), ({H},)")
    r, z, n = slice(0, H), slice(H, 2 * H), slice(2 * H, 3 * H)
    return GRUCellParams(
        W_ir=w_ih[r].copy(), W_iz=w_ih[z].copy(), W_in=w_ih[n].copy(),
        W_hr=w_hh[r].copy(), W_hz=w_hh[z].copy(), W_hn=w_hh[n].copy(),
        b_ir=b[r].copy(), b_iz=b[z].copy(), b_in=b[n].copy(),
        b_hr=np.zeros(H), b_hz=np.zeros(H), b_hn=b_n.copy(),
    )  # fmt: skip
