"""The error model: how far a correct implementation may be from the float64 reference.

Tolerances are derived, not tuned. Four ingredients:

1. **The arithmetic's unit roundoff u.** float64 2^-53, float32 2^-24, TF32 2^-11 (10 stored mantissa
   bits: cuDNN's GRU runs float32 matmuls in TF32 when ``torch.backends.cudnn.allow_tf32`` is set,
   the default; plain matmuls when ``torch.backends.cuda.matmul.allow_tf32`` is), float16 2^-11,
   bfloat16 2^-8; cuDNN's own float32 GRU with TF32 off 2^-18 (measured, ``CUDNN_FLOAT32``). See
   ``arithmetic_for``.
2. **Storage rounding is not error.** The reference runs on the input and weights rounded to the
   implementation's dtype (``interface.rounded``), so what remains is the arithmetic alone.
3. **Conditioning, measured on the problem itself.** Backward error analysis of a dot product of
   length k gives ``fl(w . v) = (w + dw) . v`` with ``|dw| <= gamma_k |w|``; with rounding errors
   that behave randomly, ``|dw_j| ~ u sqrt(k) |w_j|`` (Higham & Mary 2019). The model draws such
   perturbations of every weight, bias, input and initial state (relative size ``u sqrt(k)`` with k
   the dot-product length of the layer, ``I_k + H + 2``), runs the float64 reference on the perturbed
   problem, and takes the largest deviation over a few draws as the sensitivity ``s`` of each output
   to rounding at that u. The propagation through time, through layers, through saturated or
   expanding gates, is therefore the problem's own, not a guessed factor of T.
4. **Elementwise rounding, step by step.** In the same perturbed runs every step's ``r``, ``z``,
   ``1 - z`` and ``n`` get an absolute ``2 u xi`` and the new state a relative ``u xi``
   (``xi ~ U(-1, 1)``, ``u`` of the storage format; ``ErrorModel._rounding_step``). This carries
   the rounding of the state update along a carried state (``z -> 1``: errors add up over T
   without decay) and, in the backward pass, the rounding of activation derivatives: an
   implementation that computes ``y (1 - y)`` or ``1 - n^2`` from a rounded ``y`` near 1 keeps
   only an absolute ``u`` of a derivative that is much smaller than ``u`` (float64 torch autograd
   through ``sigmoid(-a)`` with ``a = -30`` is off by 0.1% there).

The tolerance is ``safety * s + floor * u * max(1, |reference|_inf)`` with ``safety = 3`` and
``floor = 4``: ``safety`` covers the difference between a random draw and the implementation's own
rounding sequence, ``floor`` the final rounding of outputs to the storage dtype.

Calibration (``scripts/calibrate_error_model.py 40 0``: 40 drawn problems of every parameter and
input kind, T up to 130, up to 3 layers, both directions, the torch reference in each arithmetic
on the CPU, TF32 emulated): the largest observed error / tolerance was 0.36 (median 0.07) forward
and 0.28 (median 0.13) for gradients in float32; 0.09 / 0.33 in TF32; 0.27 / 0.31 in float16;
0.07 / 0.10 in bfloat16 -- no false alarm, a margin of 2.8 or more. A 1e-4 change of torch's
``weight_hh`` (all three gate blocks) on problems where it is observable (ordinary inputs,
unsaturated weights, T > 1) gave error / tolerance of 5.8 to 17 (median) in float32; 1e-8 in float64
gave 3e5 or more. Without ingredient 4 the same run had a forward false alarm at 1.5 (a carried
state, float32) and gradient false alarms up to 23 (saturated tanh, float32). Details and more
figures: docs/error-model.md.

A problem whose tolerance approaches the size of the outputs (``Tolerance.conditioned`` is False:
tolerance above 5% of ``max(1, |output|)``) is chaotic at that precision: no comparison can tell
a bug from rounding there, and checks report it as inconclusive rather than passed.
Gradients use the same construction with the analytic backward pass, compared norm-wise per
quantity (dx, dh0, each named parameter).

Validated both ways (tests/test_error_model.py): no failure on correct float32, TF32-emulated,
float16 and bfloat16 computations (forward; gradients except bfloat16, whose gradient tolerance is
5-15% of the gradient scale and mostly inconclusive); a relative 1e-4 perturbation of one weight
matrix (``weight_hh`` or ``weight_ih``) is flagged in float32, 1e-8 in float64. Measured figures of
real implementations: ../shared/notes/measurements.md.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from gruverify.core.params import GRUCellParams, StackParams, Variant
from gruverify.core.problem import Gradients, Outputs, Problem, rounded
from gruverify.reference import numpy_reference as nr
from gruverify.reference.numpy_reference import gru_forward

__all__ = [
    "ARITHMETICS",
    "CUDNN_FLOAT32",
    "Arithmetic",
    "ErrorModel",
    "Tolerance",
    "Verdict",
    "arithmetic_for",
    "compare",
]


@dataclasses.dataclass(frozen=True)
class Arithmetic:
    """The arithmetic an implementation computes in: a storage dtype and an effective unit roundoff."""

    name: str
    storage: str
    unit_roundoff: float

    def __str__(self) -> str:
        return f"{self.name} (u = {self.unit_roundoff:.3g})"


ARITHMETICS: dict[str, Arithmetic] = {
    "float64": Arithmetic("float64", "float64", 2.0**-53),
    "float32": Arithmetic("float32", "float32", 2.0**-24),
    "tf32": Arithmetic("tf32", "float32", 2.0**-11),
    "float16": Arithmetic("float16", "float16", 2.0**-11),
    "bfloat16": Arithmetic("bfloat16", "bfloat16", 2.0**-8),
}


CUDNN_FLOAT32 = Arithmetic("cudnn-float32", "float32", 2.0**-18)
"""cuDNN's fused float32 GRU with TF32 off: float32 storage, effective unit roundoff 2^-18.

