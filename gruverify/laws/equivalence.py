"""Equivalence laws: an implementation computes the reference GRU, forward and backward.

Each law runs the implementation on one ``Problem`` and the float64 reference on the same problem
rounded to the implementation's storage dtype (``ErrorModel``), and compares with the tolerance the
error model derives for that problem in the implementation's arithmetic:

- forward:  ``|output - output_ref|_inf <= tol_out`` and ``|h_n - h_n_ref|_inf <= tol_hn``;
- backward: for ``L = sum(d_out * output) + sum(d_hn * h_n)`` and every quantity
  ``q in {x, h0, each parameter}``: ``|dL/dq - dL/dq_ref|_inf <= tol_q``, with the loss on the
  outputs only (``d_hn = 0``), on ``h_n`` only (``d_out = 0``) or on both;
- effective weights: a target that declares a quantization and hands over its effective
  (dequantized) weights must hand over a rounding of the drawn weights to the declared grid,
  ``|w_eff - w| <= s / 2`` per weight (``error_model.effective_weight_excess``), else the reference
  would run on its bug;
- devices:  two implementations of the same GRU (e.g. CPU and CUDA) agree within the sum of their
  tolerances, ``|a - b|_inf <= tol_a + tol_b``.

A problem whose tolerance is not small against its outputs (``Tolerance.conditioned`` False) is
chaotic at that precision: the law raises ``Inconclusive`` instead of judging it
(``gruverify.error_model.require_conditioned``, ``require_gradients_conditioned``; a problem near
the storage format's range, ``require_in_range``, likewise).
"""

from __future__ import annotations

import dataclasses
import zlib
from typing import Literal

import numpy as np

from gruverify.core.bounds import recurrent_reach, state_bound
from gruverify.core.problem import Implementation, Outputs, Problem
from gruverify.core.shapes import problem_shape
from gruverify.error_model import (
    Arithmetic,
    ErrorModel,
    agreement_tolerance,
    box_slack,
    compare,
    default_model,
    effective_weight_excess,
    require_conditioned,
    require_gradients_conditioned,
    require_gradients_in_range,
    require_in_range,
)
from gruverify.laws.base import LawViolation, verdict_violation

__all__ = [
    "cotangents",
    "law_device_agreement",
    "law_effective_weights",
    "law_forward_equivalence",
    "law_forward_saturated",
    "law_gradient_equivalence",
    "law_gradient_h_n",
    "law_gradient_output",
    "law_gradient_output_and_h_n",
    "SATURATION_PREACTIVATION",
    "saturated_problem",
]

LossOn = Literal["output", "h_n", "both"]

_ROUNDING_ALONE = ": rounding alone can explain any difference"


def law_forward_equivalence(
    impl: Implementation, problem: Problem, model: ErrorModel | None = None
) -> None:
    """``|output - output_ref|_inf <= tol_out`` and ``|h_n - h_n_ref|_inf <= tol_hn`` (first,
    for a declared quantization with effective weights, ``law_effective_weights``)."""
    model = model or default_model(impl)
    law_effective_weights(impl, problem, model)
    ref, tol = model.judged_forward(problem, impl.variant, _ROUNDING_ALONE)
    got = impl.forward(problem)
    formula = "max|output - output_ref| <= tol_out and max|h_n - h_n_ref| <= tol_hn"
    for name, exp, g, t in (
        ("output", ref.output, got.output, tol.output),
        ("h_n", ref.h_n, got.h_n, tol.h_n),
    ):
        if np.shape(g) != np.shape(exp):
            raise LawViolation(
                "forward equivalence", formula, f"{name} has shape {np.shape(g)}, "
                f"expected {np.shape(exp)}", {"quantity": name}, problem.describe(),
            )  # fmt: skip
        v = compare(name, exp, g, t)
        if not v.ok:
            extra = f" [{tol.arithmetic}]" + _outside_box(g, problem, model.arithmetic)
            raise verdict_violation("forward equivalence", formula, v, problem.describe(), extra)


def law_effective_weights(
    impl: Implementation, problem: Problem, model: ErrorModel | None = None
) -> None:
    """With a declared quantization ``q`` and effective weights (``ErrorModel.effective``): every
    effective weight is the drawn one rounded to ``q``'s grid, ``|w_eff - w| <= s / 2`` (``s`` the
    row's step; ``s`` for an asymmetric grid) and every bias the drawn one, to float32 rounding.
    Nothing to check otherwise."""
    model = model or default_model(impl)
    q = model.arithmetic.quantization
    if q is None or model.effective is None:
        return
    bad = effective_weight_excess(problem.params, model.effective(problem.params), q)
    if bad is not None:
        name, index, w, e, bound = bad
        raise LawViolation(
            "effective weights", "|w_eff - w| <= s / 2 (the weight rounded to the declared grid)",
            f"{name}{list(index)}: effective {e:.9g}, drawn {w:.9g}, off by {abs(e - w):.3g} "
            f"> {bound:.3g} ({abs(e - w) / bound:.3g} times what rounding to {q} allows)",
            {"quantity": name, "drawn": w, "effective": e, "bound": bound}, problem.describe(),
        )  # fmt: skip


