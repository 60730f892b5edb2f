"""Gradient agreement: analytic gradients against numerical derivatives of the float64 reference.

For ``L(theta) = sum(d_output * output) + sum(d_h_n * h_n)`` and ``theta`` the input, the initial
state or all parameters (``gruverify.reference.finite_differences.reference_loss``):

- directional (``law_gradient_finite_differences``): for ``k`` random unit directions ``u``,
  ``u . g`` (the analytic gradient ``g``) equals the complex-step derivative ``Im L(theta + i h u)/h``
  to ``1e-9 ||g||_2 + 1e-14 S`` and the Richardson-extrapolated central difference
  ``(4 D(h/2) - D(h)) / 3`` to ``1e-6 ||g||_2 + 4 |R(h) - R(h/2)| + 1e-12 (F / h + S)``, where
  ``|R(h) - R(h/2)|`` estimates the remaining truncation error, ``F = sum |d_output| |output| +
  sum |d_h_n| |h_n|`` the scale of ``L`` (its rounding error divided by the step), ``S = (sum
  |d_output| + sum |d_h_n|) max(1, ||x||_inf)`` for parameters (``max(1, max |W|)`` otherwise) the
  scale of the terms a gradient sums (a gradient that cancels to almost nothing keeps their
  rounding error), and ``h = 1e-2 / max(1, ||x||_inf)`` for parameters (whose derivatives scale
  with the input), ``1e-2`` otherwise, and at most ``1e-2 max(F, 1) / ||g||_2`` (the loss moves by
  about 1% of its scale along a step); when that step is still outside the loss's linear range
  (expanding dynamics), ``h / 10`` and ``h / 100`` are tried, and the first step that agrees
  passes;
- full Jacobian (``law_full_jacobian``, small cases): every row ``d(output, h_n)_k / d theta``
  obtained from the analytic backward pass with a unit cotangent equals the complex-step Jacobian to
  ``1e-10 max(1, max |J|)``.

The tolerances are rules of the error model (``gruverify.error_model.complex_step_tolerance``,
``richardson_tolerance``, ``full_jacobian_tolerance``), which gives the reasons for their sizes.

Comparing another implementation's gradients with the reference within the error model is
``gruverify.laws.equivalence.law_gradient_equivalence``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np

from gruverify.core.arithmetic import worst_entry
from gruverify.core.bounds import input_bound
from gruverify.core.params import Variant
from gruverify.core.problem import Gradients, Problem
from gruverify.core.shapes import problem_shape
from gruverify.error_model import (
    complex_step_tolerance,
    full_jacobian_tolerance,
    richardson_tolerance,
)
from gruverify.laws.base import LawViolation
from gruverify.reference.finite_differences import (
    FlatLoss,
    complex_step,
    complex_step_jacobian,
    reference_loss,
    richardson_difference,
)
from gruverify.reference.implementations import NumpyReference
from gruverify.reference.numpy_reference import gru_forward

__all__ = [
    "GradientFn",
    "Wrt",
    "law_full_jacobian",
    "law_gradient_finite_differences",
    "problem_cotangents",
]

Wrt = Literal["x", "h0", "params"]
GradientFn = Callable[[Problem, np.ndarray | None, np.ndarray | None], Gradients]
"""``gradients(problem, d_output, d_h_n)`` -> ``Gradients`` (e.g. ``NumpyReference.gradients``)."""


def problem_cotangents(problem: Problem, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Standard-normal ``(d_output, d_h_n)`` of the problem's output and state shapes."""
    shape = problem_shape(problem)
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape.output_shape), rng.standard_normal(shape.state_shape)


def _flat(g: Gradients, wrt: Wrt) -> np.ndarray:
    if wrt == "x":
        return np.asarray(g.dx, dtype=np.float64).ravel()
    if wrt == "h0":
        return np.asarray(g.dh0, dtype=np.float64).ravel()
    return np.asarray(g.dparams.flat(), dtype=np.float64)


def _default(variant: Variant) -> GradientFn:
    return NumpyReference(variant).gradients


