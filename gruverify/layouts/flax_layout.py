"""Flax ``linen.GRUCell`` and ``nnx.GRUCell`` parameters <-> canonical parameters.

Both compute the reset-after variant with the canonical update ``h' = (1 - z) * n + z * h``
(flax/linen/recurrent.py, flax/nnx/nn/recurrent.py, flax 0.12). Flax Dense/Linear layers compute
``x @ kernel + bias``, so every kernel is the transpose of the canonical matrix, shape (in, out).

linen (``variables = {"params": {...}}``), one Dense per gate and source::

    ir, iz, in: {"kernel": W_i*^T (I, H), "bias": (H,)}      hr, hz: {"kernel": W_h*^T (H, H)}
    hn: {"kernel": W_hn^T (H, H), "bias": b_hn (H,)}

nnx (the pure dict ``nnx.to_pure_dict(nnx.state(cell, nnx.Param))``), gates packed r, z, n::

    dense_i: {"kernel": [W_ir | W_iz | W_in]^T (I, 3H), "bias": [b_ir, b_iz, b_in] (3H,)}
    dense_h: {"kernel": [W_hr | W_hz | W_hn]^T (H, 3H)}                       (no bias at all)

Bias folding. Neither has ``b_hr``, ``b_hz``: in ``sigmoid(W_ir x + b_ir + W_hr h + b_hr)`` the
two biases act as one, so ``to_*`` stores ``b_ir + b_hr`` and ``b_iz + b_hz`` (float64 sums, one
rounding each; pass ``fold_hidden_biases=False`` to get ``UnsupportedParameterError`` instead) and
``from_*`` returns ``b_hr = b_hz = 0``. The round trip is exact onto the folded form:
``from_x(to_x(p)) == flax_canonical_form(p)`` bit for bit.

nnx has no ``b_hn`` (google/flax#5594: its docstring lists one, its ``dense_h`` has no bias), and
``b_hn`` sits inside the reset product ``r * (W_hn h + b_hn)``, so it cannot be folded anywhere:
``gru_cell_to_flax_nnx`` raises ``UnsupportedParameterError`` for a nonzero ``b_hn`` unless the
caller explicitly passes ``drop_b_hn=True`` (which then computes a different GRU).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gruverify.core.params import GRUCellParams
from gruverify.layouts.errors import LayoutError, UnsupportedParameterError

__all__ = [
    "FLAX_NNX_GATE_ORDER",
    "flax_canonical_form",
    "gru_cell_to_flax_linen",
    "gru_cell_from_flax_linen",
    "gru_cell_to_flax_nnx",
    "gru_cell_from_flax_nnx",
]

FLAX_NNX_GATE_ORDER = ("r", "z", "n")

_LINEN_KEYS = {
    "ir": ("kernel", "bias"),
    "iz": ("kernel", "bias"),
    "in": ("kernel", "bias"),
    "hr": ("kernel",),
    "hz": ("kernel",),
    "hn": ("kernel", "bias"),
}
_NNX_KEYS = {"dense_i": ("kernel", "bias"), "dense_h": ("kernel",)}


def _f64(cell: GRUCellParams[Any]) -> GRUCellParams[np.ndarray]:
    return cell.map(lambda v: np.asarray(v, np.float64))


def flax_canonical_form(
    cell: GRUCellParams[np.ndarray], *, drop_b_hn: bool = False
) -> GRUCellParams[np.ndarray]:
    """The canonical parameters a Flax GRUCell holds for ``cell``: ``b_ir + b_hr`` and
    ``b_iz + b_hz`` moved into ``b_ir``, ``b_iz`` (``b_hr = b_hz = 0``), the same reset-after GRU.
    ``drop_b_hn`` also zeros ``b_hn`` (what nnx holds; a *different* GRU unless b_hn = 0)."""
    c = _f64(cell)
    changes = {
        "b_ir": c.b_ir + c.b_hr,
        "b_iz": c.b_iz + c.b_hz,
        "b_hr": np.zeros_like(c.b_hr),
        "b_hz": np.zeros_like(c.b_hz),
    }
    if drop_b_hn:
        changes["b_hn"] = np.zeros_like(c.b_hn)
    return c.replace(**changes)


def _require_zero(value: np.ndarray, name: str, target: str, hint: str) -> None:
    if np.any(value != 0):
        raise UnsupportedParameterError(
            f"{target} has no parameter for {name}, which is nonzero "
            f"(max |{name}| = {float(np.max(np.abs(value))):.3g}); {hint}"
        )


def _folded(cell: GRUCellParams[np.ndarray], fold: bool, target: str) -> GRUCellParams[np.ndarray]:
    c = _f64(cell)
    if not fold:
        for name in ("b_hr", "b_hz"):
            _require_zero(
                getattr(c, name), name, target, "pass fold_hidden_biases=True to fold it into b_i*"
            )
    return flax_canonical_form(c)


def gru_cell_to_flax_linen(
    cell: GRUCellParams[np.ndarray], *, fold_hidden_biases: bool = True
) -> dict[str, dict[str, dict[str, np.ndarray]]]:
    """``{"params": {...}}`` for ``flax.linen.GRUCell(features=H).apply`` computing ``cell``."""
    c = _folded(cell, fold_hidden_biases, "flax.linen.GRUCell")
    params = {
        "ir": {"kernel": c.W_ir.T.copy(), "bias": c.b_ir},
        "iz": {"kernel": c.W_iz.T.copy(), "bias": c.b_iz},
        "in": {"kernel": c.W_in.T.copy(), "bias": c.b_in.copy()},
        "hr": {"kernel": c.W_hr.T.copy()},
        "hz": {"kernel": c.W_hz.T.copy()},
        "hn": {"kernel": c.W_hn.T.copy(), "bias": c.b_hn.copy()},
    }
    return {"params": params}


def _check_tree(tree: Mapping[str, Any], spec: Mapping[str, tuple[str, ...]], what: str) -> None:
    if set(tree) != set(spec):
        raise LayoutError(
            f"{what} must have exactly the modules {sorted(spec)}; got {sorted(tree)}"
        )
    for mod, keys in spec.items():
        if not isinstance(tree[mod], Mapping) or set(tree[mod]) != set(keys):
            got = sorted(tree[mod]) if isinstance(tree[mod], Mapping) else type(tree[mod]).__name__
            raise LayoutError(f"{what}[{mod!r}] must hold {sorted(keys)}; got {got}")


def _shape(a: np.ndarray, want: tuple[int, ...], where: str) -> np.ndarray:
    if a.shape != want:
        raise LayoutError(f"{where} has shape {a.shape}, expected {want}")
    return a


def gru_cell_from_flax_linen(variables: Mapping[str, Any]) -> GRUCellParams[np.ndarray]:
    """Canonical parameters from linen GRUCell variables (with or without the ``"params"`` level);
    ``b_hr = b_hz = 0`` (module docstring)."""
    tree = variables["params"] if set(variables) == {"params"} else variables
    _check_tree(tree, _LINEN_KEYS, "flax.linen.GRUCell params")
    t = {m: {k: np.array(v, dtype=np.float64) for k, v in d.items()} for m, d in tree.items()}
    H = t["hr"]["kernel"].shape[-1]
    I = t["ir"]["kernel"].shape[0]
    W = {}
    for m in ("ir", "iz", "in", "hr", "hz", "hn"):
        rows = I if m[0] == "i" else H
        W[m] = _shape(t[m]["kernel"], (rows, H), f"params[{m!r}]['kernel']").T.copy()
    b = {m: _shape(t[m]["bias"], (H,), f"params[{m!r}]['bias']") for m in ("ir", "iz", "in", "hn")}
    zeros = np.zeros(H)
    return GRUCellParams(
        W_ir=W["ir"], W_iz=W["iz"], W_in=W["in"], W_hr=W["hr"], W_hz=W["hz"], W_hn=W["hn"],
        b_ir=b["ir"], b_iz=b["iz"], b_in=b["in"], b_hr=zeros, b_hz=zeros.copy(), b_hn=b["hn"],
    )  # fmt: skip


def gru_cell_to_flax_nnx(
    cell: GRUCellParams[np.ndarray], *, fold_hidden_biases: bool = True, drop_b_hn: bool = False
) -> dict[str, dict[str, np.ndarray]]:
    """The pure parameter dict of an ``nnx.GRUCell(I, H)`` computing ``cell``.

    Load it with ``nnx.update(cell, nnx.replace_by_pure_dict(nnx.state(cell, nnx.Param), d))``
    (cast to the cell's dtype first). Raises ``UnsupportedParameterError`` when ``b_hn != 0``, since
    nnx has no ``b_hn``, unless ``drop_b_hn=True`` is passed explicitly.
    """
    c = _folded(cell, fold_hidden_biases, "flax.nnx.GRUCell")
    if not drop_b_hn:
        _require_zero(
            c.b_hn,
            "b_hn",
            "flax.nnx.GRUCell",
            "b_hn sits inside r * (W_hn h + b_hn) and cannot be folded; drop_b_hn=True drops it "
            "explicitly (a different GRU)",
        )
    return {
        "dense_i": {
            "kernel": np.concatenate([c.W_ir, c.W_iz, c.W_in]).T.copy(),
            "bias": np.concatenate([c.b_ir, c.b_iz, c.b_in]),
        },
        "dense_h": {"kernel": np.concatenate([c.W_hr, c.W_hz, c.W_hn]).T.copy()},
    }


def gru_cell_from_flax_nnx(state: Mapping[str, Any]) -> GRUCellParams[np.ndarray]:
    """Canonical parameters from an nnx GRUCell's pure parameter dict; ``b_hr = b_hz = b_hn = 0``."""
    _check_tree(state, _NNX_KEYS, "flax.nnx.GRUCell state")
    k_h = np.array(state["dense_h"]["kernel"], dtype=np.float64)
    if k_h.ndim != 2 or k_h.shape[1] != 3 * k_h.shape[0]:
        raise LayoutError(f"dense_h.kernel has shape {k_h.shape}, expected (H, 3H) packed r, z, n")
    H = k_h.shape[0]
    k_i = np.array(state["dense_i"]["kernel"], dtype=np.float64)
    if k_i.ndim != 2 or k_i.shape[1] != 3 * H:
        raise LayoutError(f"dense_i.kernel has shape {k_i.shape}, expected (I, {3 * H})")
    b_i = _shape(np.array(state["dense_i"]["bias"], dtype=np.float64), (3 * H,), "dense_i.bias")
    wi, wh = k_i.T, k_h.T
    r, z, n = slice(0, H), slice(H, 2 * H), slice(2 * H, 3 * H)
    return GRUCellParams(
        W_ir=wi[r].copy(), W_iz=wi[z].copy(), W_in=wi[n].copy(),
        W_hr=wh[r].copy(), W_hz=wh[z].copy(), W_hn=wh[n].copy(),
        b_ir=b_i[r].copy(), b_iz=b_i[z].copy(), b_in=b_i[n].copy(),
        b_hr=np.zeros(H), b_hz=np.zeros(H), b_hn=np.zeros(H),
    )  # fmt: skip
