"""MLX ``mlx.nn.GRU`` parameters <-> canonical parameters.

``mlx.nn.GRU(input_size, hidden_size, bias=True)`` (mlx/nn/layers/recurrent.py, mlx 0.32) is one
layer, one direction, batch-major (``x`` ``(N, L, D)`` or ``(L, D)``), and returns every step's
state. Its parameters pack the gates r, z, n along the rows, exactly as Equinox's GRUCell does::

    Wx (3H, I) = [W_ir; W_iz; W_in]           Wh (3H, H) = [W_hr; W_hz; W_hn]
    b  (3H,)   = [b_ir + b_hr, b_iz + b_hz, b_in]             bhn (H,) = b_hn

(``bias=False``: no ``b``, no ``bhn``). It computes the reset-after GRU with the canonical update
``h' = (1 - z) * n + z * h`` (``h' = (1 - z) * n`` at the first step when no state is given). The
mapping is Equinox's with MLX's names (``gruverify.layouts.equinox_layout``): ``b_hr``, ``b_hz``
folded into ``b`` (float64 sums), ``from(to(p)) == mlx_canonical_form(p)`` bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gruverify.core.params import GRUCellParams
from gruverify.layouts.equinox_layout import (
    equinox_canonical_form,
    gru_cell_from_equinox,
    gru_cell_to_equinox,
)
from gruverify.layouts.errors import LayoutError

__all__ = [
    "MLX_GATE_ORDER",
    "MLX_NAMES",
    "gru_cell_from_mlx",
    "gru_cell_to_mlx",
    "mlx_canonical_form",
]

MLX_GATE_ORDER = ("r", "z", "n")
MLX_NAMES = {"Wx": "weight_ih", "Wh": "weight_hh", "b": "bias", "bhn": "bias_n"}
"""MLX's parameter name -> the Equinox field with the same layout."""


def mlx_canonical_form(cell: GRUCellParams[np.ndarray]) -> GRUCellParams[np.ndarray]:
    """The canonical parameters an MLX GRU holds for ``cell`` (``b_hr``, ``b_hz`` folded)."""
    return equinox_canonical_form(cell)


def gru_cell_to_mlx(
    cell: GRUCellParams[np.ndarray], *, bias: bool = True, fold_hidden_biases: bool = True
) -> dict[str, np.ndarray]:
    """``{"Wx", "Wh"[, "b", "bhn"]}`` of an ``mlx.nn.GRU`` computing ``cell`` (``bias=False``
    requires zero biases and omits ``b`` and ``bhn``)."""
    fields = gru_cell_to_equinox(cell, use_bias=bias, fold_hidden_biases=fold_hidden_biases)
    out = {}
    for name, field in MLX_NAMES.items():
        value = fields[field]
        if value is not None:
            out[name] = value
    return out


def gru_cell_from_mlx(params: Mapping[str, Any]) -> GRUCellParams[np.ndarray]:
    """Canonical parameters from an MLX GRU's parameters (``b_hr = b_hz = 0``; all biases zero
    without ``b`` and ``bhn``)."""
    names = set(params)
    if names not in ({"Wx", "Wh", "b", "bhn"}, {"Wx", "Wh"}):
        raise LayoutError(
            f"mlx.nn.GRU parameters are Wx, Wh and (with bias) b, bhn; got {sorted(names)}"
        )
    return gru_cell_from_equinox({field: params.get(name) for name, field in MLX_NAMES.items()})
