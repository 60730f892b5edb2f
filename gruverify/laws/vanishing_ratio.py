"""The vanishing-gradient ratio: a GRU can keep a gradient that a tanh RNN provably loses.

(docs/gru-math.md section 4.) For the tanh RNN ``h_t = tanh(W h_{t-1} + U x_t + b)``,
``J_t = D(1 - h_t^2) W`` and ``tanh' <= 1`` give

    ||dh_T/dh_0||_2 <= sigma_max(W)^T                                   (Pascanu et al. 2013)

For a GRU, ``d_t = eps_t (1 + K_t)`` (``gruverify.laws.carry_over``, ``K`` of
``gruverify.core.bounds``) gives, while every ``d_t < 1``,

    ||dh_T/dh_0||_2 >= sigma_min(dh_T/dh_0) >= prod_t (1 - d_t).

Construction (``construct_update_bias``): for an RNN with ``sigma = sigma_max(W) < 1``, raise the
GRU's ``b_iz`` until ``1 - z <= (1 - sigma) / (2 (1 + K_max))`` for every reachable input and
state (``K_max`` at ``||h||_inf <= max(1, ||h_0||_inf)``, the box). Then ``1 - d_t >= (1 + sigma)/2``
and

    ||dh_T/dh_0||_GRU / ||dh_T/dh_0||_RNN >= prod (1 - d_t) / sigma^T >= ((1 + sigma) / (2 sigma))^T,

a bound that grows exponentially in T: a theorem for the construction, not a statistical hope.
At default initialisation both vanish; the statistical law (``law_gru_vanishes_slower``) is that
the median over seeds of ``log10 ||dh_T/dh_0||`` is larger for the GRU than for the RNN, T >= 20.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from gruverify.core.bounds import carry_constant, gate_reach
from gruverify.core.params import (
    GRUCellParams,
    RNNCellParams,
    Variant,
    random_gru_params,
    random_rnn_params,
)
from gruverify.error_model import jacobian_product_slack
from gruverify.laws.base import LawViolation
from gruverify.laws.carry_over import JacobianFn, analytic_jacobian
from gruverify.laws.gates import GateFn, numpy_gates
from gruverify.reference.numpy_reference import rnn_step, rnn_step_jacobian

__all__ = [
    "RNNJacobianFn",
    "construct_update_bias",
    "gru_state_jacobian",
    "law_gru_vanishes_slower",
    "law_rnn_gradient_bound",
    "law_vanishing_ratio",
    "median_log10_gradient",
    "rnn_state_jacobian",
]

RNNJacobianFn = Callable[[RNNCellParams[np.ndarray], np.ndarray, np.ndarray], np.ndarray]
"""``jacobian(cell, x (B, I), h (B, H))`` -> ``dh'/dh`` ``(B, H, H)`` of one RNN step."""


def rnn_state_jacobian(
    cell: RNNCellParams[np.ndarray],
    x: np.ndarray,
    h0: np.ndarray,
    jacobian: RNNJacobianFn = rnn_step_jacobian,
) -> np.ndarray:
    """``dh_T/dh_0 = J_T ... J_1`` ``(B, H, H)`` for ``x`` ``(T, B, I)``, ``h0`` ``(B, H)``."""
    h = np.asarray(h0, dtype=np.float64)
    B, H = h.shape
    P = np.broadcast_to(np.eye(H), (B, H, H)).copy()
    for x_t in np.asarray(x, dtype=np.float64):
        P = jacobian(cell, x_t, h) @ P
        h = rnn_step(cell, x_t, h)[0]
    return P


