"""The theoretical bounds of the vanishing-gradient study, per step and accumulated over T.

docs/gru-math.md sections 3 and 4. RNN: ``||dh_T/dh_0||_2 <= sigma_max(W_hh)^T`` (Pascanu et al.
2013; ``tanh' <= 1``). GRU: ``||J_t - I|| <= d_t = eps_t (1 + K_t)`` per step (``gru_carry_terms``),
so ``sigma_min(P_T) >= prod_t (1 - d_t)`` while every ``d_t < 1`` and ``||P_T|| <= prod_t (1 + d_t)``;
and the leading-order (diagonal) prediction ``max_i prod_t z_{t,i} = ||prod_t D(z_t)||``, what
``1 - z`` alone says (unit i decays by ``z_{t,i}`` per step, a time constant ``1 / (1 - z)``).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from gruverify.core.bounds import carry_constant
from gruverify.core.params import GRUCellParams, RNNCellParams, Variant

__all__ = ["GRUBoundCurves", "gru_bound_curves", "gru_carry_terms", "rnn_upper_bound"]


def gru_carry_terms(
    cell: GRUCellParams[np.ndarray],
    one_minus_z: np.ndarray,
    h_prev: np.ndarray,
    variant: Variant,
) -> tuple[np.ndarray, np.ndarray]:
    """``(eps_t, K_t)`` per step of docs/gru-math.md section 3, for gate traces ``(T, H)``
    (``K_t`` is ``gruverify.core.bounds.carry_constant``).

    ``eps_t = max_i (1 - z_{t,i})``, ``hinf = ||h_{t-1}||_inf``, spectral norms ``||.||``:
    ``K_after = ||W_hn|| + (1/4) ginf ||W_hr|| + (1 + hinf) ||W_hz||`` with
    ``ginf = ||W_hn||_inf hinf + ||b_hn||_inf``;
    ``K_before = ||W_hn|| (1 + (1/4) hinf ||W_hr||) + (1 + hinf) ||W_hz||``.
    Then ``||J_t - I|| <= d_t = eps_t (1 + K_t)``.
    """
    eps = np.max(one_minus_z, axis=1)
    hinf = np.max(np.abs(h_prev), axis=1)
    return eps, carry_constant(cell, hinf, variant)


def rnn_upper_bound(cell: RNNCellParams[np.ndarray], grid: np.ndarray) -> tuple[float, np.ndarray]:
    """``(sigma_max(W_hh), T log10 sigma_max(W_hh))`` at each T of ``grid``."""
    smax = float(np.linalg.norm(cell.W_hh, 2))
    return smax, grid * math.log10(smax)


@dataclasses.dataclass(frozen=True)
class GRUBoundCurves:
    """The GRU's bounds at each T of the grid (log10), and the per-step ``d_t`` ``(T_max,)``.

    ``lower`` is ``sum log10(1 - d_t)`` (``-inf`` once some ``d_t >= 1``; ``valid`` says where it
    applies), ``upper`` ``sum log10(1 + d_t)``, ``diag`` ``log10 max_i prod_t z_{t,i}``.
    """

    upper: np.ndarray
    lower: np.ndarray
    valid: np.ndarray
    diag: np.ndarray
    d: np.ndarray


def gru_bound_curves(
    cell: GRUCellParams[np.ndarray],
    trace: dict[str, np.ndarray],
    grid: np.ndarray,
    variant: Variant,
) -> GRUBoundCurves:
    """The bounds along a reference forward ``trace`` (``one_minus_z``, ``h_prev``, ``a_z``)."""
    idx = grid - 1
    omz = trace["one_minus_z"]
    eps, K = gru_carry_terms(cell, omz, trace["h_prev"], variant)
    d = eps * (1.0 + K)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_lo_step = np.where(d < 1.0, np.log10(np.where(d < 1.0, 1.0 - d, 1.0)), -np.inf)
    valid = np.cumsum(d >= 1.0)[idx] == 0
    lower = np.cumsum(log_lo_step)[idx]
    upper = np.cumsum(np.log10(1.0 + d))[idx]
    # log z = -log(1 + exp(-a_z)), without forming 1 - (1 - z).
    log_z = -np.logaddexp(0.0, -trace["a_z"])
    diag = np.max(np.cumsum(log_z, axis=0)[idx], axis=1) / math.log(10.0)
    return GRUBoundCurves(upper, lower, valid, diag, d)
