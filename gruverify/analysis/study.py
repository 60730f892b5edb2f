"""The whole study: many models and seeds (``vanishing_analysis``), its configuration and result.

``VanishingConfig`` says what to measure (sizes, the T grid from ``default_steps``, seeds, models);
``VanishingResult`` holds every seed's curve, the summaries, the gate statistics and the bound
checks, and turns them into JSON-ready records (``rows``, ``to_dict``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from gruverify.analysis.bound_checks import BoundViolation, check_bounds
from gruverify.analysis.curves import SeedCurve, seed_curve
from gruverify.analysis.models import DEFAULT_MODELS, ModelSpec, make_params
from gruverify.analysis.tables import (
    QUANTILES,
    GateStats,
    SummaryRow,
    decay_rate,
    gate_stats,
    summarise,
)

__all__ = [
    "VanishingConfig",
    "VanishingResult",
    "default_steps",
    "json_number",
    "vanishing_analysis",
]


def default_steps(t_max: int = 1000, points: int | None = None) -> list[int]:
    """The T grid: ``1, 2, 5, 10, 20, 50, ...`` up to ``t_max`` (plus ``t_max``), or, with
    ``points``, that many log-spaced integers from 1 to ``t_max`` (duplicates merged)."""
    if t_max < 1:
        raise ValueError(f"t_max must be >= 1, got {t_max}")
    if points is not None:
        if points < 1:
            raise ValueError(f"points must be >= 1, got {points}")
        return sorted({round(float(v)) for v in np.geomspace(1, t_max, points)} | {t_max})
    out: set[int] = {t_max}
    decade = 1
    while decade <= t_max:
        out.update(m * decade for m in (1, 2, 5) if m * decade <= t_max)
        decade *= 10
    return sorted(out)


@dataclasses.dataclass(frozen=True)
class VanishingConfig:
    """What to measure: sizes, the T grid, seeds and models (``x_t ~ N(0, I)``, ``h_0 = 0``).

    Seed s of every model uses the same input sequence and loss direction (common random numbers),
    drawn from ``numpy.random.default_rng((base_seed, s, ...))``.
    """

    hidden_size: int = 32
    input_size: int = 8
    steps: tuple[int, ...] = tuple(default_steps(1000))
    seeds: int = 20
    base_seed: int = 0
    models: tuple[ModelSpec, ...] = DEFAULT_MODELS

    def __post_init__(self) -> None:
        if self.hidden_size < 1 or self.input_size < 1:
            raise ValueError(
                f"sizes must be >= 1, got hidden_size={self.hidden_size}, "
                f"input_size={self.input_size}"
            )
        if self.seeds < 1:
            raise ValueError(f"seeds must be >= 1, got {self.seeds}")
        if not self.steps or min(self.steps) < 1:
            raise ValueError(f"steps must be a non-empty list of integers >= 1, got {self.steps}")
        if not self.models:
            raise ValueError("no models to analyse")
        object.__setattr__(self, "steps", tuple(sorted(set(int(t) for t in self.steps))))

    @property
    def t_max(self) -> int:
        return self.steps[-1]

    def to_dict(self) -> dict[str, Any]:
        return {
            "hidden_size": self.hidden_size,
            "input_size": self.input_size,
            "steps": list(self.steps),
            "seeds": self.seeds,
            "base_seed": self.base_seed,
            "models": [m.text for m in self.models],
            "input": "x_t ~ N(0, I), h_0 = 0",
            "loss": "L = w . h_T, w a random unit vector per seed",
        }


@dataclasses.dataclass(frozen=True)
class VanishingResult:
    """Every seed's curve, the summaries over seeds, the gate statistics and the bound checks."""

    config: VanishingConfig
    curves: tuple[SeedCurve, ...]
    summary: tuple[SummaryRow, ...]
    gates: tuple[GateStats, ...]
    rates: dict[str, float]
    violations: tuple[BoundViolation, ...]
    rows_checked: int
    lower_rows_checked: int

    def curves_of(self, spec: ModelSpec) -> list[SeedCurve]:
        return [c for c in self.curves if c.spec == spec]

    def rows(self) -> list[dict[str, Any]]:
        """One flat record per (model, seed, T): the per-seed values and their bounds."""
        out = []
        for c in self.curves:
            for k, T in enumerate(c.steps):
                out.append(
                    {
                        "model": c.spec.label,
                        "spec": c.spec.text,
                        "kind": c.spec.kind,
                        "variant": c.spec.variant if c.spec.kind == "gru" else None,
                        "seed": c.seed,
                        "T": int(T),
                        "log10_norm": json_number(c.log10_norm[k]),
                        "log10_sigma_min": json_number(c.log10_sigma_min[k]),
                        "log10_dl_dx1": json_number(c.log10_dl_dx1[k]),
                        "log10_upper_bound": json_number(c.log10_upper[k]),
                        "upper_bound": "sigma_max(W)^T" if c.spec.kind == "rnn" else "prod(1+d_t)",
                        "log10_lower_bound": json_number(c.log10_lower[k]),
                        "lower_bound": None if c.spec.kind == "rnn" else "prod(1-d_t)",
                        "lower_bound_valid": bool(c.lower_valid[k]),
                        "log10_diag_z": json_number(c.log10_diag[k]),
                    }
                )
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: config, summary, gates, rates, bound checks and the per-seed rows.

        Non-finite numbers become None (JSON has no NaN; a -inf lower bound means none applies).
        """
        return {
            "config": self.config.to_dict(),
            "quantity": {
                "log10_norm": "log10 ||dh_T/dh_0||_2 (exact product of analytic step Jacobians)",
                "log10_sigma_min": "log10 sigma_min(dh_T/dh_0)",
                "log10_dl_dx1": "log10 ||dL/dx_1||_2, L = w . h_T",
                "log10_upper_bound": "RNN: T log10 sigma_max(W_hh); GRU: sum log10(1 + d_t)",
                "log10_lower_bound": "GRU: sum log10(1 - d_t) while all d_t < 1 (bounds sigma_min)",
                "log10_diag_z": "GRU: log10 max_i prod_t z_ti (the prediction from z alone)",
                "gamma": "the course's update gate Γ_u = 1 - z (torch z)",
            },
            "summary": [
                {k: json_number(v) for k, v in dataclasses.asdict(s).items()} for s in self.summary
            ],
            "gates": [
                {
                    "model": g.model,
                    "quantiles": list(QUANTILES),
                    "pooled_z": [json_number(v) for v in g.pooled_z],
                    "pooled_gamma": [json_number(v) for v in g.pooled_gamma],
                    "z_q10_q50_q90_at_T": {
                        str(T): [json_number(v) for v in g.per_step_z[T - 1]]
                        for T in self.config.steps
                    },
                    "rate_measured": json_number(g.rate_measured),
                    "rate_diag": json_number(g.rate_diag),
                    "slowest_gamma": json_number(g.slowest_gamma),
                }
                for g in self.gates
            ],
            "rates_measured": {k: json_number(v) for k, v in self.rates.items()},
            "checks": {
                "rows_checked": self.rows_checked,
                "lower_bound_rows_checked": self.lower_rows_checked,
                "violations": [str(v) for v in self.violations],
            },
            "rows": self.rows(),
        }


def json_number(v: Any) -> Any:
    """``v`` as JSON allows: numpy scalars as Python numbers, NaN and infinities as None."""
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, np.integer):
        return int(v)
    return v


def vanishing_analysis(config: VanishingConfig | None = None) -> VanishingResult:
    """Run every model of ``config`` on ``config.seeds`` seeds; summarise and check the bounds."""
    config = config or VanishingConfig()
    curves: list[SeedCurve] = []
    summary: list[SummaryRow] = []
    gates: list[GateStats] = []
    rates: dict[str, float] = {}
    for spec in config.models:
        mine = []
        for s in range(config.seeds):
            rng_p = np.random.default_rng((config.base_seed, s, 0))
            rng_x = np.random.default_rng((config.base_seed, s, 1))
            x = rng_x.standard_normal((config.t_max, config.input_size))
            w = rng_x.standard_normal(config.hidden_size)
            params = make_params(spec, config.input_size, config.hidden_size, rng_p)
            mine.append(seed_curve(spec, params, x, w, config.steps, seed=s))
        curves.extend(mine)
        summary.extend(summarise(spec, mine))
        rates[spec.label] = float(np.median([decay_rate(c.log10_norm, c.steps) for c in mine]))
        if spec.kind == "gru":
            gates.append(gate_stats(spec, mine))
    violations, rows, lower_rows = check_bounds(curves)
    return VanishingResult(
        config, tuple(curves), tuple(summary), tuple(gates), rates, tuple(violations),
        rows, lower_rows,
    )  # fmt: skip
