"""One model on one seed: the measured Jacobian products next to their bounds (``seed_curve``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from gruverify.analysis.bound_curves import gru_bound_curves, rnn_upper_bound
from gruverify.analysis.models import ModelSpec
from gruverify.analysis.products import measure_products, reference_trace
from gruverify.core.params import GRUParams, RNNParams

__all__ = ["SeedCurve", "seed_curve"]


@dataclasses.dataclass(frozen=True)
class SeedCurve:
    """Everything measured for one model and seed, at each T of ``steps`` (arrays of that length).

    log10 values throughout. ``log10_lower`` is ``sum log10(1 - d_t)`` (GRU; ``-inf`` once some
    ``d_t >= 1``, where the bound says only ``sigma_min >= 0``; NaN for the RNN). ``log10_upper`` is
    ``T log10 sigma_max(W_hh)`` (RNN) or ``sum log10(1 + d_t)`` (GRU). ``log10_diag`` is
    ``log10 max_i prod_t z_{t,i}`` (GRU; NaN for the RNN). ``z`` and ``one_minus_z`` are the
    update-gate values ``(T_max, H)`` (GRU only), ``d`` the per-step ``d_t`` (GRU only).
    """

    spec: ModelSpec
    seed: int
    steps: np.ndarray
    log10_norm: np.ndarray
    log10_sigma_min: np.ndarray
    log10_dl_dx1: np.ndarray
    log10_upper: np.ndarray
    log10_lower: np.ndarray
    log10_diag: np.ndarray
    lower_valid: np.ndarray
    hidden_size: int
    sigma_max_w: float | None = None
    z: np.ndarray | None = None
    one_minus_z: np.ndarray | None = None
    d: np.ndarray | None = None


def _grid_and_input(
    params: GRUParams | RNNParams, x: np.ndarray, steps: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """The sorted T grid and ``x`` cut to its largest T; ValueError on a bad grid, shape or model."""
    grid = np.asarray(sorted(set(int(t) for t in steps)), dtype=np.int64)
    x = np.asarray(x, dtype=np.float64)
    if grid.size == 0 or grid[0] < 1:
        raise ValueError(f"steps must be integers >= 1, got {list(steps)}")
    t_max = int(grid[-1])
    if x.ndim != 2 or x.shape[0] < t_max or x.shape[1] != params.input_size:
        raise ValueError(
            f"x must have shape (T >= {t_max}, {params.input_size}), got {tuple(x.shape)}"
        )
    if params.num_layers != 1 or params.num_directions != 1:
        raise ValueError("vanishing-gradient analysis takes one layer, one direction")
    return grid, x[:t_max]


def seed_curve(
    spec: ModelSpec,
    params: GRUParams | RNNParams,
    x: np.ndarray,
    w: np.ndarray,
    steps: Sequence[int],
    *,
    seed: int = 0,
    chunk: int = 128,
) -> SeedCurve:
    """Measure one model on one input sequence ``x (T_max, I)`` from ``h_0 = 0``.

    ``P_T = J_T ... J_1`` with ``J_t = dh_t/dh_{t-1}`` from ``gru_step_jacobian`` /
    ``rnn_step_jacobian`` at the forward pass's states, accumulated once (``ScaledProduct``);
    ``dL/dx_1 = w^T J_T ... J_2 (dh_1/dx_1)`` for ``L = w . h_T``. See ``gruverify.analysis.vanishing``.
    """
    grid, x = _grid_and_input(params, x, steps)
    H = params.hidden_size
    cell: Any = params.cell(0)
    trace = reference_trace(spec, params, x)
    p = measure_products(spec, params, x, trace["h_prev"], w, grid, chunk)
    G = grid.size
    nan = np.full(G, np.nan)
    if spec.kind == "rnn":
        smax, upper = rnn_upper_bound(cell, grid)
        return SeedCurve(
            spec, seed, grid, p.log10_norm, p.log10_sigma_min, p.log10_dl_dx1, upper, nan, nan,
            np.zeros(G, dtype=bool), H, sigma_max_w=smax,
        )  # fmt: skip
    b = gru_bound_curves(cell, trace, grid, spec.variant)
    return SeedCurve(
        spec, seed, grid, p.log10_norm, p.log10_sigma_min, p.log10_dl_dx1, b.upper, b.lower,
        b.diag, b.valid, H, z=trace["z"], one_minus_z=trace["one_minus_z"], d=b.d,
    )  # fmt: skip
