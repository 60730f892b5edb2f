"""How fast gradients vanish through a GRU and a tanh RNN: exact Jacobian products and their bounds.

The question this module answers (docs/gru-math.md sections 3 and 4): with
``h_t = (1 - z_t) * n_t + z_t * h_{t-1}`` (torch's convention; the course writes
``c_t = Γ_u * c~_t + (1 - Γ_u) * c_{t-1}``, so ``Γ_u = 1 - z``), both weights are below 1, so why
does a GRU's gradient not vanish like an RNN's? Because a GRU step's Jacobian is
``J_t = D(z_t) + D(1 - z_t) (N_t - I)``, the identity plus a correction of size ``1 - z``: a unit whose
update gate saturates (``z -> 1``, ``Γ_u -> 0``) passes its gradient on almost unchanged. A tanh RNN's
step Jacobian ``D(1 - h_t^2) W`` has no identity part, so ``||dh_T/dh_0||_2 <= sigma_max(W)^T``.

For each model and seed this module runs the float64 reference forward on ``x_t ~ N(0, I)`` from
``h_0 = 0``, takes every step Jacobian from the reference's analytic formulas
(``gru_step_jacobian`` / ``rnn_step_jacobian``) and accumulates ``P_T = J_T ... J_1 = dh_T/dh_0``
once up to the largest T, reading off at each T of the grid:

- ``||P_T||_2`` and ``sigma_min(P_T)``;
- ``||dL/dx_1||_2`` for ``L = w . h_T`` with a fixed random unit vector ``w``:
  ``dL/dx_1 = w^T J_T ... J_2 (dh_1/dx_1)``;
- the bounds: RNN ``||P_T|| <= sigma_max(W_hh)^T``; GRU, with ``d_t = eps_t (1 + K_t)``,
  ``eps_t = max_i (1 - z_{t,i})`` and ``K_t`` = ``K_after`` or ``K_before`` of section 3,
  ``sigma_min(P_T) >= prod_t (1 - d_t)`` while every ``d_t < 1`` and ``||P_T|| <= prod_t (1 + d_t)``;
- the leading-order (diagonal) prediction ``max_i prod_t z_{t,i} = ||prod_t D(z_t)||``, which is what
  ``1 - z`` alone says: unit i decays by ``z_{t,i} = 1 - Γ_{t,i}`` per step, a time constant
  ``1 / (1 - z)``.

The product is kept as ``2**e * M`` with an exact power-of-two rescaling after every step, so it
never underflows and the rescaling adds no rounding; norms are reported as log10.

This module is the study's public face; the work is done in one module per job:
``analysis.models`` (which network and initialisation), ``analysis.products`` (the Jacobian
products), ``analysis.bound_curves`` (the bounds along a trace), ``analysis.curves`` (one model on one
seed), ``analysis.bound_checks`` (each row against its theorem), ``analysis.tables`` (summaries over
seeds) and ``analysis.study`` (many models and seeds, configuration and result).
"""

from __future__ import annotations

from gruverify.analysis.bound_checks import BoundViolation, check_bounds
from gruverify.analysis.bound_curves import gru_carry_terms
from gruverify.analysis.curves import SeedCurve, seed_curve
from gruverify.analysis.models import DEFAULT_MODELS, ModelSpec, make_params, parse_model
from gruverify.analysis.products import ScaledProduct
from gruverify.analysis.study import (
    VanishingConfig,
    VanishingResult,
    default_steps,
    vanishing_analysis,
)
from gruverify.analysis.tables import QUANTILES, GateStats, SummaryRow

__all__ = [
    "DEFAULT_MODELS",
    "QUANTILES",
    "BoundViolation",
    "GateStats",
    "ModelSpec",
    "ScaledProduct",
    "SeedCurve",
    "SummaryRow",
    "VanishingConfig",
    "VanishingResult",
    "check_bounds",
    "default_steps",
    "gru_carry_terms",
    "make_params",
    "parse_model",
    "seed_curve",
    "vanishing_analysis",
]
