"""Long-range gradients: the gradient of the last step's output reaches the first steps and ``h0``.

A GRU that cuts its gradient every ``k`` steps (truncated backpropagation hidden in a module, a
checkpointing or chunking bug of a custom backward, a fused kernel whose backward restarts per
time tile) has an exact forward pass and exact gradients on sequences shorter than ``k``. What it
loses are the paths that cross a cut: ``dL/dx_t`` for ``t`` before the last cut and ``dL/dh0``.

The law takes one random projection, a vector-Jacobian product with the cotangent on each
direction's final step only (``final_step_cotangent``: ``d_out[T-1]`` for the forward direction,
``d_out[0]`` for the reverse one, standard normal, ``d_h_n = 0``), so that every entry of ``dx_0``
(``dx_{T-1}`` for the reverse direction) and ``dh0`` has travelled ``T - 1`` steps, and compares
the target's ``dL/dq`` with the float64 reference's analytic backward pass within the error
model's tolerance ``tol_q`` (``ErrorModel.backward``: its perturbed runs round every step, the
coherent drift of a carried state included, as ``forward[long]``'s tolerance does), for ``dh0``
and ``dx_0`` first (the message names them), then ``dx`` and every parameter.

Over ``T >= 33`` steps an ordinary GRU forgets: ``|dh_T / dh_0|`` shrinks like ``prod_t z_t``
and would fall below any tolerance, so the law judges ``long_range_problem(problem)``: every
update-gate bias ``b_iz`` raised by ``ln T + 1`` (``z ~ 1 - e^{-1} / T``: the state is carried and
the gradient keeps about ``e^{-1/e}`` of its size over ``T`` steps). A case whose reference
gradient still does not reach step 0 (``max(|dh0|, |dx_0|) <= REACH * tol``, ``REACH = 10``:
large or saturating weights, large inputs) cannot show a cut and is inconclusive.
"""

from __future__ import annotations

import math
import zlib

import numpy as np

from gruverify.core.problem import Implementation, Problem
from gruverify.core.shapes import problem_shape
from gruverify.error_model import (
    ErrorModel,
    Inconclusive,
    compare,
    default_model,
    require_gradients_conditioned,
    require_gradients_in_range,
    require_in_range,
)
from gruverify.laws.base import LawViolation, verdict_violation
from gruverify.strategies import with_update_bias

__all__ = ["REACH", "final_step_cotangent", "law_long_range_gradient", "long_range_problem"]

REACH = 10.0
"""How many tolerances the reference's ``dh0`` or ``dx_0`` must exceed for a case to judge a cut
(a cut gradient is then off by ten tolerances or more)."""

LAW = "long-range gradient"
FORMULA = (
    "dL/dq = dL/dq_ref within tol_q for q in h0, x_0, x, every parameter; L = the final step's "
    "output . d_out"
)


def long_range_problem(problem: Problem) -> Problem:
    """``problem`` with every ``b_iz`` raised by ``ln T + 1`` (module docstring); needs biases."""
    if not problem.bias:
        raise ValueError("long_range_problem raises b_iz: the problem needs biases")
    return with_update_bias(problem, math.log(problem.steps) + 1.0)


def _time_major(a: np.ndarray, problem: Problem) -> np.ndarray:
    """A view of an output-shaped array with time first."""
    return np.swapaxes(a, 0, 1) if problem.batched and problem.batch_first else a


def final_step_cotangent(problem: Problem) -> np.ndarray:
    """``d_out``: standard normal on the forward direction's output at ``t = T - 1`` and the
    reverse direction's at ``t = 0`` (each direction's final step), zero elsewhere; seeded by
    the input's bytes (a pure function of the problem)."""
    d = np.zeros(problem_shape(problem).output_shape)
    tm = _time_major(d, problem)
    rng = np.random.default_rng(zlib.crc32(np.ascontiguousarray(problem.x).tobytes()))
    c = rng.standard_normal(tm.shape[1:])
    H = problem.params.hidden_size
    tm[-1, ..., :H] = c[..., :H]
    if problem.bidirectional:
        tm[0, ..., H:] = c[..., H:]
    return d


def _first_steps(dx: np.ndarray, problem: Problem) -> np.ndarray:
    """``dx`` at each direction's first step: ``t = 0`` (and ``t = T - 1`` when bidirectional)."""
    tm = _time_major(np.asarray(dx), problem)
    return tm[[0, -1]] if problem.bidirectional else tm[:1]


def _reach(
    problem: Problem, ref_dx: np.ndarray, ref_dh0: np.ndarray, tols: dict[str, float]
) -> None:
    """``Inconclusive`` unless the reference's ``dh0`` or first-step ``dx`` exceeds ``REACH``
    tolerances (module docstring)."""
    far = float(np.max(np.abs(_first_steps(ref_dx, problem)), initial=0.0))
    h0 = float(np.max(np.abs(ref_dh0), initial=0.0)) if problem.h0 is not None else 0.0
    if not (far > REACH * tols["dx"] or h0 > REACH * tols.get("dh0", np.inf)):
        raise Inconclusive(
            f"the gradient of the final step does not reach step 0 at this precision "
            f"(|dx_0| = {far:.3g}, |dh0| = {h0:.3g}, tol_dx = {tols['dx']:.3g}): a cut gradient "
            f"would not show ({problem.describe()})"
        )


def law_long_range_gradient(
    impl: Implementation, problem: Problem, model: ErrorModel | None = None
) -> None:
    """The target's vector-Jacobian product with ``final_step_cotangent`` on
    ``long_range_problem(problem)`` equals the reference's within the error model's tolerance,
    ``dh0`` and the first steps' ``dx`` first (module docstring)."""
    model = model or default_model(impl)
    p = long_range_problem(problem)
    require_in_range(p, model.arithmetic)
    d_out = final_step_cotangent(p)
    ref, tol = model.backward(p, impl.variant, d_out, None)
    require_gradients_in_range(ref, model.arithmetic, p)
    require_gradients_conditioned(tol, p)
    _reach(p, ref.dx, ref.dh0, tol.gradients)
    got = impl.gradients(p, d_out, None)
    pairs: list[tuple[str, np.ndarray, np.ndarray, str]] = []
    if p.h0 is not None:
        pairs.append(("dh0", ref.dh0, got.dh0, "dh0"))
    if np.shape(got.dx) == np.shape(ref.dx):
        pairs.append(("dx at the first step", _first_steps(ref.dx, p), _first_steps(got.dx, p),
                      "dx"))  # fmt: skip
    pairs.append(("dx", ref.dx, got.dx, "dx"))
    got_params = dict(got.dparams.named())
    pairs += [(k, v, got_params[k], k) for k, v in ref.dparams.named()]
    for name, exp, g, key in pairs:
        if np.shape(g) != np.shape(exp):
            raise LawViolation(
                LAW, FORMULA, f"{name} has shape {np.shape(g)}, expected {np.shape(exp)}",
                {"quantity": name}, p.describe(),
            )  # fmt: skip
        v = compare(name, exp, g, tol.gradients[key])
        if not v.ok:
            raise verdict_violation(
                LAW, FORMULA, v, p.describe(),
                f" [{tol.arithmetic}] over {p.steps} steps (b_iz raised by ln T + 1)",
                steps=p.steps,
            )  # fmt: skip