_Attempt = tuple[str, float, float, float]
"""One numerical derivative: ``(method, value, tolerance, Richardson step)``."""


def _step_and_scales(
    problem: Problem,
    variant: Variant,
    wrt: Wrt,
    d_out: np.ndarray,
    d_hn: np.ndarray,
    gnorm: float,
) -> tuple[float, float, float]:
    """``(h, F, S)`` of the module docstring: the Richardson step, the scale of the loss and the
    scale of the terms a gradient sums."""
    p = problem
    fwd = gru_forward(
        p.params, p.x, p.h0, variant=variant, batch_first=p.batch_first, lengths=p.lengths
    )
    F = float(np.sum(np.abs(d_out * fwd.output)) + np.sum(np.abs(d_hn * fwd.h_n)))
    x_inf = input_bound(p.x)
    h = 1e-2 / max(1.0, x_inf) if wrt == "params" else 1e-2
    w_inf = max(float(np.max(np.abs(v))) for _, v in p.params.named())
    S = float(np.sum(np.abs(d_out)) + np.sum(np.abs(d_hn))) * max(
        1.0, x_inf if wrt == "params" else w_inf
    )
    if gnorm > 0:  # keep the loss's change along a step near 1% of its scale
        h = min(h, 1e-2 * max(F, 1.0) / gnorm)
    return h, F, S


def _numeric_derivatives(
    loss: FlatLoss, u: np.ndarray, analytic: float, gnorm: float, h: float, F: float, S: float
) -> list[_Attempt]:
    """The complex step along ``u``; where it agrees with ``analytic``, Richardson at ``h``,
    ``h / 10``, ``h / 100`` up to the first step that agrees too (module docstring)."""
    cs = complex_step(loss, loss.point, u)
    attempts = [("complex step", cs, complex_step_tolerance(gnorm, S), 0.0)]
    if not abs(analytic - cs) <= attempts[0][2]:
        return attempts
    # Richardson at shrinking steps until one is in the loss's linear range (expanding
    # dynamics bend the loss on scales far below 1e-2); the first that agrees passes
    attempts = []
    for step in (h, h / 10, h / 100):
        r1 = richardson_difference(loss, loss.point, u, step)
        r2 = richardson_difference(loss, loss.point, u, step / 2)
        tol = richardson_tolerance(gnorm, r1, r2, F, step, S)
        attempts.append(("Richardson", r2, tol, step))
        if abs(analytic - r2) <= tol:
            break
    return attempts


def closest_attempt(attempts: list[_Attempt], analytic: float) -> _Attempt:
    """The attempt the law judges: the one nearest ``analytic`` relative to its own tolerance,
    ``min |analytic - numeric| / tol`` (one agreeing attempt is enough; with none, the nearest
    is the one reported)."""
    return min(attempts, key=lambda a: abs(analytic - a[1]) / a[2])


def _problem_loss(
    problem: Problem,
    variant: Variant,
    wrt: Wrt,
    d_out: np.ndarray | None,
    d_hn: np.ndarray | None,
) -> FlatLoss:
    """The numpy reference's loss on ``problem`` as a function of ``wrt`` (``reference_loss``)."""
    p = problem
    return reference_loss(
        "gru", p.params, p.x, p.h0, d_out, d_hn,
        wrt=wrt, variant=variant, batch_first=p.batch_first, lengths=p.lengths,
    )  # fmt: skip


