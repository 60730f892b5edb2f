"""Numerical derivatives for checking analytic gradients, and the reference losses they check.

For a scalar function ``f: R^n -> R`` at ``x`` along a direction ``u`` (the directional derivative
``f'(x; u) = grad f(x) . u``):

- central difference ``D(h) = (f(x + h u) - f(x - h u)) / (2 h)``: error about
  ``h^2 |f'''| / 6 + e_f |f| / h``, where ``e_f`` is the relative evaluation error of ``f`` itself
  (it grows with the sequence length, it is not machine epsilon); the best step is about
  ``e_f^(1/3)``;
- Richardson extrapolation ``(4 D(h/2) - D(h)) / 3``: removes the ``h^2`` term, leaving
  ``O(h^4) + O(e_f / h)``, so a large step (1e-2) gives about 1e-12 relative error in float64;
- complex step ``Im f(x + i h u) / h`` with ``h = 1e-30``: no subtraction, so no cancellation; error
  ``O(h^2)`` plus rounding, about 1e-16. It needs ``f`` analytic along the path (tanh, sigmoid,
  polynomials are); ``abs``, ``max``, ``clamp`` and branches on the value break it.

Measured errors: docs/gru-math.md section 5. ``reference_loss`` turns the numpy
GRU or RNN reference into ``L(theta) = sum(d_output * output) + sum(d_h_n * h_n)`` as a function of
a flat vector (the input, the initial state, or all parameters in ``StackParams.flat`` order); the
reference computes in complex128 when given complex arrays, so all three methods apply to it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from gruverify.core.params import StackParams, Variant
from gruverify.reference import numpy_reference as ref

__all__ = [
    "FlatLoss",
    "GradientCheck",
    "ScalarFn",
    "central_difference",
    "complex_step",
    "complex_step_jacobian",
    "gradient_check",
    "reference_loss",
    "relative_error",
    "richardson_difference",
]

ScalarFn = Callable[[np.ndarray], complex]
"""A scalar function of a flat vector; complex in, complex out for the complex step."""

COMPLEX_STEP = 1e-30


def _direction(x: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    xa = np.asarray(x, dtype=np.float64)
    ua = np.asarray(u, dtype=np.float64)
    if xa.shape != ua.shape:
        raise ValueError(f"direction has shape {ua.shape}, the point has shape {xa.shape}")
    return xa, ua


def central_difference(f: ScalarFn, x: np.ndarray, u: np.ndarray, h: float = 1e-5) -> float:
    """``(f(x + h u) - f(x - h u)) / (2 h)``; error ``~ h^2 |f'''| / 6 + e_f |f| / h``."""
    xa, ua = _direction(x, u)
    return float(np.real(f(xa + h * ua)) - np.real(f(xa - h * ua))) / (2.0 * h)


def richardson_difference(f: ScalarFn, x: np.ndarray, u: np.ndarray, h: float = 1e-2) -> float:
    """``(4 D(h/2) - D(h)) / 3`` with ``D`` the central difference; the ``h^2`` error term cancels.

    What remains is ``O(h^4)`` truncation plus ``O(e_f / h)`` rounding, so the step can be large.
    """
    return (4.0 * central_difference(f, x, u, h / 2.0) - central_difference(f, x, u, h)) / 3.0


def complex_step(f: ScalarFn, x: np.ndarray, u: np.ndarray, h: float = COMPLEX_STEP) -> float:
    """``Im f(x + i h u) / h``: exact to rounding for ``f`` analytic along ``x + i t u``.

    Breaks silently on non-analytic operations (abs, max, clamp, comparisons on the value).
    """
    xa, ua = _direction(x, u)
    return float(np.imag(f(xa + 1j * h * ua))) / h


def complex_step_jacobian(
    F: Callable[[np.ndarray], np.ndarray], x: np.ndarray, h: float = COMPLEX_STEP
) -> np.ndarray:
    """Full Jacobian ``J[i, j] = dF_i / dx_j = Im F(x + i h e_j)_i / h`` of ``F: R^n -> R^m``.

    One evaluation per coordinate of the flat ``x``; the output is raveled, so ``J`` is
    ``(F(x).size, x.size)``. Meant for small cases.
    """
    xa = np.asarray(x, dtype=np.float64).ravel()
    cols = []
    for j in range(xa.size):
        xc = xa.astype(np.complex128)
        xc[j] += 1j * h
        cols.append(np.imag(np.asarray(F(xc.reshape(np.shape(x))))).ravel() / h)
    return np.stack(cols, axis=1)


def relative_error(a: Any, b: Any, tiny: float = 1e-300) -> float:
    """Norm-wise relative error ``||a - b|| / max(||b||, tiny)`` (2-norms of the flat arrays)."""
    aa = np.asarray(a, dtype=np.float64).ravel()
    ba = np.asarray(b, dtype=np.float64).ravel()
    if aa.shape != ba.shape:
        raise ValueError(f"cannot compare shapes {aa.shape} and {ba.shape}")
    return float(np.linalg.norm(aa - ba) / max(float(np.linalg.norm(ba)), tiny))


@dataclasses.dataclass(frozen=True)
class GradientCheck:
    """Directional derivatives ``U g`` of an analytic gradient ``g`` against two numerical ones.

    ``complex_step_error`` and ``richardson_error`` are ``relative_error(analytic, numerical)``
    over the vector of all directions.
    """

    analytic: np.ndarray
    complex_step: np.ndarray
    richardson: np.ndarray
    complex_step_error: float
    richardson_error: float

    @property
    def worst(self) -> float:
        return max(self.complex_step_error, self.richardson_error)


def gradient_check(
    f: ScalarFn,
    x: np.ndarray,
    gradient: np.ndarray,
    directions: np.ndarray,
    *,
    richardson_h: float = 1e-2,
) -> GradientCheck:
    """Compare ``directions @ gradient`` with complex-step and Richardson directional derivatives.

    ``directions`` is ``(k, n)``, one direction per row, for a flat ``x`` and ``gradient`` (size n).
    Each direction costs one complex evaluation and four real ones.
    """
    xa = np.asarray(x, dtype=np.float64).ravel()
    g = np.asarray(gradient, dtype=np.float64).ravel()
    U = np.atleast_2d(np.asarray(directions, dtype=np.float64))
    if U.shape[1] != xa.size or g.size != xa.size:
        raise ValueError(
            f"point has {xa.size} entries, gradient {g.size}, directions {U.shape[1]} columns"
        )
    analytic = U @ g
    cs = np.array([complex_step(f, xa, u) for u in U])
    ri = np.array([richardson_difference(f, xa, u, richardson_h) for u in U])
    return GradientCheck(
        analytic, cs, ri, relative_error(analytic, cs), relative_error(analytic, ri)
    )


Wrt = Literal["x", "h0", "params"]


@dataclasses.dataclass(frozen=True)
class FlatLoss:
    """``L(theta) = sum(d_output * output) + sum(d_h_n * h_n)`` of a reference network.

    ``fn`` takes the flat vector ``theta`` (real or complex) for the argument named by ``wrt``;
    ``point`` is its value at the configuration the loss was built from; ``gradient`` flattens the
    matching part of an analytic ``StackGradients`` in the same order.
    """

    fn: ScalarFn
    point: np.ndarray
    wrt: Wrt

    def __call__(self, theta: np.ndarray) -> complex:
        return self.fn(theta)

    def gradient(self, grads: ref.StackGradients) -> np.ndarray:
        if self.wrt == "x":
            return np.asarray(grads.dx).ravel()
        if self.wrt == "h0":
            return np.asarray(grads.dh0).ravel()
        return grads.dparams.flat()


def reference_loss(
    kind: Literal["gru", "rnn"],
    params: StackParams[Any],
    x: np.ndarray,
    h0: np.ndarray | None,
    d_output: np.ndarray | None,
    d_h_n: np.ndarray | None,
    *,
    wrt: Wrt,
    variant: Variant = "reset_after",
    batch_first: bool = False,
    lengths: Any = None,
) -> FlatLoss:
    """The reference loss as a function of the flat input, initial state, or parameters.

    ``d_output`` / ``d_h_n`` None means that term is left out. ``wrt="h0"`` with ``h0=None`` varies
    around zeros (the state ``None`` stands for). The loss is the bilinear ``sum(d * y)`` (no
    conjugation), so it stays analytic for the complex step.
    """
    if kind not in ("gru", "rnn"):
        raise ValueError(f"unknown network kind {kind!r}; expected 'gru' or 'rnn'")
    if wrt not in ("x", "h0", "params"):
        raise ValueError(f"wrt must be 'x', 'h0' or 'params', got {wrt!r}")
    x0 = np.asarray(x, dtype=np.float64)
    base = ref.gru_forward if kind == "gru" else ref.rnn_forward
    kwargs: dict[str, Any] = {"batch_first": batch_first, "lengths": lengths}
    if kind == "gru":
        kwargs["variant"] = variant
    state0 = base(params, x0, h0, **kwargs)
    h00 = np.zeros(np.shape(state0.h_n)) if h0 is None else np.asarray(h0, dtype=np.float64)

    def loss(p: StackParams[Any], xv: np.ndarray, hv: np.ndarray | None) -> complex:
        res = base(p, xv, hv, **kwargs)
        total: Any = 0.0
        if d_output is not None:
            total = total + np.sum(np.asarray(d_output) * res.output)
        if d_h_n is not None:
            total = total + np.sum(np.asarray(d_h_n) * res.h_n)
        return complex(total) if np.iscomplexobj(total) else float(total)

    if wrt == "x":
        return FlatLoss(lambda t: loss(params, t.reshape(x0.shape), h0), x0.ravel().copy(), wrt)
    if wrt == "h0":
        return FlatLoss(lambda t: loss(params, x0, t.reshape(h00.shape)), h00.ravel().copy(), wrt)
    return FlatLoss(lambda t: loss(params.unflat(t), x0, h0), params.flat(), wrt)