Its kernels are not float32-accurate. Measured on an H100 (torch 2.11, cuDNN 9.19, TF32 off):
max abs output errors of 3.8e-7 to 5.1e-6 against the float64 reference on four shapes up to
T = 1000, H = 1024 (../shared/notes/measurements.md), and over 150 drawn checker cases errors up to
15 times (forward) and 27 times (gradients) the float32 tolerance (u = 2^-24), while cuDNN's
packed-sequence path stayed within 0.23 times it. So its effective u is about 27 * 2^-24;
2^-18 = 64 * 2^-24 leaves a factor of 2.4 and is still 128 times tighter than TF32's 2^-11.
Not an entry of ``ARITHMETICS`` (which is keyed by storage format and TF32): ask
``arithmetic_for(dtype, device, backend="cudnn")``."""

BACKENDS = ("cudnn",)
"""Backends with an arithmetic of their own (``arithmetic_for(..., backend=)``)."""


def arithmetic_for(dtype: str, device: str = "cpu", backend: str | None = None) -> Arithmetic:
    """The arithmetic torch uses for a GRU in ``dtype`` on ``device``, reading the TF32 flags.

    float32 on CUDA is TF32 when cuDNN's ``allow_tf32`` (the default: True) or
    ``torch.backends.cuda.matmul.allow_tf32`` is set; otherwise plain float32, except for
    ``backend="cudnn"`` (cuDNN's fused GRU, e.g. ``torch.nn.GRU`` on CUDA), which is then
    ``CUDNN_FLOAT32`` (u = 2^-18, measured). ``backend`` None: ordinary torch ops.
    """
    if dtype not in ("float64", "float32", "float16", "bfloat16"):
        raise ValueError(f"unknown dtype {dtype!r}; expected float64, float32, float16 or bfloat16")
    if backend is not None and backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected None or one of {BACKENDS}")
    if dtype == "float32" and str(device).startswith("cuda"):
        import torch

        if torch.backends.cudnn.allow_tf32 or torch.backends.cuda.matmul.allow_tf32:
            return ARITHMETICS["tf32"]
        if backend == "cudnn":
            return CUDNN_FLOAT32
    return ARITHMETICS[dtype]


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The result of one comparison: where, the worst error, the tolerance, and whether it held."""

    quantity: str
    error: float
    tolerance: float
    scale: float
    index: tuple[int, ...]
    expected: float
    got: float

    @property
    def ok(self) -> bool:
        return bool(np.isfinite(self.error) and self.error <= self.tolerance)

    def __str__(self) -> str:
        where = "" if not self.index else f" at index {self.index}"
        return (
            f"{self.quantity}: max abs error {self.error:.3g} {'<=' if self.ok else '>'} "
            f"tolerance {self.tolerance:.3g}{where} (expected {self.expected:.9g}, got {self.got:.9g})"
        )


def compare(quantity: str, expected: np.ndarray, got: np.ndarray, tolerance: float) -> Verdict:
    """Max-abs comparison with the location and values of the worst element (NaN counts as worst)."""
    e = np.asarray(expected, dtype=np.float64)
    g = np.asarray(got, dtype=np.float64)
    if e.shape != g.shape:
        raise ValueError(f"{quantity}: shape {g.shape}, expected {e.shape}")
    if e.size == 0:
        return Verdict(quantity, 0.0, tolerance, 0.0, (), 0.0, 0.0)
    diff = np.abs(e - g)
    diff = np.where(np.isnan(diff), np.inf, diff)
    flat = int(np.argmax(diff))
    idx = tuple(int(i) for i in np.unravel_index(flat, e.shape))
    scale = float(np.max(np.abs(e)))
    return Verdict(
        quantity, float(diff.flat[flat]), tolerance, scale, idx, float(e[idx]), float(g[idx])
    )


@dataclasses.dataclass(frozen=True)
class Tolerance:
    """Tolerances for one problem: forward (output, h_n) and, if asked, gradients per quantity."""

    output: float
    h_n: float
    gradients: dict[str, float] = dataclasses.field(default_factory=dict)
    arithmetic: Arithmetic = ARITHMETICS["float64"]
    output_scale: float = 1.0

    @property
    def conditioned(self) -> bool:
        """False when the forward tolerance exceeds 5% of ``max(1, |output|_inf)``."""
        return max(self.output, self.h_n) <= 0.05 * max(1.0, self.output_scale)


@dataclasses.dataclass(frozen=True)
class ErrorModel:
    """Derives tolerances for a problem in a given arithmetic (see the module docstring).

    ``safety`` and ``floor`` are the two constants of the model; ``draws`` the number of perturbed
    reference runs.
    """

    arithmetic: Arithmetic
    safety: float = 3.0
    floor: float = 4.0
    draws: int = 3
    seed: int = 0

    def reference_problem(self, problem: Problem) -> Problem:
        """The problem as the implementation sees it (rounded to its storage dtype)."""
        return rounded(problem, self.arithmetic.storage)

    def perturbed(self, problem: Problem, rng: np.random.Generator) -> Problem:
        """``problem`` with every weight and bias perturbed by a relative ``u sqrt(k)`` (``k`` the
        layer's dot-product length ``I_k + H + 2``) and the input and initial state by a relative
        ``u``, each entry times ``xi ~ U(-1, 1)`` drawn from ``rng`` (ingredient 3 of the module
        docstring). ``gruverify.conformance.diagnosis`` uses it to give each bug hypothesis its tolerance."""
        u = self.arithmetic.unit_roundoff
        H = problem.params.hidden_size

        def jitter(a: np.ndarray, rel: float) -> np.ndarray:
            return a * (1.0 + rel * rng.uniform(-1.0, 1.0, size=np.shape(a)))  # type: ignore[no-any-return]

        rows = []
        for row in problem.params.cells:
            new_row = []
            for cell in row:
                rel = u * math.sqrt(cell.input_size + H + 2)
                new_row.append(GRUCellParams(**{k: jitter(v, rel) for k, v in cell.items()}))
            rows.append(tuple(new_row))
        params: StackParams[Any] = StackParams(tuple(rows), bias=problem.params.bias)
        return dataclasses.replace(
            problem,
            params=params,
            x=jitter(problem.x, u),
            h0=None if problem.h0 is None else jitter(problem.h0, u),
        )

    _perturbed = perturbed  # the former private name

    def _rounding_step(self, rng: np.random.Generator) -> Any:
        """The reference's GRU step with every elementwise result rounded at random: ``r``, ``z``,
        ``1 - z`` and ``n`` plus ``2 u xi`` (absolute: they lie in [-1, 1], and an implementation
        may form ``1 - y^2`` or ``y (1 - y)`` from a rounded ``y``: one rounding of ``y``, one of
        the expression), the new state times ``(1 + u xi)``,
        ``xi ~ U(-1, 1)``, ``u`` of the storage format (TF32 rounds matmul operands only).

        Rounding errors of the state update accumulate along the carried state (``z -> 1``), and
        the backward pass takes its activation derivatives (``1 - n^2``, ``z (1 - z)``) from the
        rounded activations, which is all that is left of them when a unit saturates (torch's
        sigmoid backward computes ``y (1 - y)``: absolute error ``u`` once ``y`` rounds near 1).
        """
        u = ARITHMETICS[self.arithmetic.storage].unit_roundoff  # elementwise: the storage format

        def step(cell: Any, x: np.ndarray, h: np.ndarray, variant: Any) -> Any:
            _, c = nr.gru_step(cell, x, h, variant)

            def xi(a: np.ndarray) -> np.ndarray:
                return rng.uniform(-1.0, 1.0, size=np.shape(a))

            c = dict(c)
            for k in ("r", "z", "one_minus_z", "n"):
                # absolute, 2 u: the activation's own rounding and that of its derivative
                # expression (1 - y^2, y (1 - y)), which an implementation forms from it
                c[k] = c[k] + 2.0 * u * xi(c[k])
            hn = c["one_minus_z"] * c["n"] + c["z"] * h
            c["h"] = hn * (1.0 + u * xi(hn))
            return c["h"], c

        return step

    def _floor(self, ref: np.ndarray) -> float:
        scale = float(np.max(np.abs(ref))) if np.size(ref) else 0.0
        return self.floor * self.arithmetic.unit_roundoff * max(1.0, scale)

    def forward(self, problem: Problem, variant: Variant) -> tuple[Outputs, Tolerance]:
        """The reference outputs on the rounded problem and their tolerances."""
        prob = self.reference_problem(problem)
        ref = gru_forward(prob.params, prob.x, prob.h0, variant=variant,
                          batch_first=prob.batch_first, lengths=prob.lengths)  # fmt: skip
        rng = np.random.default_rng(self.seed)
        s_out = s_hn = 0.0
        for _ in range(self.draws):
            pp = self.perturbed(prob, rng)
            r = nr.stack_forward(self._rounding_step(rng), pp.params, pp.x, pp.h0, variant,
                                 pp.batch_first, pp.lengths)  # fmt: skip
            s_out = max(s_out, float(np.max(np.abs(r.output - ref.output))))
            s_hn = max(s_hn, float(np.max(np.abs(r.h_n - ref.h_n))))
        tol = Tolerance(
            output=self.safety * s_out + self._floor(ref.output),
            h_n=self.safety * s_hn + self._floor(ref.h_n),
            arithmetic=self.arithmetic,
            output_scale=float(np.max(np.abs(ref.output))) if ref.output.size else 0.0,
        )
        return Outputs(ref.output, ref.h_n), tol

    def backward(
        self,
        problem: Problem,
        variant: Variant,
        d_output: np.ndarray | None,
        d_h_n: np.ndarray | None,
    ) -> tuple[Gradients, Tolerance]:
        """Reference gradients on the rounded problem and a norm-wise tolerance per quantity.

        Quantities: ``dx``, ``dh0`` and ``l{layer}[_reverse].{name}`` for every parameter.
        """
        prob = self.reference_problem(problem)
        dout = None if d_output is None else rounded_cotangent(d_output, self.arithmetic)
        dhn = None if d_h_n is None else rounded_cotangent(d_h_n, self.arithmetic)

        def backward(p: Problem, rng: np.random.Generator | None = None) -> nr.StackGradients:
            step = nr.gru_step if rng is None else self._rounding_step(rng)
            return nr.stack_backward(step, nr.gru_step_backward, p.params, p.x, p.h0, dout, dhn,
                                     variant, p.batch_first, p.lengths)  # fmt: skip

        def grads(g: nr.StackGradients) -> dict[str, np.ndarray]:
            return {"dx": g.dx, "dh0": g.dh0, **dict(g.dparams.named())}

        exact = backward(prob)
        ref = grads(exact)
        rng = np.random.default_rng(self.seed)
        sens = {k: 0.0 for k in ref}
        for _ in range(self.draws):
            pg = grads(backward(self.perturbed(prob, rng), rng))
            for k in ref:
                sens[k] = max(sens[k], float(np.max(np.abs(pg[k] - ref[k]))))
        # gradients are compared norm-wise against the largest gradient of any quantity of the
        # same kind, since tiny entries carry absolute, not relative, rounding error
        top = max((float(np.max(np.abs(v))) for v in ref.values() if v.size), default=1.0)
        floor = self.floor * self.arithmetic.unit_roundoff * max(1.0, top)
        tols = {k: self.safety * sens[k] + floor for k in ref}
        out_tol = Tolerance(0.0, 0.0, tols, self.arithmetic)
        return Gradients(exact.dx, exact.dh0, exact.dparams), out_tol


def rounded_cotangent(a: np.ndarray, arithmetic: Arithmetic) -> np.ndarray:
    """A cotangent as the implementation receives it (rounded to its storage dtype)."""
    from gruverify.core.problem import round_to_dtype

    return round_to_dtype(a, arithmetic.storage)