def law_gradient_finite_differences(
    problem: Problem,
    variant: Variant,
    wrt: Wrt,
    *,
    directions: int = 3,
    seed: int = 0,
    gradients: GradientFn | None = None,
) -> None:
    """Directional derivatives of the analytic gradient against complex step and Richardson
    (module docstring). ``gradients`` defaults to the numpy reference's backward pass."""
    grad_fn = gradients or _default(variant)
    d_out, d_hn = problem_cotangents(problem, seed)
    loss = _problem_loss(problem, variant, wrt, d_out, d_hn)
    g = _flat(grad_fn(problem, d_out, d_hn), wrt)
    if g.shape != loss.point.shape:
        raise LawViolation(
            "gradient vs finite differences",
            "dL/dtheta has theta's shape",
            f"gradient has {g.size} entries, {wrt} has {loss.point.size}",
            {"wrt": wrt},
            problem.describe(),
        )
    gnorm = float(np.linalg.norm(g))
    h, F, S = _step_and_scales(problem, variant, wrt, d_out, d_hn, gnorm)
    rng = np.random.default_rng(seed + 1)
    U = rng.standard_normal((directions, g.size))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    for k, u in enumerate(U):
        analytic = float(u @ g)
        attempts = _numeric_derivatives(loss, u, analytic, gnorm, h, F, S)
        method, numeric, tol, step = closest_attempt(attempts, analytic)
        err = abs(analytic - numeric)
        if not err <= tol:
            raise LawViolation(
                "gradient vs finite differences",
                "u . dL/dtheta = d/ds L(theta + s u) at s = 0, L = sum(d_out * output) + "
                "sum(d_hn * h_n)",
                f"directional derivative {k} w.r.t. {wrt} disagrees with the {method}",
                {
                    "analytic": analytic,
                    method: numeric,
                    "error": err,
                    "tolerance": tol,
                    "||gradient||_2": gnorm,
                    "richardson step": step,
                    "variant": variant,
                },
                problem.describe(),
            )


def law_full_jacobian(
    problem: Problem,
    variant: Variant,
    wrt: Wrt,
    *,
    gradients: GradientFn | None = None,
    max_entries: int = 20_000,
) -> None:
    """Every row of ``d(output, h_n)/d theta`` from unit-cotangent backward passes equals the
    complex-step Jacobian to ``1e-10 max(1, max |J|)``. For small cases (``max_entries`` caps the
    Jacobian's size)."""
    grad_fn = gradients or _default(variant)
    p = problem
    base = _problem_loss(problem, variant, wrt, None, None)
    fwd = gru_forward(
        p.params, p.x, p.h0, variant=variant, batch_first=p.batch_first, lengths=p.lengths
    )
    m_out, m_hn = fwd.output.size, fwd.h_n.size
    n = base.point.size
    if (m_out + m_hn) * n > max_entries:
        raise ValueError(f"Jacobian {(m_out + m_hn)}x{n} exceeds max_entries={max_entries}")

    def F(theta: np.ndarray) -> np.ndarray:
        from gruverify.reference import numpy_reference as ref

        params, x, h0 = p.params, p.x, p.h0
        if wrt == "x":
            x = theta.reshape(np.shape(p.x))
        elif wrt == "h0":
            h0 = theta.reshape(np.shape(fwd.h_n))
        else:
            params = p.params.unflat(theta)
        r = ref.gru_forward(
            params, x, h0, variant=variant, batch_first=p.batch_first, lengths=p.lengths
        )
        return np.concatenate([np.ravel(r.output), np.ravel(r.h_n)])

    numeric = complex_step_jacobian(F, base.point)
    rows = []
    for k in range(m_out + m_hn):
        d_out = np.zeros(m_out)
        d_hn = np.zeros(m_hn)
        if k < m_out:
            d_out[k] = 1.0
        else:
            d_hn[k - m_out] = 1.0
        g = grad_fn(problem, d_out.reshape(fwd.output.shape), d_hn.reshape(fwd.h_n.shape))
        rows.append(_flat(g, wrt))
    analytic = np.stack(rows)
    tol = full_jacobian_tolerance(numeric)
    err = np.abs(analytic - numeric)
    if not np.all(err <= tol):  # NaN fails too
        (i, j), worst = worst_entry(err)
        raise LawViolation(
            "full Jacobian vs complex step",
            "J[k, j] = d(output, h_n)_k / d theta_j = Im F(theta + i h e_j)_k / h",
            f"Jacobian entry w.r.t. {wrt} disagrees",
            {
                "row (output entry)": i,
                "column": j,
                "analytic": float(analytic[i, j]),
                "complex step": float(numeric[i, j]),
                "error": worst,
                "tolerance": tol,
                "variant": variant,
            },
            problem.describe(),
        )