def _outside_box(got: np.ndarray, problem: Problem, arithmetic: Arithmetic) -> str:
    """A note when outputs leave the box ``|h| <= max(|h0|, 1)`` that every GRU state stays in:
    then the difference is no rounding, but ``tanh`` (or a gate) outside its closed interval."""
    g = np.abs(np.asarray(got, dtype=np.float64))
    if not g.size or np.isnan(g).any():
        return ""
    h0 = 0.0 if problem.h0 is None else float(np.max(np.abs(problem.h0)))
    box = max(1.0, h0)
    top = float(np.max(g))
    if top <= box * (1.0 + box_slack(arithmetic.unit_roundoff, arithmetic.activation_error)):
        return ""
    return (
        f"; |h| = {top:.10g} leaves the box |h| <= max(|h0|, 1) = {box:.10g} (by "
        f"{(top - box) / arithmetic.unit_roundoff:.3g} u): a candidate tanh > 1 in magnitude or a "
        "gate outside [0, 1], not rounding"
    )


SATURATION_SCALE = 60.0
SATURATION_CLIP = 500.0


def law_forward_saturated(
    impl: Implementation, problem: Problem, model: ErrorModel | None = None
) -> None:
    """Forward equivalence on ``saturated_problem``: gates and candidates saturate
    (pre-activations of tens to hundreds), where a naive ``exp(a) / (1 + exp(a))`` overflows to
    NaN and clamping or low-precision ``1 - z`` show. Outputs must be finite and match."""
    model = model or default_model(impl)
    law_forward_equivalence(impl, saturated_problem(problem, model.arithmetic), model)


SATURATION_PREACTIVATION = {"float64": 1000.0}
"""The gate pre-activation ``saturated_problem`` makes sure of, per storage format (100 for the
others): past ``exp``'s overflow (88.7 in float32 and bfloat16, 11.1 in float16, 709.8 in
float64)."""


def saturated_problem(problem: Problem, arithmetic: Arithmetic | None = None) -> Problem:
    """The problem ``law_forward_saturated`` compares: the input scaled by 60, clipped to +-500;
    then, if no first-layer reset- or update-gate pre-activation surely reaches ``+A`` (``A`` =
    100, 1000 in float64: ``SATURATION_PREACTIVATION``), scaled further, and negated if that
    needs less, until one does. "Surely": ``s (W_i x)_j - |b_i,j| - |b_h,j| -
    sum_k |W_h,jk| max(1, |h0|) >= A``, since ``|h_t| <= max(1, |h0|)``. An all-zero input stays
    zero."""
    x = np.clip(np.asarray(problem.x) * SATURATION_SCALE, -SATURATION_CLIP, SATURATION_CLIP)
    storage = "float32" if arithmetic is None else arithmetic.storage
    x = x * _saturating_factor(problem, x, SATURATION_PREACTIVATION.get(storage, 100.0))
    return dataclasses.replace(problem, x=x)


def _saturating_factor(problem: Problem, x: np.ndarray, target: float) -> float:
    h_max = state_bound(problem.h0)
    best = (np.inf, 1.0)  # (|factor| needed, sign)
    for c in problem.params.cells[0]:
        for w, u, b1, b2 in ((c.W_ir, c.W_hr, c.b_ir, c.b_hr), (c.W_iz, c.W_hz, c.b_iz, c.b_hz)):
            a = (x @ np.asarray(w).T).reshape(-1, w.shape[0])  # (steps * batch, H)
            margin = np.abs(b1) + np.abs(b2) + recurrent_reach(u, h_max)
            if a.size and float(np.max(a - margin)) >= target:
                return 1.0  # already there
            mag = np.abs(a)
            with np.errstate(divide="ignore"):
                need = np.where(mag > 0, (target + margin) / mag, np.inf)
            if need.size and float(np.min(need)) < best[0]:
                j = np.unravel_index(int(np.argmin(need)), need.shape)
                best = (float(need[j]), 1.0 if a[j] > 0 else -1.0)
    if not np.isfinite(best[0]):
        return 1.0  # a zero input: nothing to scale
    return best[1] * max(best[0], 1.0)


