"""Each measured row against its theorem: ``check_bounds`` and the ``BoundViolation`` it reports."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable

from gruverify.analysis.curves import SeedCurve
from gruverify.error_model import study_product_slack

__all__ = ["BoundViolation", "check_bounds"]


@dataclasses.dataclass(frozen=True)
class BoundViolation:
    """One row where a measured norm breaks its theoretical bound (numbers in log10)."""

    model: str
    seed: int
    T: int
    bound: str
    measured: float
    limit: float

    def __str__(self) -> str:
        return (
            f"{self.model} seed {self.seed} T={self.T}: {self.bound} violated: "
            f"measured log10 {self.measured:.6g}, limit log10 {self.limit:.6g}"
        )


def check_bounds(curves: Iterable[SeedCurve]) -> tuple[list[BoundViolation], int, int]:
    """Check every (model, seed, T) row against its theorem; returns (violations, rows, lower rows).

    - RNN: ``||P_T|| <= sigma_max(W_hh)^T`` (Pascanu et al. 2013; ``tanh' <= 1``).
    - GRU: ``||P_T|| <= prod (1 + d_t)`` and, while every ``d_t < 1``,
      ``sigma_min(P_T) >= prod (1 - d_t)`` (docs/gru-math.md section 3).

    Rounding slack: the computed product's error is at most about ``T H u prod ||J_t||`` and
    ``prod ||J_t||`` is below the upper bound, so both checks allow ``s = 4 T H u * upper``
    (u = 2.2e-16): ``norm <= upper (1 + 4 T H u)`` and ``sigma_min >= lower - s``
    (``gruverify.error_model.study_product_slack``). A lower bound below ``s`` cannot be checked
    in float64 and is not counted in the lower-bound rows.
    """
    violations: list[BoundViolation] = []
    rows = lower_rows = 0
    for c in curves:
        for k, T in enumerate(c.steps):
            rows += 1
            rel = study_product_slack(T, c.hidden_size)
            limit = float(c.log10_upper[k]) + math.log10(1.0 + rel)
            if not c.log10_norm[k] <= limit:
                violations.append(
                    BoundViolation(
                        c.spec.label, c.seed, int(T),
                        "||dh_T/dh_0|| <= " + ("sigma_max(W)^T" if c.spec.kind == "rnn"
                                               else "prod(1+d_t)"),
                        float(c.log10_norm[k]), limit,
                    )
                )  # fmt: skip
            if c.spec.kind != "gru" or not c.lower_valid[k]:
                continue
            lo = float(c.log10_lower[k])
            slack = math.log10(rel) + float(c.log10_upper[k])
            if lo <= slack:
                continue
            lower_rows += 1
            need = lo + math.log10(1.0 - 10.0 ** (slack - lo))
            if not c.log10_sigma_min[k] >= need:
                violations.append(
                    BoundViolation(
                        c.spec.label, c.seed, int(T), "sigma_min(dh_T/dh_0) >= prod(1-d_t)",
                        float(c.log10_sigma_min[k]), need,
                    )
                )  # fmt: skip
    return violations, rows, lower_rows
