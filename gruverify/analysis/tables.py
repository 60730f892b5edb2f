"""Summaries over seeds: per-(model, T) medians and spreads (``SummaryRow``) and the update gate's
distribution and decay rates (``GateStats``)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from gruverify.analysis.curves import SeedCurve
from gruverify.analysis.models import ModelSpec

__all__ = ["QUANTILES", "GateStats", "SummaryRow", "decay_rate", "gate_stats", "summarise"]

#: Quantiles reported for gate distributions (over time, units and seeds).
QUANTILES: tuple[float, ...] = (0.01, 0.1, 0.5, 0.9, 0.99)


@dataclasses.dataclass(frozen=True)
class SummaryRow:
    """Median and spread over seeds of one model at one T (log10 values)."""

    model: str
    kind: str
    T: int
    seeds: int
    norm_median: float
    norm_q10: float
    norm_q90: float
    norm_min: float
    norm_max: float
    sigma_min_median: float
    dl_dx1_median: float
    dl_dx1_q10: float
    dl_dx1_q90: float
    upper_median: float
    lower_median: float
    lower_valid_fraction: float
    diag_median: float


@dataclasses.dataclass(frozen=True)
class GateStats:
    """The update gate of one GRU model over time, units and seeds.

    ``pooled_z`` / ``pooled_gamma``: quantiles ``QUANTILES`` of ``z`` and of the course's
    ``Γ_u = 1 - z`` over all steps, units and seeds. ``per_step``: ``(T_max, 3)`` arrays of the 10%,
    50% and 90% quantiles of z at each step (over units and seeds). Rates are per step, natural log,
    median over seeds, measured between ``T_a`` (the largest grid T <= T_max / 2, or 0) and T_max:
    ``rate_measured = -Δ ln||P_T|| / ΔT``, ``rate_diag = -Δ ln max_i prod z_{t,i} / ΔT`` (the
    prediction from ``z`` alone) and ``slowest_gamma = min_i mean_t (1 - z_{t,i})`` (its
    first-order form: the slowest unit's decay rate, time constant ``1 / slowest_gamma``).
    """

    model: str
    pooled_z: tuple[float, ...]
    pooled_gamma: tuple[float, ...]
    per_step_z: np.ndarray
    rate_measured: float
    rate_diag: float
    slowest_gamma: float
    rates_measured: tuple[float, ...]
    rates_diag: tuple[float, ...]
    slowest_gammas: tuple[float, ...]


def decay_rate(curve_vals: np.ndarray, steps: np.ndarray) -> float:
    """``-Δ ln(value) / ΔT`` between the largest grid T <= T_max/2 (or T = 0, value 1) and T_max."""
    t_max = int(steps[-1])
    early = np.nonzero(steps <= t_max / 2)[0]
    t_a, v_a = (int(steps[early[-1]]), float(curve_vals[early[-1]])) if early.size else (0, 0.0)
    if t_max == t_a:
        return math.nan
    return -(float(curve_vals[-1]) - v_a) * math.log(10.0) / (t_max - t_a)


def summarise(spec: ModelSpec, curves: list[SeedCurve]) -> list[SummaryRow]:
    """One ``SummaryRow`` per T of the grid: quantiles over the seeds of one model."""
    names: tuple[str, ...] = ("log10_norm", "log10_sigma_min", "log10_dl_dx1", "log10_upper")
    names += ("log10_lower", "log10_diag", "lower_valid")
    stack = {name: np.stack([getattr(c, name) for c in curves]) for name in names}
    rows = []
    for k, T in enumerate(curves[0].steps):

        def col(name: str, k: int = k) -> np.ndarray:
            return stack[name][:, k]

        def q(name: str, p: float, k: int = k) -> float:
            # The lower bound is -inf on seeds where it does not apply: no interpolation there.
            if name == "log10_lower":
                return float(np.quantile(stack[name][:, k], p, method="inverted_cdf"))
            return float(np.quantile(stack[name][:, k], p))

        rows.append(
            SummaryRow(
                model=spec.label,
                kind=spec.kind,
                T=int(T),
                seeds=len(curves),
                norm_median=q("log10_norm", 0.5),
                norm_q10=q("log10_norm", 0.1),
                norm_q90=q("log10_norm", 0.9),
                norm_min=float(np.min(col("log10_norm"))),
                norm_max=float(np.max(col("log10_norm"))),
                sigma_min_median=q("log10_sigma_min", 0.5),
                dl_dx1_median=q("log10_dl_dx1", 0.5),
                dl_dx1_q10=q("log10_dl_dx1", 0.1),
                dl_dx1_q90=q("log10_dl_dx1", 0.9),
                upper_median=q("log10_upper", 0.5),
                lower_median=q("log10_lower", 0.5) if spec.kind == "gru" else math.nan,
                lower_valid_fraction=float(np.mean(col("lower_valid"))),
                diag_median=q("log10_diag", 0.5) if spec.kind == "gru" else math.nan,
            )
        )
    return rows


def gate_stats(spec: ModelSpec, curves: list[SeedCurve]) -> GateStats:
    """The update gate of one GRU model over its seeds (``GateStats``)."""
    z = np.stack([c.z for c in curves if c.z is not None])  # (S, T, H)
    omz = np.stack([c.one_minus_z for c in curves if c.one_minus_z is not None])
    S, T, H = z.shape
    per_step = np.quantile(z.transpose(1, 0, 2).reshape(T, S * H), (0.1, 0.5, 0.9), axis=1).T
    measured = tuple(decay_rate(c.log10_norm, c.steps) for c in curves)
    diag = tuple(decay_rate(c.log10_diag, c.steps) for c in curves)
    slowest = [float(np.min(np.mean(o, axis=0))) for o in omz]
    return GateStats(
        model=spec.label,
        pooled_z=tuple(float(v) for v in np.quantile(z, QUANTILES)),
        pooled_gamma=tuple(float(v) for v in np.quantile(omz, QUANTILES)),
        per_step_z=per_step,
        rate_measured=float(np.median(measured)),
        rate_diag=float(np.median(diag)),
        slowest_gamma=float(np.median(slowest)),
        rates_measured=measured,
        rates_diag=diag,
        slowest_gammas=tuple(slowest),
    )