def cotangents(problem: Problem, on: LossOn) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Deterministic standard-normal cotangents ``(d_output, d_h_n)`` for ``problem``.

    Seeded from the problem's shapes and input bytes, so a law is a pure function of the problem.
    """
    shape = problem_shape(problem)
    rng = np.random.default_rng(zlib.crc32(np.ascontiguousarray(problem.x).tobytes()))
    d_out = rng.standard_normal(shape.output_shape)
    d_hn = rng.standard_normal(shape.state_shape)
    return (None if on == "h_n" else d_out), (None if on == "output" else d_hn)


def law_gradient_equivalence(
    impl: Implementation, problem: Problem, model: ErrorModel | None = None, on: LossOn = "both"
) -> None:
    """For ``L = sum(d_out * output) + sum(d_hn * h_n)``: ``|dL/dq - dL/dq_ref|_inf <= tol_q``.

    ``q`` ranges over the input, the initial state (when given) and every parameter (the biases
    only when the stack has them). ``on`` picks the loss: outputs only, ``h_n`` only, or both.
    """
    model = model or default_model(impl)
    require_in_range(problem, model.arithmetic)
    d_out, d_hn = cotangents(problem, on)
    ref, tol = model.backward(problem, impl.variant, d_out, d_hn)
    require_gradients_in_range(ref, model.arithmetic, problem)
    got = impl.gradients(problem, d_out, d_hn)
    law = f"gradient equivalence (loss on {on})"
    formula = "max|dL/dq - dL/dq_ref| <= tol_q for q in x, h0, every parameter"
    require_gradients_conditioned(tol, problem)
    pairs: list[tuple[str, np.ndarray, np.ndarray]] = [("dx", ref.dx, got.dx)]
    if problem.h0 is not None:
        pairs.append(("dh0", ref.dh0, got.dh0))
    got_params = dict(got.dparams.named())
    for name, value in ref.dparams.named():
        if not problem.bias and name.split(".")[-1].startswith("b_"):
            continue
        pairs.append((name, value, got_params[name]))
    for name, exp, g in pairs:
        if np.shape(g) != np.shape(exp):
            raise LawViolation(
                law, formula, f"{name} has shape {np.shape(g)}, expected {np.shape(exp)}",
                {"quantity": name}, problem.describe(),
            )  # fmt: skip
        v = compare(name, exp, g, tol.gradients[name])
        if not v.ok:
            raise verdict_violation(law, formula, v, problem.describe(), f" [{tol.arithmetic}]")


def law_gradient_output(
    impl: Implementation, problem: Problem, model: ErrorModel | None = None
) -> None:
    """Gradient equivalence with the loss on the outputs only: ``L = sum(d_out * output)``."""
    law_gradient_equivalence(impl, problem, model, on="output")


def law_gradient_h_n(
    impl: Implementation, problem: Problem, model: ErrorModel | None = None
) -> None:
    """Gradient equivalence with the loss on the final state only: ``L = sum(d_hn * h_n)``."""
    law_gradient_equivalence(impl, problem, model, on="h_n")


def law_gradient_output_and_h_n(
    impl: Implementation, problem: Problem, model: ErrorModel | None = None
) -> None:
    """Gradient equivalence with ``L = sum(d_out * output) + sum(d_hn * h_n)``."""
    law_gradient_equivalence(impl, problem, model, on="both")


def law_device_agreement(
    a: Implementation,
    b: Implementation,
    problem: Problem,
    model_a: ErrorModel | None = None,
    model_b: ErrorModel | None = None,
) -> None:
    """Two implementations of one GRU agree: ``|a - b|_inf <= tol_a + tol_b`` (output and h_n).

    Each tolerance is the error model's for that implementation's arithmetic (e.g. float32 on the
    CPU and TF32 on CUDA), so the law holds whenever both are within their own tolerance of the
    reference.
    """
    model_a = model_a or default_model(a)
    model_b = model_b or default_model(b)
    require_in_range(problem, model_a.arithmetic)
    require_in_range(problem, model_b.arithmetic)
    _, ta = model_a.forward(problem, a.variant)
    _, tb = model_b.forward(problem, b.variant)
    require_conditioned(ta, problem, _ROUNDING_ALONE)
    require_conditioned(tb, problem, _ROUNDING_ALONE)
    oa: Outputs = a.forward(problem)
    ob: Outputs = b.forward(problem)
    formula = f"max|{a.device} - {b.device}| <= tol_{a.device} + tol_{b.device}"
    for name, x, y, t in (
        ("output", oa.output, ob.output, agreement_tolerance(ta.output, tb.output)),
        ("h_n", oa.h_n, ob.h_n, agreement_tolerance(ta.h_n, tb.h_n)),
    ):
        v = compare(name, x, y, t)
        if not v.ok:
            raise verdict_violation(
                f"{a.device} vs {b.device} agreement", formula, v, problem.describe(),
                f" [{ta.arithmetic} vs {tb.arithmetic}]; expected = {a.name}, got = {b.name}",
            )  # fmt: skip
