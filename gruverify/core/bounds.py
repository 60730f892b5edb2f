"""Bounds the GRU equations imply, written once for the error model, the laws and the analysis.

Notation: ``x_max = ||x||_inf`` (``input_bound``), ``h_max = max(1, ||h0||_inf)``
(``state_bound``), ``|W|`` elementwise absolute values, sums over a row ``j``.

1. **The box.** ``h' = (1 - z) n + z h`` is a convex combination of ``n in [-1, 1]`` and ``h``
   (``z in [0, 1]``), so ``|h'_i| <= max(|h_i|, 1)`` and every state of every layer and direction
   satisfies ``||h_t||_inf <= h_max``. In floating point, with ``z`` and ``n`` in their closed
   intervals, three roundings (``1 - z``, the products, the sum) give
   ``|h'_i| <= max(|h_i|, 1) (1 + u)^3 < max(|h_i|, 1) (1 + BOX_SLACK u)``, ``BOX_SLACK = 4``.

2. **Gate reach.** Layer ``l`` reads inputs bounded by ``m_l = x_max`` for ``l = 0`` and ``h_max``
   above (``layer_input_bound``; its input is the previous layer's states). A gate's pre-activation
   ``a = W_i x + W_h h + b_i + b_h`` then has, per unit ``k``,

       |W_i x + W_h h|_k <= sum_j |W_i,kj| m_l + sum_j |W_h,kj| h_max        (gate_reach)

   (the second term alone is ``recurrent_reach``), so

       |a_k| <= gate_reach_k + |b_i,k| + |b_h,k|                             (preactivation_bound)
        a_k  >= b_i,k + b_h,k - gate_reach_k.

3. **The carry constant.** With ``hinf = ||h_{t-1}||_inf``, ``g = W_hn h + b_hn``,
   ``ginf = ||W_hn||_inf hinf + ||b_hn||_inf`` and spectral norms ``||.||``,

       K_after  = ||W_hn|| + ginf ||W_hr|| / 4 + (1 + hinf) ||W_hz||        (reset-after)
       K_before = ||W_hn|| (1 + hinf ||W_hr|| / 4) + (1 + hinf) ||W_hz||    (reset-before)

   (``carry_constant``) bounds the step Jacobian's correction: ``J_t = D(z) + D(1 - z) (N_t - I)``
   with ``||N_t|| <= K``, so ``||J_t - I|| <= d_t = eps_t (1 + K_t)``, ``eps_t = max_i (1 - z_i)``
   (``sigmoid' <= 1/4`` gives the quarters). docs/gru-math.md sections 2 and 3 derive them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gruverify.core.params import ALL_VARIANTS, GRUCellParams

__all__ = [
    "BOX_SLACK",
    "carry_constant",
    "gate_reach",
    "input_bound",
    "layer_input_bound",
    "preactivation_bound",
    "recurrent_reach",
    "state_bound",
]

BOX_SLACK = 4.0
"""Rounding slack of the box ``|h'| <= max(|h|, 1)``, in units of ``u max(1, |h|)`` (bound 1)."""


def input_bound(x: Any) -> float:
    """``x_max = ||x||_inf`` (0 for an empty input)."""
    return float(np.max(np.abs(x))) if np.size(x) else 0.0


def state_bound(h0: Any) -> float:
    """``h_max = max(1, ||h0||_inf)`` (1 for ``h0`` None): the box every state stays in (bound 1)."""
    return max(1.0, float(np.max(np.abs(h0))) if h0 is not None else 0.0)


def layer_input_bound(layer: int, x_max: float, h_max: float) -> float:
    """``m_l``: ``x_max`` for the first layer, ``h_max`` for the layers that read states."""
    return x_max if layer == 0 else h_max


def recurrent_reach(W_h: np.ndarray, h_max: float) -> np.ndarray:
    """``sum_j |W_h,kj| h_max`` per unit ``k``: the bound on ``|W_h h|_k`` over the box."""
    return np.abs(W_h).sum(1) * h_max  # type: ignore[no-any-return]


def gate_reach(W_i: np.ndarray, W_h: np.ndarray, in_max: float, h_max: float) -> np.ndarray:
    """``sum_j |W_i,kj| in_max + sum_j |W_h,kj| h_max`` per unit: the bound on ``|W_i x + W_h h|``
    (bound 2)."""
    return np.abs(W_i).sum(1) * in_max + recurrent_reach(W_h, h_max)  # type: ignore[no-any-return]


def preactivation_bound(
    W_i: np.ndarray,
    W_h: np.ndarray,
    b_i: np.ndarray,
    b_h: np.ndarray,
    in_max: float,
    h_max: float,
) -> np.ndarray:
    """``gate_reach + |b_i| + |b_h|`` per unit: the bound on a gate's pre-activation (bound 2)."""
    return gate_reach(W_i, W_h, in_max, h_max) + np.abs(b_i) + np.abs(b_h)  # type: ignore[no-any-return]


def carry_constant(cell: GRUCellParams[np.ndarray], hinf: np.ndarray, variant: str) -> np.ndarray:
    """``K`` of bound 3 for each ``hinf`` (an array of state norms ``||h_{t-1}||_inf``)."""
    n_hn = np.linalg.norm(cell.W_hn, 2)
    n_hr = np.linalg.norm(cell.W_hr, 2)
    n_hz = np.linalg.norm(cell.W_hz, 2)
    if variant in ("reset_after", "reset_after_no_bhn"):
        b_hn = np.abs(cell.b_hn) if variant == "reset_after" else 0.0
        ginf = np.linalg.norm(cell.W_hn, np.inf) * hinf + np.max(b_hn, initial=0.0)
        return n_hn + 0.25 * ginf * n_hr + (1.0 + hinf) * n_hz  # type: ignore[no-any-return]
    if variant == "reset_before":
        return n_hn * (1.0 + 0.25 * hinf * n_hr) + (1.0 + hinf) * n_hz  # type: ignore[no-any-return]
    raise ValueError(f"unknown GRU variant {variant!r}; expected one of {ALL_VARIANTS}")
