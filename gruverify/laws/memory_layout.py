"""The memory layouts law: a GRU's answer depends on its inputs' values, not on how they lie in memory.

For a problem ``p`` and the same values presented as views of differently arranged buffers
(``gruverify.core.memory``), ``f(view) = f(p)`` and ``grad f(view) = grad f(p)`` for the output,
``h_n`` and the gradients of ``L = sum(d_out * output) + sum(d_hn * h_n)`` w.r.t. ``x``, ``h0``
and every parameter. Three presentations (``presentations``):

1. ``x`` a transposed view (stored with its first two axes swapped: ``x.transpose(0, 1)`` of
   batch-first data), ``h0`` stored with its axes reversed (Fortran order: not contiguous);
2. ``x`` and ``h0`` contiguous slices that start past their buffer's start (a storage offset);
3. ``x`` the first columns of a wider buffer (every row followed by spare entries, with an
   offset), ``h0`` expanded over the batch (stride 0; the problem's ``h0`` is replaced by its
   first row repeated, so that the values agree; an unbatched ``h0`` is padded like ``x``).

The spare entries of every buffer are NaN: a kernel that reads past a view (ignoring the strides or
the offset) gets NaN or other entries' values. Bit for bit is what a kernel gives when the layout
only changes which copy it reads; a kernel whose arithmetic follows the strides (a matmul of a
strided operand blocked differently, a gradient accumulated in another order) rounds differently,
so a difference within the error model's ``2 tol`` (``agreement_tolerance`` of two runs) passes
too, and beyond it is a violation. Measured on the CPU in float32 (15 presentations of five
configurations, docs/checker.md): torch.nn.GRU bit for bit in 10 forward and 9 gradient runs,
the others within 0.07 (forward) and 0.08 (gradients) of ``2 tol``; the zoo's explicit-ops
``ZooGRU`` in 3, the others within 0.07 and 0.22 of ``2 tol``. A raw read is off by the values
themselves (tens of thousands of tolerances, or NaN).

The law needs a target that presents the problem's arrays in their memory layout
(``strided_inputs``, ``memory_layout_skip``): torch modules (``targets.torch_module``) and the
numpy reference do; a target that copies every array into a fresh one of its framework (JAX,
TensorFlow, ONNX Runtime, ...) would compare a call with itself, and is skipped with that reason.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from gruverify.core.memory import expanded, offset, padded, reversed_axes, transposed
from gruverify.core.problem import Gradients, Implementation, Problem
from gruverify.error_model import (
    ErrorModel,
    Tolerance,
    agreement_tolerance,
    compare,
    default_model,
    require_gradients_conditioned,
)
from gruverify.laws.base import LawViolation, verdict_violation
from gruverify.laws.equivalence import cotangents

__all__ = ["LAW", "law_memory_layouts", "memory_layout_skip", "presentations"]

LAW = "memory layouts"
FORMULA = "f(view of a rearranged buffer) == f(contiguous), outputs and gradients (or within 2 tol)"


def memory_layout_skip(impl: Implementation) -> str | None:
    """Why the law cannot judge ``impl`` (a skip), or None: it presents the problem's arrays in
    their memory layout (``strided_inputs`` True)."""
    if getattr(impl, "strided_inputs", False) is True:
        return None
    return (
        f"{impl.name} copies the problem's arrays into fresh contiguous ones of its framework "
        "(no strides or storage offset reach it): the law would compare a call with itself"
    )


def presentations(problem: Problem) -> list[tuple[str, Problem, Problem]]:
    """``(what, baseline, strided)``: the three presentations of the module docstring, each with
    the contiguous problem of the same values it is compared with."""
    p, h0 = problem, problem.h0
    out = [
        ("x a transposed view, h0 with its axes reversed",
         p, dataclasses.replace(p, x=transposed(p.x), h0=None if h0 is None else reversed_axes(h0))),
        ("x and h0 slices with a storage offset",
         p, dataclasses.replace(p, x=offset(p.x), h0=None if h0 is None else offset(h0))),
    ]  # fmt: skip
    if h0 is not None and p.batched and np.shape(h0)[1] > 1:
        row = np.asarray(h0)[:, :1]
        base = dataclasses.replace(p, h0=np.repeat(row, np.shape(h0)[1], axis=1))
        strided = dataclasses.replace(p, x=padded(p.x), h0=expanded(row, 1, np.shape(h0)[1]))
        out.append(("x rows of a wider buffer, h0 expanded over the batch", base, strided))
    else:
        out.append(("x and h0 rows of a wider buffer", p,
                    dataclasses.replace(p, x=padded(p.x), h0=None if h0 is None else padded(h0))))  # fmt: skip
    return out


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.shape(a) == np.shape(b) and np.array_equal(a, b, equal_nan=False))


def _check(
    what: str, quantity: str, base: np.ndarray, got: np.ndarray, tolerance: float, case: str
) -> None:
    if np.shape(got) != np.shape(base):
        raise LawViolation(
            LAW, FORMULA, f"{quantity} has shape {np.shape(got)} with {what}, "
            f"{np.shape(base)} contiguous", {"layout": what, "quantity": quantity}, case,
        )  # fmt: skip
    v = compare(quantity, base, got, tolerance)
    if not v.ok:
        raise verdict_violation(
            LAW, FORMULA, v, case, f" with {what} (expected: the contiguous call)", layout=what
        )


def _forward(
    impl: Implementation,
    model: ErrorModel,
    what: str,
    base: Problem,
    strided: Problem,
    seen: dict[Any, Any],
) -> None:
    """Outputs on ``strided`` equal those on ``base`` (the contiguous call made once per
    ``base``: ``seen``, keyed by the problem's id)."""
    if ("forward", id(base)) not in seen:
        seen["forward", id(base)] = impl.forward(base)
    a, b = seen["forward", id(base)], impl.forward(strided)
    if _same(a.output, b.output) and _same(a.h_n, b.h_n):
        return
    tol = model.judged_forward(base, impl.variant)[1]
    for name, x, y, t in (("output", a.output, b.output, tol.output),
                          ("h_n", a.h_n, b.h_n, tol.h_n)):  # fmt: skip
        _check(what, name, x, y, agreement_tolerance(t, t), base.describe())


def _parts(g: Gradients, problem: Problem) -> dict[str, np.ndarray]:
    parts = {"dx": g.dx, **({} if problem.h0 is None else {"dh0": g.dh0})}
    return {**parts, **dict(g.dparams.named())}


def _gradients(
    impl: Implementation,
    model: ErrorModel,
    what: str,
    base: Problem,
    strided: Problem,
    seen: dict[Any, Any],
) -> None:
    """Gradients on ``strided`` equal those on ``base``; the contiguous call once per ``base``,
    the error model's tolerance (its backward passes) only when a presentation is not bit for
    bit, once per ``base`` (``seen``, keyed by the problem's id)."""
    d_out, d_hn = cotangents(base, "both")
    if ("gradients", id(base)) not in seen:
        seen["gradients", id(base)] = _parts(impl.gradients(base, d_out, d_hn), base)
    a = seen["gradients", id(base)]
    b = _parts(impl.gradients(strided, d_out, d_hn), base)
    if all(_same(a[k], b.get(k, np.empty(0))) for k in a):
        return
    if ("tolerance", id(base)) not in seen:
        seen["tolerance", id(base)] = model.backward(base, impl.variant, d_out, d_hn)[1]
    tol: Tolerance = seen["tolerance", id(base)]
    require_gradients_conditioned(tol, base)
    for k in a:
        t = tol.gradients[k]  # the model bounds every gradient part (dx, dh0, each parameter)
        _check(what, k, a[k], b[k], agreement_tolerance(t, t), base.describe())


def law_memory_layouts(
    impl: Implementation, problem: Problem, model: ErrorModel | None = None
) -> None:
    """``f`` and its gradients on each of ``presentations(problem)`` equal the contiguous call's,
    bit for bit or within ``2 tol`` (module docstring). Gradients only where the target has
    them (``gradients`` supported)."""
    model = model or default_model(impl)
    grads = impl.capabilities.supports("gradients")
    seen: dict[Any, Any] = {}  # the contiguous calls and tolerances, per baseline problem
    cases = presentations(problem)  # (kept alive: ``seen`` is keyed by the problems' ids)
    for what, base, strided in cases:
        _forward(impl, model, what, base, strided, seen)
        if grads:
            _gradients(impl, model, what, base, strided, seen)
