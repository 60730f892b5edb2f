"""Keras 3 ``GRU`` / ``GRUCell`` weights <-> canonical parameters.

Keras packs gates in the order z, r, h (h is the candidate, canonical n) along the *last* axis and
multiplies row vectors, so its kernels are the transposes of the canonical matrices::

    kernel           (I, 3H) = [W_iz | W_ir | W_in]^T
    recurrent_kernel (H, 3H) = [W_hz | W_hr | W_hn]^T
    bias (2, 3H) = [[b_iz, b_ir, b_in], [b_hz, b_hr, b_hn]]      reset_after=True  (the default)
    bias (3H,)   =  [b_iz + b_hz, b_ir + b_hr, b_in + b_hn]      reset_after=False

``reset_after=True`` computes the reset-after variant (``n = tanh(W_in x + b_in + r * (W_hn h +
b_hn))``), ``reset_after=False`` the reset-before variant (``n = tanh(W_in x + b_in + W_hn (r * h))``,
keras/src/layers/rnn/gru.py). Both use ``h' = z * h + (1 - z) * n``, the canonical update.

Bias folding (reset_after=False). Keras then has one bias per gate. In the reset-before variant
``b_ir + b_hr``, ``b_iz + b_hz`` and ``b_in + b_hn`` each enter the pre-activation as one sum, so
the canonical parameters are represented by the folded biases. ``gru_cell_to_keras`` computes the
sums in float64 (one rounding each: exact up to 2**-53 relative, far below the float32 Keras
computes in; bit-exact whenever a hidden bias is zero). ``gru_cell_from_keras`` puts the bias into
``b_i*`` and zeros into ``b_h*``, so the round trip is exact onto the folded canonical form:
``from_keras(to_keras(p)) == keras_canonical_form(p, reset_after)`` bit for bit. Pass
``fold_hidden_biases=False`` to get an ``UnsupportedParameterError`` instead of a sum whenever a hidden
bias is nonzero.

A Keras stack is a list of layers, each a ``GRU`` (weights ``[kernel, recurrent_kernel, bias]``) or a
``Bidirectional(GRU, merge_mode="concat")`` (the forward layer's weights, then the backward layer's),
the lists ``layer.get_weights()`` returns and ``layer.set_weights`` takes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gruverify.core.params import GRUCellParams, GRUParams, StackParams
from gruverify.layouts.errors import LayoutError, UnsupportedParameterError

__all__ = [
    "KERAS_GATE_ORDER",
    "gru_cell_from_keras",
    "gru_cell_to_keras",
    "gru_from_keras",
    "gru_to_keras",
    "keras_canonical_form",
]

KERAS_GATE_ORDER = ("z", "r", "n")

_KERAS_KEYS = ("kernel", "recurrent_kernel", "bias")
_FOLD = (("b_ir", "b_hr"), ("b_iz", "b_hz"), ("b_in", "b_hn"))


def _np(v: Any) -> np.ndarray:
    if hasattr(v, "detach"):  # a torch tensor (Keras' torch backend)
        v = v.detach().cpu().double().numpy()
    elif hasattr(v, "numpy") and not isinstance(v, np.ndarray):  # a keras.Variable
        v = v.numpy()
    return np.array(v, dtype=np.float64)


def keras_canonical_form(
    cell: GRUCellParams[np.ndarray], reset_after: bool = True
) -> GRUCellParams[np.ndarray]:
    """The canonical parameters a Keras GRU with this ``reset_after`` holds for ``cell``.

    ``reset_after=True``: ``cell`` itself. ``reset_after=False``: ``b_ir + b_hr``, ``b_iz + b_hz``
    and ``b_in + b_hn`` moved into ``b_i*`` (``b_h* = 0``), which computes the same reset-before GRU.
    """
    if reset_after:
        return cell
    changes: dict[str, np.ndarray] = {}
    for bi, bh in _FOLD:
        changes[bi] = np.asarray(getattr(cell, bi), np.float64) + np.asarray(
            getattr(cell, bh), np.float64
        )
        changes[bh] = np.zeros_like(changes[bi])
    return cell.replace(**changes)


def gru_cell_to_keras(
    cell: GRUCellParams[np.ndarray],
    reset_after: bool = True,
    use_bias: bool = True,
    *,
    fold_hidden_biases: bool = True,
) -> dict[str, np.ndarray]:
    """``{"kernel", "recurrent_kernel"[, "bias"]}`` of a Keras GRU computing ``cell``.

    ``reset_after=False`` folds the hidden biases into the single Keras bias (module docstring); with
    ``fold_hidden_biases=False`` a nonzero hidden bias raises ``UnsupportedParameterError`` instead.
    ``use_bias=False`` requires all six biases to be zero (a Keras GRU without bias cannot hold
    them) and omits ``"bias"``.
    """
    c = cell.map(lambda v: np.asarray(v, np.float64))
    out = {
        "kernel": np.concatenate([c.W_iz, c.W_ir, c.W_in]).T.copy(),
        "recurrent_kernel": np.concatenate([c.W_hz, c.W_hr, c.W_hn]).T.copy(),
    }
    if not use_bias:
        for name in ("b_ir", "b_iz", "b_in", "b_hr", "b_hz", "b_hn"):
            _require_zero(c, name, "a Keras GRU with use_bias=False")
        return out
    if reset_after:
        out["bias"] = np.stack(
            [np.concatenate([c.b_iz, c.b_ir, c.b_in]), np.concatenate([c.b_hz, c.b_hr, c.b_hn])]
        )
        return out
    if not fold_hidden_biases:
        for _, bh in _FOLD:
            _require_zero(c, bh, "a Keras GRU with reset_after=False (fold_hidden_biases=False)")
    f = keras_canonical_form(c, reset_after=False)
    out["bias"] = np.concatenate([f.b_iz, f.b_ir, f.b_in])
    return out


def _require_zero(cell: GRUCellParams[np.ndarray], name: str, target: str) -> None:
    value = np.asarray(getattr(cell, name))
    if np.any(value != 0):
        raise UnsupportedParameterError(
            f"{target} has no parameter for {name}, which is nonzero "
            f"(max |{name}| = {float(np.max(np.abs(value))):.3g})"
        )


def _as_mapping(weights: Mapping[str, Any] | Sequence[Any]) -> dict[str, Any]:
    if isinstance(weights, Mapping):
        unknown = sorted(set(weights) - set(_KERAS_KEYS))
        if unknown or "kernel" not in weights or "recurrent_kernel" not in weights:
            raise LayoutError(
                f"Keras GRU weights need 'kernel' and 'recurrent_kernel' (and optionally 'bias'); "
                f"got keys {sorted(weights)}"
            )
        return dict(weights)
    if len(weights) not in (2, 3):
        raise LayoutError(
            f"Keras GRU weights are [kernel, recurrent_kernel] or [kernel, recurrent_kernel, bias]; "
            f"got a list of {len(weights)} arrays"
        )
    return dict(zip(_KERAS_KEYS, weights, strict=False))


def gru_cell_from_keras(
    weights: Mapping[str, Any] | Sequence[Any], reset_after: bool | None = None
) -> GRUCellParams[np.ndarray]:
    """Canonical parameters from one Keras GRU's weights (a mapping or ``layer.get_weights()``).

    The variant follows from the bias shape ((2, 3H): reset_after, (3H,): reset_before); pass
    ``reset_after`` to have it checked. Without a bias every canonical bias is zero. With a (3H,)
    bias the hidden biases are zero (the folded form, module docstring).
    """
    w = _as_mapping(weights)
    kernel, rec = _np(w["kernel"]), _np(w["recurrent_kernel"])
    if rec.ndim != 2 or rec.shape[1] != 3 * rec.shape[0]:
        raise LayoutError(
            f"recurrent_kernel has shape {rec.shape}, expected (H, 3H) packed z, r, h"
        )
    H = rec.shape[0]
    if kernel.ndim != 2 or kernel.shape[1] != 3 * H:
        raise LayoutError(
            f"kernel has shape {kernel.shape}, expected (I, {3 * H}) for hidden size {H}"
        )
    zeros = np.zeros(3 * H)
    bias = w.get("bias")
    if bias is None:
        b_i, b_h = zeros, zeros
    else:
        b = _np(bias)
        if b.shape == (2, 3 * H):
            found_after = True
            b_i, b_h = b[0], b[1]
        elif b.shape == (3 * H,):
            found_after = False
            b_i, b_h = b, zeros
        else:
            raise LayoutError(
                f"bias has shape {b.shape}, expected (2, {3 * H}) (reset_after=True) or "
                f"({3 * H},) (reset_after=False)"
            )
        if reset_after is not None and reset_after != found_after:
            raise LayoutError(
                f"bias shape {b.shape} means reset_after={found_after}, but reset_after="
                f"{reset_after} was asked for"
            )
    k, rk = kernel.T, rec.T  # (3H, I), (3H, H), rows z, r, h
    z, r, n = slice(0, H), slice(H, 2 * H), slice(2 * H, 3 * H)
    return GRUCellParams(
        W_ir=k[r].copy(), W_iz=k[z].copy(), W_in=k[n].copy(),
        W_hr=rk[r].copy(), W_hz=rk[z].copy(), W_hn=rk[n].copy(),
        b_ir=b_i[r].copy(), b_iz=b_i[z].copy(), b_in=b_i[n].copy(),
        b_hr=b_h[r].copy(), b_hz=b_h[z].copy(), b_hn=b_h[n].copy(),
    )  # fmt: skip


def _as_list(d: dict[str, np.ndarray]) -> list[np.ndarray]:
    return [d[k] for k in _KERAS_KEYS if k in d]


def gru_to_keras(
    params: GRUParams, reset_after: bool = True, *, fold_hidden_biases: bool = True
) -> list[list[np.ndarray]]:
    """Per layer, the ``set_weights`` list of a ``GRU`` (one direction) or of a
    ``Bidirectional(GRU, merge_mode="concat")`` (forward weights, then backward weights)."""
    return [
        [
            w
            for cell in row
            for w in _as_list(
                gru_cell_to_keras(
                    cell, reset_after, params.bias, fold_hidden_biases=fold_hidden_biases
                )
            )
        ]
        for row in params.cells
    ]


def gru_from_keras(layers: Sequence[Sequence[Any]], reset_after: bool | None = None) -> GRUParams:
    """Canonical stack from per-layer ``get_weights()`` lists (inverse of ``gru_to_keras``).

    A list of 2 or 3 arrays is one direction, 4 or 6 arrays a ``Bidirectional`` layer.
    """
    rows = []
    biases = set()
    for i, ws in enumerate(layers):
        n = len(ws)
        if n not in (2, 3, 4, 6):
            raise LayoutError(
                f"layer {i}: {n} arrays; expected 2 or 3 (GRU) or 4 or 6 (Bidirectional GRU)"
            )
        per_dir = n if n in (2, 3) else n // 2
        biases.add(per_dir == 3)
        rows.append(
            tuple(
                gru_cell_from_keras(list(ws[d * per_dir : (d + 1) * per_dir]), reset_after)
                for d in range(n // per_dir)
            )
        )
    if len(biases) > 1:
        raise LayoutError("some layers have a bias and some do not; a stack has one bias flag")
    return StackParams(tuple(rows), bias=biases.pop() if biases else True)