def gru_state_jacobian(
    cell: GRUCellParams[np.ndarray],
    x: np.ndarray,
    h0: np.ndarray,
    variant: Variant,
    gates: GateFn = numpy_gates,
    jacobian: JacobianFn = analytic_jacobian,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(dh_T/dh_0, prod (1 - d_t), all d_t < 1)`` per sequence, along the trajectory ``gates``
    computes (``x`` ``(T, B, I)``, ``h0`` ``(B, H)``)."""
    h = np.asarray(h0, dtype=np.float64)
    B, H = h.shape
    P = np.broadcast_to(np.eye(H), (B, H, H)).copy()
    lower = np.ones(B)
    small = np.ones(B, bool)
    for x_t in np.asarray(x, dtype=np.float64):
        g = gates(cell, x_t, h, variant)
        omz = np.asarray(g["one_minus_z"] if "one_minus_z" in g else 1.0 - np.asarray(g["z"]))
        hinf = np.max(np.abs(h), axis=-1)
        dd = np.max(omz, axis=-1) * (1.0 + carry_constant(cell, hinf, variant))
        lower *= 1.0 - dd
        small &= dd < 1.0
        P = jacobian(cell, x_t, h, variant) @ P
        h = np.asarray(g["h"], dtype=np.float64)
    return P, lower, small


def construct_update_bias(
    cell: GRUCellParams[np.ndarray],
    sigma: float,
    x_inf: float,
    variant: Variant,
    h_inf: float = 1.0,
) -> GRUCellParams[np.ndarray]:
    """``cell`` with ``b_iz`` raised so that ``(1 - z)(1 + K_max) <= (1 - sigma) / 2`` for every
    input with ``||x||_inf <= x_inf`` and state with ``||h||_inf <= h_inf``."""
    if not 0.0 < sigma < 1.0:
        raise ValueError(f"sigma must be in (0, 1), got {sigma}")
    K = float(carry_constant(cell, np.array([h_inf]), variant)[0])
    target = (1.0 - sigma) / (2.0 * (1.0 + K))
    margin = math.log(1.0 / target - 1.0)
    reach = gate_reach(cell.W_iz, cell.W_hz, x_inf, h_inf)
    return cell.replace(b_iz=margin + reach - cell.b_hz)


def law_rnn_gradient_bound(
    cell: RNNCellParams[np.ndarray],
    x: np.ndarray,
    h0: np.ndarray,
    jacobian: RNNJacobianFn = rnn_step_jacobian,
) -> float:
    """``||dh_T/dh_0||_2 <= sigma_max(W_hh)^T (1 + 1e-12 T)``; returns ``sigma_max(W_hh)``
    (the slack: ``gruverify.error_model.jacobian_product_slack``)."""
    T = int(np.shape(x)[0])
    sigma = float(np.linalg.norm(cell.W_hh, 2))
    P = rnn_state_jacobian(cell, x, h0, jacobian)
    norms = np.linalg.svd(P, compute_uv=False)[:, 0]
    bound = sigma**T * (1.0 + jacobian_product_slack(T))
    bad = ~(norms <= bound)
    if bad.any():
        b = int(np.argmax(bad))
        raise LawViolation(
            "RNN gradient bound",
            "||dh_T/dh_0||_2 <= sigma_max(W_hh)^T (J_t = D(1 - h_t^2) W_hh, tanh' <= 1)",
            "the RNN's state gradient exceeds sigma_max(W)^T",
            {
                "||dh_T/dh_0||_2": float(norms[b]),
                "bound": bound,
                "sigma_max": sigma,
                "T": T,
                "batch": b,
            },
            f"RNN T={T}, H={cell.hidden_size}, I={cell.input_size}",
        )
    return sigma


def law_vanishing_ratio(
    gru_cell: GRUCellParams[np.ndarray],
    rnn_cell: RNNCellParams[np.ndarray],
    x: np.ndarray,
    h0: np.ndarray,
    variant: Variant,
    *,
    gates: GateFn = numpy_gates,
    jacobian: JacobianFn = analytic_jacobian,
) -> float:
    """The ratio law of the module docstring for one GRU (built with ``construct_update_bias``)
    and one RNN on the same input ``x`` ``(T, B, I)`` and initial state ``h0`` ``(B, H)``.
    Returns the smallest ratio ``||GRU|| / ||RNN||`` over the batch."""
    T = int(np.shape(x)[0])
    sigma = law_rnn_gradient_bound(rnn_cell, x, h0)
    P_rnn = rnn_state_jacobian(rnn_cell, x, h0)
    P_gru, lower, small = gru_state_jacobian(gru_cell, x, h0, variant, gates, jacobian)
    n_rnn = np.linalg.svd(P_rnn, compute_uv=False)[:, 0]
    s_gru = np.linalg.svd(P_gru, compute_uv=False)
    n_gru, m_gru = s_gru[:, 0], s_gru[:, -1]
    case = f"GRU ({variant}) vs RNN, T={T}, H={gru_cell.hidden_size}, I={gru_cell.input_size}"
    formula = (
        "sigma_min(dh_T/dh_0)_GRU >= prod (1 - d_t) > sigma_max(W_rnn)^T >= ||dh_T/dh_0||_RNN, "
        "so ||GRU|| / ||RNN|| >= ((1 + sigma) / (2 sigma))^T"
    )
    growth = ((1.0 + sigma) / (2.0 * sigma)) ** T
    slack = jacobian_product_slack(T)
    for b in range(len(lower)):
        numbers = {
            "T": T,
            "sigma_max(W_rnn)": sigma,
            "sigma^T": sigma**T,
            "prod(1 - d_t)": float(lower[b]),
            "sigma_min(GRU)": float(m_gru[b]),
            "||GRU||": float(n_gru[b]),
            "||RNN||": float(n_rnn[b]),
            "ratio": float(n_gru[b] / n_rnn[b]) if n_rnn[b] > 0 else math.inf,
            "((1 + sigma)/(2 sigma))^T": growth,
            "batch": b,
        }
        if not small[b] or not lower[b] > sigma**T:
            raise LawViolation(
                "vanishing ratio",
                formula,
                "the construction failed: some d_t >= 1 or prod (1 - d_t) <= "
                "sigma^T (is b_iz from construct_update_bias?)",
                numbers,
                case,
            )
        if not m_gru[b] >= lower[b] * (1.0 - slack):
            raise LawViolation(
                "vanishing ratio",
                formula,
                "the GRU lost more gradient than its update gates allow",
                numbers,
                case,
            )
        if not n_gru[b] >= growth * n_rnn[b] * (1.0 - slack):
            raise LawViolation(
                "vanishing ratio",
                formula,
                "the ratio GRU / RNN is below its exponential bound",
                numbers,
                case,
            )
    ratios = n_gru / np.maximum(n_rnn, 1e-300)
    return float(np.min(ratios))


def median_log10_gradient(
    kind: str,
    steps: int,
    seeds: Sequence[int],
    *,
    hidden_size: int = 32,
    input_size: int = 8,
    variant: Variant = "reset_after",
    gates: GateFn = numpy_gates,
    jacobian: JacobianFn = analytic_jacobian,
) -> float:
    """Median over ``seeds`` of ``log10 ||dh_T/dh_0||_2`` at torch's default initialisation,
    ``x ~ N(0, I)``, ``h_0 = 0``, batch 1; ``kind`` is ``"gru"`` or ``"rnn"`` (the GRU's
    trajectory from ``gates``, its step Jacobian from ``jacobian``)."""
    vals = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((steps, 1, input_size))
        h0 = np.zeros((1, hidden_size))
        if kind == "gru":
            cell = random_gru_params(input_size, hidden_size, rng=rng).cell(0)
            P = gru_state_jacobian(cell, x, h0, variant, gates, jacobian)[0]
        elif kind == "rnn":
            rcell = random_rnn_params(input_size, hidden_size, rng=rng).cell(0)
            P = rnn_state_jacobian(rcell, x, h0)
        else:
            raise ValueError(f"kind must be 'gru' or 'rnn', got {kind!r}")
        vals.append(math.log10(max(float(np.linalg.norm(P[0], 2)), 1e-300)))
    return float(np.median(vals))


def law_gru_vanishes_slower(
    steps: int,
    seeds: Sequence[int],
    *,
    hidden_size: int = 32,
    input_size: int = 8,
    variant: Variant = "reset_after",
    gates: GateFn = numpy_gates,
    jacobian: JacobianFn = analytic_jacobian,
) -> tuple[float, float]:
    """Median over seeds (at least 20) of ``log10 ||dh_T/dh_0||``: GRU > RNN for ``T >= 20`` at
    default initialisation. Returns ``(gru, rnn)`` medians."""
    if steps < 20 or len(seeds) < 20:
        raise ValueError(
            f"the statistical law needs T >= 20 and >= 20 seeds, got {steps}, {len(seeds)}"
        )
    kw = {"hidden_size": hidden_size, "input_size": input_size}
    gru = median_log10_gradient(
        "gru",
        steps,
        seeds,
        variant=variant,
        gates=gates,
        jacobian=jacobian,
        **kw,  # type: ignore[arg-type]
    )
    rnn = median_log10_gradient("rnn", steps, seeds, **kw)  # type: ignore[arg-type]
    if not gru > rnn:
        raise LawViolation(
            "vanishing gradients (statistical)",
            "median_seeds log10 ||dh_T/dh_0||_GRU > median_seeds log10 ||dh_T/dh_0||_RNN, T >= 20",
            "the GRU's gradient vanished as fast as the RNN's",
            {
                "T": steps,
                "seeds": len(seeds),
                "GRU median log10": gru,
                "RNN median log10": rnn,
                "H": hidden_size,
                "I": input_size,
                "variant": variant,
            },
            "torch default initialisation, x ~ N(0, I), h0 = 0",
        )
    return gru, rnn
