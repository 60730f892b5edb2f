"""OpenVINO ``GRUSequence`` (opset 5) inputs <-> canonical parameters.

One ``GRUSequence`` node is one layer, batch-major (OpenVINO operator spec, GRUSequence-5): ``X``
``(B, T, I)``, ``initial_hidden_state`` ``(B, D, H)``, ``sequence_lengths`` ``(B,)``, outputs ``Y``
``(B, D, T, H)`` and ``Ho`` ``(B, D, H)``. Gates are packed z, r, h (h is the candidate, canonical n),
as in ONNX; directions stack on axis 0::

    W (D, 3H, I) = [W_iz; W_ir; W_in]        R (D, 3H, H) = [W_hz; W_hr; W_hn]
    B (D, 3H) = [b_iz + b_hz, b_ir + b_hr, b_in + b_hn]      linear_before_reset = False
    B (D, 4H) = [b_iz + b_hz, b_ir + b_hr, b_in, b_hn]       linear_before_reset = True

``linear_before_reset=True`` computes the reset-after GRU, ``False`` the reset-before one; both use
``H' = (1 - z) * h~ + z * H``, the canonical update. ``B`` is "the sum of biases (weight and
recurrence)": the biases that act as one sum are stored as their float64 sum (one rounding each;
``fold_hidden_biases=False`` raises ``UnsupportedParameterError`` instead), and ``gru_from_openvino``
returns ``b_h* = 0`` for them, so ``from(to(p)) == openvino_canonical_form(p)`` bit for bit
(reset-after: Flax's fold of r and z; reset-before: Keras' ``reset_after=False`` fold of all three).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gruverify.core.params import GRUCellParams
from gruverify.layouts.errors import LayoutError, UnsupportedParameterError
from gruverify.layouts.flax_layout import flax_canonical_form
from gruverify.layouts.keras_layout import keras_canonical_form
from gruverify.layouts.onnx_layout import layer_cells

__all__ = [
    "OPENVINO_GATE_ORDER",
    "gru_from_openvino",
    "gru_to_openvino",
    "openvino_canonical_form",
]

OPENVINO_GATE_ORDER = ("z", "r", "n")


def openvino_canonical_form(
    cell: GRUCellParams[np.ndarray], linear_before_reset: bool
) -> GRUCellParams[np.ndarray]:
    """The canonical parameters a GRUSequence holds for ``cell``: the biases OpenVINO sums moved
    into ``b_i*`` (``b_hr``, ``b_hz``; with ``linear_before_reset=False`` also ``b_hn``)."""
    c = cell.map(lambda v: np.asarray(v, np.float64))
    return flax_canonical_form(c) if linear_before_reset else keras_canonical_form(c, False)


def gru_to_openvino(
    cells: GRUCellParams[np.ndarray] | Sequence[GRUCellParams[np.ndarray]],
    linear_before_reset: bool,
    *,
    fold_hidden_biases: bool = True,
) -> dict[str, np.ndarray]:
    """``{"W", "R", "B"}`` (float64) for one layer: a cell, or (forward, reverse) cells."""
    folded = ("b_hr", "b_hz") + (() if linear_before_reset else ("b_hn",))
    cs = []
    for c in layer_cells(cells, "a GRUSequence node"):
        if not fold_hidden_biases:
            for name in folded:
                if np.any(np.asarray(getattr(c, name)) != 0):
                    raise UnsupportedParameterError(
                        f"GRUSequence(linear_before_reset={linear_before_reset}) has no parameter "
                        f"for {name}, which is nonzero; pass fold_hidden_biases=True to fold it"
                    )
        cs.append(openvino_canonical_form(c, linear_before_reset))
    extra = (lambda c: [c.b_hn]) if linear_before_reset else (lambda c: [])
    return {
        "W": np.stack([np.concatenate([c.W_iz, c.W_ir, c.W_in]) for c in cs]),
        "R": np.stack([np.concatenate([c.W_hz, c.W_hr, c.W_hn]) for c in cs]),
        "B": np.stack([np.concatenate([c.b_iz, c.b_ir, c.b_in, *extra(c)]) for c in cs]),
    }


def gru_from_openvino(
    W: Any, R: Any, B: Any, linear_before_reset: bool
) -> tuple[GRUCellParams[np.ndarray], ...]:
    """Canonical cells, one per direction (forward, then reverse), from GRUSequence inputs."""
    W, R, Bv = (np.array(a, dtype=np.float64) for a in (W, R, B))
    if R.ndim != 3 or R.shape[0] not in (1, 2) or R.shape[1] != 3 * R.shape[2]:
        raise LayoutError(f"R has shape {R.shape}, expected (num_directions in 1..2, 3H, H)")
    dirs, _, H = R.shape
    if W.ndim != 3 or W.shape[:2] != (dirs, 3 * H):
        raise LayoutError(f"W has shape {W.shape}, expected ({dirs}, {3 * H}, input_size)")
    gates = 4 if linear_before_reset else 3
    if Bv.shape != (dirs, gates * H):
        raise LayoutError(
            f"B has shape {Bv.shape}, expected ({dirs}, {gates * H}) for "
            f"linear_before_reset={linear_before_reset}"
        )
    zero = np.zeros(H)
    out = []
    for d in range(dirs):
        w, r, b = (np.split(a[d], k) for a, k in ((W, 3), (R, 3), (Bv, gates)))
        out.append(GRUCellParams(
            W_iz=w[0], W_ir=w[1], W_in=w[2], W_hz=r[0], W_hr=r[1], W_hn=r[2],
            b_iz=b[0], b_ir=b[1], b_in=b[2], b_hz=zero.copy(), b_hr=zero.copy(),
            b_hn=b[3] if linear_before_reset else zero.copy(),
        ))  # fmt: skip
    return tuple(out)
