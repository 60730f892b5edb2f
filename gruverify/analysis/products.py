"""Products of step Jacobians over time, without underflow.

``reference_trace`` runs the float64 reference forward and keeps its per-step traces;
``measure_products`` accumulates ``P_T = J_T ... J_1 = dh_T/dh_0`` from the reference's analytic step
Jacobians (``gru_step_jacobian`` / ``rnn_step_jacobian``) once up to the largest T and reads off, at
each T of the grid, ``log10 ||P_T||_2``, ``log10 sigma_min(P_T)`` and ``log10 ||dL/dx_1||_2`` for
``L = w . h_T`` (``dL/dx_1 = w^T J_T ... J_2 (dh_1/dx_1)``). ``ScaledProduct`` keeps the product as
``2**e * M`` with an exact power-of-two rescaling after every step, so it never underflows and the
rescaling adds no rounding.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from gruverify.analysis.models import ModelSpec
from gruverify.core.params import GRUParams, RNNParams
from gruverify.reference.numpy_reference import (
    gru_backward,
    gru_forward,
    gru_step_jacobian,
    rnn_backward,
    rnn_forward,
    rnn_step_jacobian,
)

__all__ = [
    "LOG10_2",
    "ProductCurves",
    "ScaledProduct",
    "first_input_jacobian",
    "measure_products",
    "reference_trace",
]

#: ``log10(2)``: turns a power-of-two exponent into decades.
LOG10_2 = math.log10(2.0)


class ScaledProduct:
    """``P = 2**exponent * matrix``, updated by ``P <- J P``; rescaled by exact powers of two.

    After each update the largest entry of ``matrix`` lies in [0.5, 1), so ``P`` can fall far below
    the smallest float64 (1e-308) without underflow, and no rounding beyond the matmul's own occurs.
    """

    def __init__(self, matrix: np.ndarray) -> None:
        self.matrix = np.array(matrix, dtype=np.float64)
        self.exponent = 0
        self._rescale()

    def _rescale(self) -> None:
        peak = float(np.max(np.abs(self.matrix))) if self.matrix.size else 0.0
        if peak == 0.0 or not math.isfinite(peak):
            return
        _, e = math.frexp(peak)
        self.matrix = np.ldexp(self.matrix, -e)
        self.exponent += e

    def left_multiply(self, J: np.ndarray) -> None:
        self.matrix = J @ self.matrix
        self._rescale()

    def log10_singular_values(self, right: np.ndarray | None = None) -> np.ndarray:
        """log10 of the singular values of ``P @ right`` (``P`` when None), largest first."""
        m = self.matrix if right is None else self.matrix @ right
        with np.errstate(divide="ignore"):
            sv = np.log10(np.linalg.svd(m, compute_uv=False))
        return sv + self.exponent * LOG10_2  # type: ignore[no-any-return]


def first_input_jacobian(
    spec: ModelSpec, params: GRUParams | RNNParams, x1: np.ndarray, h0: np.ndarray
) -> np.ndarray:
    """``dh_1/dx_1`` ``(H, I)`` from the reference's analytic backward pass (batch of H unit
    cotangents, one step)."""
    H = params.hidden_size
    xb = np.broadcast_to(x1, (1, H, x1.size)).copy()
    hb = np.broadcast_to(h0, (1, H, H)).copy()
    eye = np.eye(H)[None]
    if spec.kind == "gru":
        g = gru_backward(params, xb, hb, d_h_n=eye, variant=spec.variant)  # type: ignore[arg-type]
    else:
        g = rnn_backward(params, xb, hb, d_h_n=eye)  # type: ignore[arg-type]
    return np.asarray(g.dx[0])


def reference_trace(
    spec: ModelSpec, params: GRUParams | RNNParams, x: np.ndarray
) -> dict[str, np.ndarray]:
    """The reference forward pass's per-step traces ``(T, H)`` for one sequence ``x (T, I)``."""
    if spec.kind == "gru":
        fwd = gru_forward(params, x[:, None, :], variant=spec.variant)  # type: ignore[arg-type]
    else:
        fwd = rnn_forward(params, x[:, None, :])  # type: ignore[arg-type]
    return {k: v[:, 0, :] for k, v in fwd.traces[0][0].items()}


@dataclasses.dataclass(frozen=True)
class ProductCurves:
    """log10 ``||P_T||_2``, ``sigma_min(P_T)`` and ``||dL/dx_1||_2`` at each T of the grid."""

    log10_norm: np.ndarray
    log10_sigma_min: np.ndarray
    log10_dl_dx1: np.ndarray


def measure_products(
    spec: ModelSpec,
    params: GRUParams | RNNParams,
    x: np.ndarray,
    h_prev: np.ndarray,
    w: np.ndarray,
    grid: np.ndarray,
    chunk: int,
) -> ProductCurves:
    """Accumulate ``P_T`` along ``x (T_max, I)`` with states ``h_prev`` and read it off at ``grid``.

    ``P_T = J_T ... J_1`` with ``J_t = dh_t/dh_{t-1}`` at the forward pass's states, built once
    (``ScaledProduct``, Jacobians computed ``chunk`` steps at a time);
    ``dL/dx_1 = w^T J_T ... J_2 (dh_1/dx_1)`` for ``L = w . h_T``, ``w`` normalised.
    """
    H = params.hidden_size
    t_max = int(grid[-1])
    cell: Any = params.cell(0)
    h0 = np.zeros(H)

    def jacobians(lo: int, hi: int) -> np.ndarray:
        if spec.kind == "gru":
            return gru_step_jacobian(cell, x[lo:hi], h_prev[lo:hi], variant=spec.variant)
        return rnn_step_jacobian(cell, x[lo:hi], h_prev[lo:hi])

    J1 = jacobians(0, 1)[0]
    B1 = first_input_jacobian(spec, params, x[0], h0)
    wn = np.asarray(w, dtype=np.float64)
    wn = wn / np.linalg.norm(wn)
    R = ScaledProduct(np.eye(H))  # J_t ... J_2
    G = grid.size
    log_norm, log_smin, log_dl = np.empty(G), np.empty(G), np.empty(G)
    k = 0
    for lo in range(0, t_max, chunk):
        block = jacobians(lo, min(lo + chunk, t_max))
        for j, J in enumerate(block):
            t = lo + j + 1
            if t > 1:
                R.left_multiply(J)
            if t == grid[k]:
                sv = R.log10_singular_values(J1)
                log_norm[k], log_smin[k] = sv[0], sv[-1]
                v = wn @ R.matrix @ B1
                with np.errstate(divide="ignore"):
                    log_dl[k] = np.log10(np.linalg.norm(v)) + R.exponent * LOG10_2
                k += 1
    return ProductCurves(log_norm, log_smin, log_dl)
