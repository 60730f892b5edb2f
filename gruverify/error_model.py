"""The error model: how far a correct implementation may be from the float64 reference.

Tolerances are derived, not tuned. Four ingredients, and a fifth and sixth when declared:

1. **The arithmetic's unit roundoff u.** float64 2^-53, float32 2^-24, TF32 2^-11 (10 stored mantissa
   bits: cuDNN's GRU runs float32 matmuls in TF32 when ``torch.backends.cudnn.allow_tf32`` is set,
   the default; plain matmuls when ``torch.backends.cuda.matmul.allow_tf32`` is), float16 2^-11,
   bfloat16 2^-8; cuDNN's own float32 GRU with TF32 off 2^-18 (measured, ``CUDNN_FLOAT32``). See
   ``gruverify.core.arithmetic.arithmetic_for``, and ``arithmetic_of`` for an implementation.
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

   **3b. A declared accumulator.** ``u sqrt(k)`` is the error of a dot product accumulated in the
   format itself. TF32 tensor cores and torch's float16 and bfloat16 kernels multiply exactly and
   accumulate in float32 (``Arithmetic.accumulator``; ``arithmetic_for`` says where torch does):
   their products carry (a) the rounding of the operands to ``u``, where the arithmetic rounds
   below their storage (TF32: weight and state each to 10 bits, ``o = 2 u``; float16 and bfloat16
   operands are stored in the format, and a product of two is exact in float32: ``o = 0``), (b) the
   accumulation, ``u_acc sqrt(k)`` by the same rule at the accumulator's roundoff, and (c) the
   roundings to storage from the product's result to the activation (the result, ``+ b``,
   ``+ W_h h``, ``r *``: at most ``R = RESULT_ROUNDINGS = 4``, each a relative ``u_s`` of a partial
   sum, which the backward error of a sum puts on its terms as ``(1 + theta)``, ``|theta| <= R u_s``).
   So ``perturbed_accumulated`` draws

       w_ij (1 + (o + u_acc sqrt(k)) xi_ij + R u_s eta_i)
       b_i  (1 + (o + u_acc sqrt(k)) xi_i  + R u_s eta'_i)

   with one ``eta`` per row (a row's result rounds as one number: one factor for all its terms).
   (c) is not left to ingredient 4, whose absolute ``2 u`` on an activation covers a
   pre-activation's relative rounding only up to ``|a| tanh'(a) u <= 0.45 u``, not a sum that cancels
   (``a_in = 100``, ``r a_hn = -100``: an error of ``100 u`` at ``a = 0``). At hidden 1024 this is
   a tenth of the undeclared tolerance in float16 (docs/error-model.md); with nothing declared
   ``perturbed`` draws exactly as before.
4. **Elementwise rounding, step by step.** In the same perturbed runs every step's ``r``, ``z``,
   ``1 - z`` and ``n`` get an absolute ``2 u xi`` and the new state a relative ``u xi``
   (``xi ~ U(-1, 1)``, ``u`` of the storage format; ``ErrorModel._rounding_step``). This carries
   the rounding of the state update along a carried state (``z -> 1``: errors add up over T
   without decay) and, in the backward pass, the rounding of activation derivatives: an
   implementation that computes ``y (1 - y)`` or ``1 - n^2`` from a rounded ``y`` near 1 keeps
   only an absolute ``u`` of a derivative that is much smaller than ``u`` (float64 torch autograd
   through ``sigmoid(-a)`` with ``a = -30`` is off by 0.1% there).
5. **Declared activation error.** An implementation with approximate activations declares how
   far its sigmoid and tanh values may be off (``Arithmetic.activation_error`` ``e``, from its
   ``activation_error`` attribute, a class's ``gruverify_activation_error`` or
   ``gruverify check --activation-error``). Six more reference runs each shift one of ``r``
   (with the candidate ``n`` computed from it), ``z`` (``1 - z`` opposite), ``n`` and their
   derivatives ``dr/da``, ``dz/da``, ``dn/da`` by ``e`` at every step and unit (coherent: the worst case for a carried state); the sum of the six
   deviations' magnitudes, times ``safety``, is added to the tolerance
   (``ErrorModel.activation_sensitivity``: the first-order worst case over the shifts' signs).
   The declaration covers an implementation's derivatives too (its autograd through its
   approximation, or ``1 - y^2`` from its ``y``). So the tolerance covers that error and not
   more: a planted error several times ``e`` still fails (tests/test_activation_error.py).

6. **Declared quantization.** A target that quantizes its weights to integers and its
   activations per call declares how (``Arithmetic.quantization``, from its ``quantization``
   attribute: ``core.quantization``). Where it hands over its effective (dequantized) weights
   (``effective_params``, ``ErrorModel.effective``) the reference runs on them, after
   ``laws.equivalence.law_effective_weights`` has checked each is the drawn weight rounded to the
   declared grid; else each weight's rounding is drawn (``quantized_weights``). The activations'
   quantization is drawn in the perturbed runs at the steps the problem's own ranges imply
   (``quantized_operands``: each operand entry of a product moved by half its step, random sign;
   ``layer_input_spans``), with ``QUANTIZED_DRAWS`` = 10 runs; a saturated gate that the bound
   ``s / 2 ||W_i||_1`` could flip makes the problem inconclusive (``quantization_flip``), and the
   conditioning limit is ``QUANTIZED_CONDITIONING`` = 25% (docs/error-model.md, "Declared
   quantization").

The tolerance is ``safety * s + floor * u * max(1, |reference|_inf)`` with ``safety = 3`` and
``floor = 4``: ``safety`` covers the difference between a random draw and the implementation's own
rounding sequence, ``floor`` the final rounding of outputs to the storage dtype.

Calibration (``scripts/calibrate_error_model.py 40 0``: 40 drawn problems of every parameter and
input kind, T up to 130, up to 3 layers, both directions, the torch reference in each arithmetic
on the CPU, TF32 emulated): the largest observed error / tolerance was 0.22 (median 0.05) forward
and 0.28 (median 0.08) for gradients in float32; 0.09 / 0.33 in TF32; 0.27 / 0.31 in float16;
0.07 / 0.10 in bfloat16 -- no false alarm, a margin of 3.0 or more. A 1e-4 change of torch's
``weight_hh`` (all three gate blocks) on problems where it is observable (ordinary inputs,
unsaturated weights, T > 1) gave error / tolerance of 5.8 to 17 (median) in float32; 1e-8 in float64
gave 3e5 or more. Without ingredient 4 the same run had a forward false alarm at 1.5 (a carried
state, float32) and gradient false alarms up to 23 (saturated tanh, float32). With the declared
float32 accumulator (3b) the same run gives 0.11 / 0.33 in TF32, 0.16 / 0.41 in float16, 0.24 / 0.18
for torch.nn.GRU in float16 (smallest margin 2.4, float16 gradients), and at hidden 1024, 512
steps, batch 64 TF32 and float16 stay within 0.1 of tolerances of 0.7% and 1.3% of the outputs,
where undeclared they were inconclusive. Details and more figures: docs/error-model.md.

A problem whose tolerance approaches the size of the outputs (``Tolerance.conditioned`` is False:
tolerance above ``CONDITIONING`` = 5% of ``max(1, |output|)``) is chaotic at that precision: no
comparison can tell a bug from rounding there, and checks report it as inconclusive rather than
passed (``require_conditioned``; for gradients ``require_gradients_conditioned``; a problem near
the storage format's range, ``require_in_range``). Each rule is written here once.
Gradients use the same construction with the analytic backward pass, compared norm-wise per
quantity (dx, dh0, each named parameter).

The laws that check an exact identity or bound rather than compare with the reference allow a
rounding slack, and a law that compares two runs allows the sum of their tolerances; those rules
are written here too, each with its reason (the section at the end: ``agreement_tolerance``,
``box_slack``, ``closed_gate_slack``, ``carry_over_slack``, ``known_time_scale_tolerance``,
``carried_state_tolerance``, ``complex_step_tolerance``, ``richardson_tolerance``,
``full_jacobian_tolerance``, ``jacobian_product_slack``, ``study_product_slack``).

Validated both ways (tests/test_error_model.py): no failure on correct float32, TF32-emulated,
float16 and bfloat16 computations (forward; gradients except bfloat16, whose gradient tolerance is
5-15% of the gradient scale and mostly inconclusive); a relative 1e-4 perturbation of one weight
matrix (``weight_hh`` or ``weight_ih``) is flagged in float32, 1e-8 in float64. Measured figures of
real implementations: docs/measurements.md.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from gruverify.core.arithmetic import (
    ARITHMETICS,
    CUDNN_FLOAT32,
    LARGEST_FINITE,
    Arithmetic,
    arithmetic_for,
    round_to_dtype,
    worst_entry,
)
from gruverify.core.bounds import (
    BOX_SLACK,
    input_bound,
    layer_input_bound,
    preactivation_bound,
    state_bound,
)
from gruverify.core.dtypes import DTYPES
from gruverify.core.params import GRUCellParams, StackParams, Variant
from gruverify.core.problem import Gradients, Implementation, Outputs, Problem, rounded
from gruverify.core.quantization import (
    Quantization,
    activation_steps,
    quantization_value,
    weight_error_bound,
)
from gruverify.core.shapes import to_time_major
from gruverify.reference import numpy_reference as nr

# ARITHMETICS, CUDNN_FLOAT32, Arithmetic and arithmetic_for live in gruverify.core.arithmetic; they
# are named here too because adapters, docs and tests have always imported them from here.
__all__ = [
    "ACTIVATION_QUANTITIES",
    "ARITHMETICS",
    "CONDITIONING",
    "QUANTIZED_CONDITIONING",
    "QUANTIZED_DRAWS",
    "CUDNN_FLOAT32",
    "RANGE_MARGIN",
    "RESULT_ROUNDINGS",
    "Arithmetic",
    "ErrorModel",
    "ForwardRun",
    "Inconclusive",
    "Tolerance",
    "Verdict",
    "accumulator_value",
    "activation_error_value",
    "agreement_tolerance",
    "arithmetic_for",
    "arithmetic_of",
    "box_slack",
    "carried_state_tolerance",
    "carry_over_slack",
    "closed_gate_slack",
    "compare",
    "complex_step_tolerance",
    "declared_accumulator",
    "declared_activation_error",
    "declared_quantization",
    "effective_weight_excess",
    "weight_grids",
    "layer_input_spans",
    "default_model",
    "full_jacobian_tolerance",
    "jacobian_product_slack",
    "known_time_scale_tolerance",
    "require_conditioned",
    "require_gradients_conditioned",
    "require_gradients_in_range",
    "require_in_range",
    "richardson_tolerance",
    "study_product_slack",
]


ForwardRun = Callable[[Problem, "np.random.Generator | None"], Outputs]
"""A forward computation ``run(problem, rng)`` for ``ErrorModel.forward_of``: ``rng`` None for the
unperturbed run, else the draw's generator (to round at random on the way, or to ignore)."""


def arithmetic_of(impl: Implementation) -> Arithmetic:
    """The arithmetic ``impl`` computes in: its own ``arithmetic`` attribute when it declares one
    (e.g. cuDNN's float32 GRU, torch's targets with torch's accumulator), else
    ``arithmetic_for(dtype, device)`` (TF32 from torch's flags) without an accumulator (kernels
    not known to accumulate in float32 are judged as accumulating in their own format), with the
    accumulator (``declared_accumulator``) and the activation error
    (``declared_activation_error``) it declares when it declares them (its attributes, which
    the command line's ``--activation-error`` sets, win over what its arithmetic says). Every
    tolerance for an implementation starts here, so a declared arithmetic is never ignored."""
    declared = getattr(impl, "arithmetic", None)
    if isinstance(declared, Arithmetic):
        arithmetic = declared
    else:
        arithmetic = arithmetic_for(impl.dtype, impl.device)
        if arithmetic.accumulator is not None:
            arithmetic = dataclasses.replace(arithmetic, accumulator=None)
    accumulator = declared_accumulator(impl)
    if accumulator is not None and accumulator != arithmetic.accumulator:
        arithmetic = dataclasses.replace(arithmetic, accumulator=accumulator)
    quantization = declared_quantization(impl)
    if quantization is not None and quantization != arithmetic.quantization:
        arithmetic = dataclasses.replace(arithmetic, quantization=quantization)
    if getattr(impl, "activation_error", None) is not None:  # the attribute has the last word
        error = declared_activation_error(impl)  # (--activation-error 0 overrides a class's)
        if error != arithmetic.activation_error:
            arithmetic = dataclasses.replace(arithmetic, activation_error=error)
    return arithmetic


def declared_activation_error(impl: object) -> float:
    """The activation error ``impl`` declares: its ``activation_error`` attribute (e.g. set from a
    class's ``gruverify_activation_error``), checked by ``activation_error_value``; 0.0 when none."""
    return activation_error_value(getattr(impl, "activation_error", None))


def declared_quantization(impl: object) -> Quantization | None:
    """The quantization ``impl`` declares: its ``quantization`` attribute (a ``Quantization``, a
    dict of its fields or a short form such as ``"int8-dynamic"``: ``quantization_value``);
    None when none."""
    return quantization_value(getattr(impl, "quantization", None))


def declared_accumulator(impl: object) -> str | None:
    """The accumulator ``impl`` declares: its ``accumulator`` attribute (e.g. set from a class's
    ``gruverify_accumulator``), checked by ``accumulator_value``; None when none."""
    return accumulator_value(getattr(impl, "accumulator", None))


def accumulator_value(value: object) -> str | None:
    """A declared accumulator: None, or the name of a storage format (``DTYPES``: "float32", ...);
    ``ValueError`` for anything else."""
    if value is None:
        return None
    if not isinstance(value, str) or value not in DTYPES:
        raise ValueError(f"accumulator must be None or one of {DTYPES}, got {value!r}")
    return value


def activation_error_value(value: object) -> float:
    """A declared activation error as a float: None is 0.0; a number in [0, 0.1) is itself;
    ``ValueError`` for anything else (activations off by 10% would be no GRU any more)."""
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"activation_error must be a number, got {value!r}")
    if not 0.0 <= value < 0.1:
        raise ValueError(f"activation_error must be in [0, 0.1), got {value!r}")
    return float(value)


QUANTIZED_DRAWS = 10
"""``ErrorModel.draws`` under a declared activation quantization. With 3 draws, 2 of 129 judged
problems of torch-dynamic-int8 went above their tolerance (1.03 and 1.19: saturating weights,
hidden 33, where the outputs move by 1e-5 and the random signs of a draw rarely line up as the
quantization's do); 10 draws covered both (0.95, 0.35). docs/error-model.md."""


def default_model(impl: Implementation) -> ErrorModel:
    """The error model for ``impl``'s arithmetic (see ``arithmetic_of``), with the effective
    weights it hands over (its ``effective_params`` method, used when it declares a
    quantization: ``ErrorModel.effective``) and ``QUANTIZED_DRAWS`` perturbed runs under a
    declared activation quantization."""
    arithmetic = arithmetic_of(impl)
    q = arithmetic.quantization
    effective = getattr(impl, "effective_params", None) if q is not None else None
    draws = QUANTIZED_DRAWS if q is not None and q.activations is not None else 3
    return ErrorModel(arithmetic, device=str(impl.device), effective=effective, draws=draws)


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
    idx, error = worst_entry(np.abs(e - g))
    scale = float(np.max(np.abs(e)))
    return Verdict(quantity, error, tolerance, scale, idx, float(e[idx]), float(g[idx]))


CONDITIONING = 0.05
"""A tolerance above this fraction of its outputs' scale (``max(1, |output|_inf)``, or of the
gradients') makes a problem chaotic at that precision: rounding alone could explain any
difference, so no comparison can tell a bug from it and the case is inconclusive."""

QUANTIZED_CONDITIONING = 0.25
"""``CONDITIONING`` for an arithmetic with a declared activation quantization. Its own error is
large: torch.ao's 7-bit activations put a correct GRU 1 to 2% from the float reference on ordinary
problems of 6 inputs and 5 units, and the derived tolerance is 6 to 8% of the outputs, so at 5% no
quantized GRU of useful size could be judged. Up to a quarter of the outputs a tolerance still
tells a GRU from a wrong one (a wrong gate order or a missing bias moves outputs by tens of
percent) and flags a weight error of a few quantization steps (docs/benchmarks.md); beyond it the
problem is inconclusive. Float arithmetics keep 5%."""


class Inconclusive(Exception):
    """The case cannot judge the law at this precision (e.g. chaotic dynamics: tolerance ~ output)."""


@dataclasses.dataclass(frozen=True)
class Tolerance:
    """Tolerances for one problem: forward (output, h_n) and, if asked, gradients per quantity."""

    output: float
    h_n: float
    gradients: dict[str, float] = dataclasses.field(default_factory=dict)
    arithmetic: Arithmetic = ARITHMETICS["float64"]
    output_scale: float = 1.0
    gradient_scale: float = 0.0
    """``max |g|_inf`` over ``dx`` and every parameter gradient (``ErrorModel.backward``)."""

    @property
    def limit(self) -> float:
        """The fraction of the outputs' scale the forward tolerance may reach: ``CONDITIONING``,
        or ``QUANTIZED_CONDITIONING`` under a declared activation quantization."""
        q = self.arithmetic.quantization
        return QUANTIZED_CONDITIONING if q is not None and q.activations else CONDITIONING

    @property
    def conditioned(self) -> bool:
        """The forward conditioning rule: ``max(tol_output, tol_h_n) <= limit *
        max(1, |output|_inf)`` (``limit``: 5%, 25% under a declared activation quantization);
        False means chaotic at this precision."""
        return max(self.output, self.h_n) <= self.limit * max(1.0, self.output_scale)

    @property
    def gradients_conditioned(self) -> bool:
        """The gradient conditioning rule: not ``max_q tol_q > CONDITIONING * max(1, g)`` with
        ``g = gradient_scale``, the largest gradient entry of ``dx`` and the parameters."""
        worst = max(self.gradients.values(), default=0.0)
        return not worst > CONDITIONING * max(1.0, self.gradient_scale)


def require_conditioned(tol: Tolerance, problem: Problem, why: str = "") -> None:
    """``Inconclusive`` unless ``tol.conditioned`` (forward: ``max(tol_output, tol_h_n) <=
    5% max(1, |output|_inf)``); the message gives both figures, the arithmetic, ``why`` and
    the problem."""
    if not tol.conditioned:
        raise Inconclusive(
            f"forward tolerance {max(tol.output, tol.h_n):.3g} is above {tol.limit:.0%} of "
            f"the output scale {tol.output_scale:.3g} in {tol.arithmetic}{why} "
            f"({problem.describe()})"
        )


def require_gradients_conditioned(tol: Tolerance, problem: Problem) -> None:
    """``Inconclusive`` unless ``tol.gradients_conditioned`` (``max_q tol_q <= 5% max(1, g)``,
    ``g`` the largest gradient entry of ``dx`` and the parameters)."""
    if not tol.gradients_conditioned:
        raise Inconclusive(
            f"gradient tolerance {max(tol.gradients.values(), default=0.0):.3g} is above "
            f"{CONDITIONING:.0%} of the gradient scale {tol.gradient_scale:.3g} in "
            f"{tol.arithmetic} ({problem.describe()})"
        )


RANGE_MARGIN = 4.0
"""``require_in_range``'s factor below the storage format's largest finite number."""


def require_gradients_in_range(ref: Gradients, arithmetic: Arithmetic, problem: Problem) -> None:
    """``Inconclusive`` when the reference gradients (``dx``, ``dh0``, every parameter's) come
    within a factor 4 (``RANGE_MARGIN``) of the storage dtype's largest number: exploding
    gradients (a long sequence through large weights reaches 1e170 at 64 steps, hidden 256) then
    overflow to inf or NaN in that format, which is the format's doing, not the target's."""
    largest = LARGEST_FINITE[arithmetic.storage]
    arrays = [ref.dx, ref.dh0, *(v for _, v in ref.dparams.named())]
    top = max((float(np.max(np.abs(a))) for a in arrays if np.size(a)), default=0.0)
    if not np.isfinite(top) or top > largest / RANGE_MARGIN:
        raise Inconclusive(
            f"reference gradients up to {top:.3g} exceed the range of {arithmetic.storage} "
            f"(max {largest:.3g}): overflow is the format's, not the target's "
            f"({problem.describe()})"
        )


def require_in_range(problem: Problem, arithmetic: Arithmetic) -> None:
    """``Inconclusive`` when the problem's data or a bound on its gate pre-activations
    (``core.bounds.preactivation_bound``: ``sum_j |W_ij| |x_j|_max + sum_j |U_ij| max(1, |h0|_max)
    + |b_i|``) comes within a factor 4 (``RANGE_MARGIN``) of the storage dtype's largest number
    (``LARGEST_FINITE``): overflow there is the format's, not the target's."""
    largest = LARGEST_FINITE[arithmetic.storage]
    x_max, h_max = input_bound(problem.x), state_bound(problem.h0)
    bound = x_max
    for layer, row in enumerate(problem.params.cells):
        in_max = layer_input_bound(layer, x_max, h_max)
        for c in row:
            for wi, wh, b1, b2 in (
                (c.W_ir, c.W_hr, c.b_ir, c.b_hr),
                (c.W_iz, c.W_hz, c.b_iz, c.b_hz),
                (c.W_in, c.W_hn, c.b_in, c.b_hn),
            ):
                a = preactivation_bound(wi, wh, b1, b2, in_max, h_max)
                bound = max(bound, float(np.max(a)))
    if not np.isfinite(bound) or bound > largest / RANGE_MARGIN:
        raise Inconclusive(
            f"pre-activations up to {bound:.3g} come near the range of {arithmetic.storage} "
            f"(max {largest:.3g}): overflow is the format's, not the target's"
        )


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
    device: str = "cpu"
    """Where the target runs: on a CUDA device the float64 reference of ``forward`` runs there too
    for problems large enough to gain from it (``reference_device``)."""
    effective: Callable[[StackParams[Any]], StackParams[Any]] | None = None
    """For a declared quantization (``Arithmetic.quantization``): the target's effective
    (dequantized) weights of drawn parameters, ``effective(params)``. The reference then runs on
    them (the weight part of the quantization is exact) and only the activations' quantization is
    modelled; None: the weights' rounding to the declared grid is drawn like the rest."""

    def reference_problem(self, problem: Problem) -> Problem:
        """The problem as the implementation sees it (rounded to its storage dtype; with a
        declared quantization and ``effective``, on the target's effective weights)."""
        prob = rounded(problem, self.arithmetic.storage)
        if self.arithmetic.quantization is not None and self.effective is not None:
            prob = dataclasses.replace(prob, params=self.effective(problem.params))
        return prob

    def perturbed(self, problem: Problem, rng: np.random.Generator) -> Problem:
        """``problem`` with every weight and bias perturbed by a relative ``u sqrt(k)`` (``k`` the
        layer's dot-product length ``I_k + H + 2``) and the input and initial state by a relative
        ``u``, each entry times ``xi ~ U(-1, 1)`` drawn from ``rng`` (ingredient 3 of the module
        docstring). ``gruverify.conformance.diagnosis`` uses it to give each bug hypothesis its
        tolerance. An arithmetic that declares its accumulator is perturbed as its products
        round instead (``perturbed_accumulated``)."""
        if self.arithmetic.quantization is not None and self.effective is None:
            return self.quantized_weights(self._perturbed_rounding(problem, rng), rng)
        return self._perturbed_rounding(problem, rng)

    def quantized_weights(self, problem: Problem, rng: np.random.Generator) -> Problem:
        """Every weight matrix of ``problem`` moved by its rounding to the declared grid, drawn:
        ``w_ij + s_i xi_ij / 2`` (``s_i`` the row's ``weight_step`` under the declared
        quantization, ``xi ~ U(-1, 1)``; asymmetric grids ``s_i xi_ij``: ``weight_error_bound``).
        For a target that does not hand over its effective weights; biases stay float (the
        quantized kernels add them in float)."""
        q = self.arithmetic.quantization
        assert q is not None
        grids = weight_grids(problem.params, q)

        def moved(prefix: str, name: str, w: np.ndarray) -> np.ndarray:
            if prefix + name not in grids:
                return w
            return w + grids[prefix + name] * rng.uniform(-1.0, 1.0, size=np.shape(w))  # type: ignore[no-any-return]

        rows = [tuple(GRUCellParams(**{k: moved(f"l{i}{'_reverse' if d else ''}.", k, v)
                                       for k, v in c.items()}) for d, c in enumerate(row))
                for i, row in enumerate(problem.params.cells)]  # fmt: skip
        params: StackParams[Any] = StackParams(tuple(rows), bias=problem.params.bias)
        return dataclasses.replace(problem, params=params)

    def _perturbed_rounding(self, problem: Problem, rng: np.random.Generator) -> Problem:
        if self.arithmetic.accumulator is not None:
            return self.perturbed_accumulated(problem, rng)
        u = self.arithmetic.unit_roundoff
        H = problem.params.hidden_size
        # one draw for every entry, cut in the order the entries are perturbed: the same numbers
        # as one draw per array (a generator's uniform stream does not depend on the chunking)
        sizes = [np.size(v) for row in problem.params.cells for c in row for _, v in c.items()]
        sizes += [np.size(problem.x), 0 if problem.h0 is None else np.size(problem.h0)]
        xi = rng.uniform(-1.0, 1.0, size=sum(sizes))
        used = 0

        def jitter(a: np.ndarray, rel: float) -> np.ndarray:
            nonlocal used
            n = np.size(a)
            used += n
            return a * (1.0 + rel * xi[used - n : used].reshape(np.shape(a)))  # type: ignore[no-any-return]

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

    def perturbed_accumulated(self, problem: Problem, rng: np.random.Generator) -> Problem:
        """``perturbed`` for an arithmetic that declares its accumulator (ingredient 3b of the
        module docstring): every weight ``w_ij`` (row ``i``: output unit ``i`` of a gate block)
        and bias ``b_i`` of a layer becomes

            w_ij (1 + (o + u_acc sqrt(k)) xi_ij + R u_s eta_i)
            b_i  (1 + (o + u_acc sqrt(k)) xi_i  + R u_s eta'_i)

        with ``xi, eta, eta' ~ U(-1, 1)`` (``eta`` one per row: the same for every weight of the
        row), ``k = I_k + H + 2``, ``u_acc`` the accumulator's unit roundoff, ``u_s`` the storage
        format's, ``o = 2 u`` when the arithmetic rounds its operands to a coarser ``u`` than they
        are stored in (TF32: both factors of each product, weight and state, round to 10 bits),
        else 0 (float16, bfloat16: the operands are stored in that format, and their products are
        exact in float32), and ``R = RESULT_ROUNDINGS`` the roundings to storage between a
        product's result and its gate's activation. The input and initial state are perturbed by a
        relative ``u`` as in ``perturbed``."""
        a = self.arithmetic
        u, u_s = a.unit_roundoff, ARITHMETICS[a.storage].unit_roundoff
        u_acc = a.accumulator_roundoff
        assert u_acc is not None
        operands = 2.0 * u if u > u_s else 0.0
        result = RESULT_ROUNDINGS * u_s
        H = problem.params.hidden_size

        def jitter(v: np.ndarray, rel: float) -> np.ndarray:
            shape = np.shape(v)
            xi = rng.uniform(-1.0, 1.0, size=shape)
            # one rounding of the result per output unit: a weight matrix's rows share it
            eta = rng.uniform(-1.0, 1.0, size=shape[:1] + (1,) * (len(shape) - 1))
            return v * (1.0 + rel * xi + result * eta)  # type: ignore[no-any-return]

        rows = []
        for row in problem.params.cells:
            new_row = []
            for cell in row:
                rel = operands + u_acc * math.sqrt(cell.input_size + H + 2)
                new_row.append(GRUCellParams(**{k: jitter(v, rel) for k, v in cell.items()}))
            rows.append(tuple(new_row))
        params: StackParams[Any] = StackParams(tuple(rows), bias=problem.params.bias)

        def scaled(v: np.ndarray) -> np.ndarray:
            return v * (1.0 + u * rng.uniform(-1.0, 1.0, size=np.shape(v)))  # type: ignore[no-any-return]

        h0 = None if problem.h0 is None else scaled(problem.h0)
        return dataclasses.replace(problem, params=params, x=scaled(problem.x), h0=h0)

    def _rounding_step(self, rng: np.random.Generator, operands: Any = None) -> Any:
        """The reference's GRU step with every elementwise result rounded at random: ``r``, ``z``,
        ``1 - z`` and ``n`` plus ``2 u xi`` (absolute: they lie in [-1, 1], and an implementation
        may form ``1 - y^2`` or ``y (1 - y)`` from a rounded ``y``: one rounding of ``y``, one of
        the expression), the new state times ``(1 + u xi)``,
        ``xi ~ U(-1, 1)``, ``u`` of the storage format (TF32 rounds matmul operands only).

        Rounding errors of the state update accumulate along the carried state (``z -> 1``), and
        the backward pass takes its activation derivatives (``1 - n^2``, ``z (1 - z)``) from the
        rounded activations, which is all that is left of them when a unit saturates (torch's
        sigmoid backward computes ``y (1 - y)``: absolute error ``u`` once ``y`` rounds near 1).

        A saturated update gate also rounds the same way at every step: ``z`` rounds to 1 (or
        ``1 - z`` to a multiple of ``u``) while its pre-activation stays about the same, so an
        implementation that forms ``1 - z`` from ``z``, or updates as ``(h - n) z + n``, loses
        the same ``1 - z`` leak at every step and its state drifts by ``T (1 - z) |h - n|``, not
        by a random walk (and ``(h - n) z + n`` rounds ``(h - n) z`` by ``u z |h - n|`` with a sign
        that stays while ``h`` and ``n`` do). So each unit of each layer and direction gets, besides
        the random rounding, a drift ``d = xi u z`` (``xi ~ U(-1, 1)`` one per unit and draw, the
        same at every step and batch row; nothing where the gate is open, ``u`` where it carries)
        added to ``z`` and taken from ``1 - z`` (measured: torch.nn.GRU's CPU
        float32 kernel, 300 steps, three bidirectional layers, saturating biases, errors up to
        2.9 times the tolerance without it, 0.58 with it; docs/benchmarks.md). Its numbers come
        from a child generator, so the random rounding draws what it drew before.
        """
        u = ARITHMETICS[self.arithmetic.storage].unit_roundoff  # elementwise: the storage format
        drift: dict[int, np.ndarray] = {}  # per cell (layer and direction): (H,), drawn once
        # from a child generator: rng's own stream (the random rounding) stays as it was
        drift_rng = rng.spawn(1)[0]

        def step(cell: Any, x: np.ndarray, h: np.ndarray, variant: Any) -> Any:
            # the reference's step (nr.gru_step is gru_gates then gru_update), rounded in between;
            # a declared quantization's products see quantized operands (quantized_operands)
            gates_of = (cell, x, h) if operands is None else operands(cell, x, h)
            c = nr.gru_gates(gates_of[0], gates_of[1], gates_of[2], variant)
            # r, z, 1 - z, n and the new state are all (B, H): one draw for the five, the same
            # numbers as five draws in this order
            xi = rng.uniform(-1.0, 1.0, size=(5, *np.shape(c["r"])))
            for i, k in enumerate(("r", "z", "one_minus_z", "n")):
                # absolute, 2 u: the activation's own rounding and that of its derivative
                # expression (1 - y^2, y (1 - y)), which an implementation forms from it
                c[k] = c[k] + 2.0 * u * xi[i]
            if id(cell) not in drift:  # the coherent part: the same sign and size at every step
                drift[id(cell)] = drift_rng.uniform(-1.0, 1.0, size=(np.shape(c["z"])[-1],))
            d = drift[id(cell)] * u * np.clip(c["z"], 0.0, 1.0)
            c["z"], c["one_minus_z"] = c["z"] + d, c["one_minus_z"] - d
            hn = nr.gru_update(c, h)
            c["h_prev"] = h
            c["h"] = hn * (1.0 + u * xi[4])
            return c["h"], c

        return step

    def quantized_operands(
        self, problem: Problem, variant: Variant, rng: np.random.Generator
    ) -> Callable[[Any, np.ndarray, np.ndarray], tuple[Any, np.ndarray, np.ndarray]] | None:
        """The declared activation quantization in one perturbed run of ``problem``: a function
        ``(cell, x, h) -> (cell, x', h')`` giving the operands a step's products see, and None
        when no activation quantization is declared.

        Quantizing an operand ``v`` moves each entry by at most half its step ``s``; each entry of
        ``x`` and ``h`` is moved by that much, ``v + sigma s / 2`` with a random sign ``sigma``
        (per entry and draw: every entry as far as its rounding can take it), and the state update
        itself uses the unquantized ``h``. So row ``i`` of a product moves by ``s / 2
        sum_j sigma_j W_ij``, typically ``s / 2 ||W_i||_2`` (at most ``s / 2 ||W_i||_1``, which
        ``quantization_flip`` uses), and the run carries that through the gates and over time as
        it carries every other rounding (ingredient 3). The steps are the scales the run's own
        values imply (``core.quantization.activation_steps``): for the input product of a layer,
        its whole input sequence's span (``layer_input_spans``: one call over every step and
        sequence) or each row's; for the recurrent product, the state's span over the batch at
        that step or each row's; never below the declared ``min_step``."""
        q = self.arithmetic.quantization
        if q is None or q.activations is None:
            return None
        steps = _operand_steps(problem, variant, q)
        noise = rng.spawn(1)[0]  # a child stream: the rounding's own draws stay as they were

        def operands(cell: Any, x: np.ndarray, h: np.ndarray) -> tuple[Any, np.ndarray, np.ndarray]:
            sx, sh = steps(cell, x, h)
            ex = noise.choice((-0.5, 0.5), size=np.shape(x))
            eh = noise.choice((-0.5, 0.5), size=np.shape(h))
            return cell, x + sx * ex, h + sh * eh

        return operands

    def quantization_flip(self, problem: Problem, variant: Variant) -> str | None:
        """Where the declared activation quantization could flip a saturated gate: a gate
        pre-activation ``a`` of the reference run with ``FLIP_FLOOR <= |a| <= B``, ``B`` the bound
        of its products' quantization error (``s_x / 2 ||W_i*||_1 + s_h / 2 ||W_h*||_1``, the
        recurrent part times ``r`` for the reset-after candidate). Beyond ``FLIP_FLOOR`` the gate
        is flat, so the perturbed runs (which move ``a`` by a typical, not the largest, error) see
        almost nothing of a change that can move it by up to 2; None when nothing can flip (or no
        activation quantization is declared). ``judged_forward`` calls such a problem
        inconclusive."""
        q = self.arithmetic.quantization
        if q is None or q.activations is None:
            return None
        prob = self.reference_problem(problem)
        steps = _operand_steps(prob, variant, q)
        found: list[str] = []

        def step(cell: Any, x: np.ndarray, h: np.ndarray, v: Any) -> Any:
            c = nr.gru_gates(cell, x, h, v)
            sx, sh = steps(cell, x, h)
            for gate, wi, wh in (("a_r", "W_ir", "W_hr"), ("a_z", "W_iz", "W_hz"),
                                 ("a_n", "W_in", "W_hn")):  # fmt: skip
                rec = sh / 2.0 * np.sum(np.abs(getattr(cell, wh)), axis=1)
                bound = sx / 2.0 * np.sum(np.abs(getattr(cell, wi)), axis=1) + (
                    c["r"] * rec if gate == "a_n" and v == "reset_after" else rec)  # fmt: skip
                a = np.abs(c[gate])
                hit = (a >= FLIP_FLOOR) & (a <= bound)
                if not found and np.any(hit):
                    i = tuple(int(k) for k in np.argwhere(hit)[0])
                    found.append(f"{gate}{list(i)} = {float(c[gate][i]):.4g} within the "
                                 f"quantization bound {float(np.broadcast_to(bound, a.shape)[i]):.3g}")  # fmt: skip
            c["h_prev"], c["h"] = h, nr.gru_update(c, h)
            return c["h"], c

        nr.stack_forward(step, prob.params, prob.x, prob.h0, variant, prob.batch_first,
                         prob.lengths, traces=False)  # fmt: skip
        return found[0] if found else None

    def _shifted_step(self, which: str) -> Any:
        """The reference's GRU step with one activation quantity (``ACTIVATION_QUANTITIES``)
        shifted by the declared activation error ``+e`` at every step and unit: a value (``r``,
        ``z`` with ``1 - z`` opposite, ``n``) or a derivative (``dr_da``, ``dz_da``, ``dn_da``,
        which ``numpy_reference.gru_step_backward`` takes from the trace)."""
        e = self.arithmetic.activation_error

        def step(cell: Any, x: np.ndarray, h: np.ndarray, variant: Any) -> Any:
            c = nr.gru_gates(cell, x, h, variant)
            c["dr_da"], c["dz_da"] = c["r"] * (1.0 - c["r"]), c["z"] * c["one_minus_z"]
            c["dn_da"] = 1.0 - c["n"] * c["n"]
            if which == "r":  # the candidate is computed from the reset gate: it moves too
                _shift_candidate(c, cell, h, variant, e)
            c[which] = c[which] + e
            if which == "z":
                c["one_minus_z"] = c["one_minus_z"] - e
            c["h_prev"] = h
            c["h"] = nr.gru_update(c, h)
            return c["h"], c

        return step

    def activation_sensitivity(
        self, quantities: Callable[[Any], dict[str, np.ndarray]], ref: dict[str, np.ndarray]
    ) -> dict[str, float]:
        """Ingredient 5: how far each quantity of ``ref`` (what ``quantities(nr.gru_step)``
        gives) may move under the declared activation error ``e``, to first order and whatever
        the signs: ``max_i sum_k |q_k - ref|_i`` over the six quantities ``k`` of
        ``ACTIVATION_QUANTITIES``, ``q_k = quantities(step with k shifted by +e)``. Each
        shift is coherent (the same at every step and unit: the worst case for a carried state,
        whose errors then add up over T instead of averaging out), and the sum over ``k`` covers
        every combination of signs. Zeros when no activation error is declared."""
        if not self.arithmetic.activation_error:
            return {k: 0.0 for k in ref}
        total = {k: np.zeros(np.shape(v)) for k, v in ref.items()}
        for which in ACTIVATION_QUANTITIES:
            got = quantities(self._shifted_step(which))
            for k in ref:
                total[k] = total[k] + np.abs(np.asarray(got[k]) - ref[k])
        return {k: float(np.max(v, initial=0.0)) for k, v in total.items()}

    def _floor(self, ref: np.ndarray) -> float:
        scale = float(np.max(np.abs(ref))) if np.size(ref) else 0.0
        return self.floor * self.arithmetic.unit_roundoff * max(1.0, scale)

    def forward(self, problem: Problem, variant: Variant) -> tuple[Outputs, Tolerance]:
        """The reference outputs on the rounded problem and their tolerances (``forward_of`` for
        the float64 reference, rounding every step at random in the perturbed runs)."""

        key = _cache_key(self, problem, variant)
        if key is not None and key in _FORWARD_CACHE:
            _FORWARD_CACHE.move_to_end(key)
            ref, tol = _FORWARD_CACHE[key]
            return Outputs(ref.output.copy(), ref.h_n.copy()), tol

        ref, tol = self.forward_of(self.reference_run(variant, self.reference_device(problem)),
                                   problem)  # fmt: skip
        if self.arithmetic.activation_error:
            prob = self.reference_problem(problem)

            def outputs(step: Any) -> dict[str, np.ndarray]:
                r = nr.stack_forward(step, prob.params, prob.x, prob.h0, variant,
                                     prob.batch_first, prob.lengths, traces=False)  # fmt: skip
                return {"output": r.output, "h_n": r.h_n}

            act = self.activation_sensitivity(outputs, {"output": ref.output, "h_n": ref.h_n})
            tol = dataclasses.replace(
                tol, output=tol.output + self.safety * act["output"],
                h_n=tol.h_n + self.safety * act["h_n"],
            )  # fmt: skip
        if key is not None:
            _FORWARD_CACHE[key] = (Outputs(ref.output.copy(), ref.h_n.copy()), tol)
            while len(_FORWARD_CACHE) > FORWARD_CACHE_ENTRIES:
                _FORWARD_CACHE.popitem(last=False)
        return ref, tol

    def reference_device(self, problem: Problem) -> str | None:
        """Where ``forward`` runs the float64 reference: None (numpy on the CPU), or the target's
        CUDA device (torch float64) when the model's ``device`` is one, torch sees it, the problem's
        largest layer does at least ``DEVICE_REFERENCE_WORK`` multiply-adds per step
        (``B H (I + H)``: below that, launching kernels step by step is slower than numpy) and
        no activation error is declared (that perturbation is numpy's alone)."""
        if not self.device.startswith("cuda") or self.arithmetic.activation_error:
            return None
        if self.arithmetic.quantization is not None:
            return None
        batch = int(np.prod(np.shape(problem.x)[:-1])) // max(1, problem.steps)
        H = problem.params.hidden_size
        work = max(batch * H * (c.input_size + H) for row in problem.params.cells for c in row)
        if work < DEVICE_REFERENCE_WORK:
            return None
        import torch

        return self.device if torch.cuda.is_available() else None

    def reference_run(self, variant: Variant, device: str | None = None) -> ForwardRun:
        """The float64 reference as ``forward_of``'s ``run``: unperturbed with ``rng`` None, else
        rounding every step at random (``_rounding_step``). ``device`` None: numpy; a torch device
        (``"cuda"``, or ``"cpu"`` to test it): torch float64 there (``torch_reference`` with the
        same rounding, its random numbers from a torch generator seeded by ``rng``: the same
        distribution, other draws)."""
        if device is None:

            def run(pp: Problem, rng: np.random.Generator | None) -> Outputs:
                operands = None if rng is None else self.quantized_operands(pp, variant, rng)
                step = nr.gru_step if rng is None else self._rounding_step(rng, operands)
                r = nr.stack_forward(step, pp.params, pp.x, pp.h0, variant, pp.batch_first,
                                     pp.lengths, traces=False)  # fmt: skip
                return Outputs(r.output, r.h_n)

            return run
        return _torch_run(self.arithmetic, variant, device)

    def judged_forward(
        self, problem: Problem, variant: Variant, why: str = ""
    ) -> tuple[Outputs, Tolerance]:
        """``forward`` for a problem a law can judge: ``Inconclusive`` first when the problem
        comes near the storage format's range (``require_in_range``), then when it is chaotic
        at this precision (``require_conditioned``, its message ending with ``why``), then when a
        declared quantization can flip a saturated gate (``quantization_flip``)."""
        require_in_range(problem, self.arithmetic)
        ref, tol = self.forward(problem, variant)
        require_conditioned(tol, problem, why)
        flip = self.quantization_flip(problem, variant)
        if flip is not None:
            raise Inconclusive(
                f"the declared quantization ({self.arithmetic.quantization}) can flip a saturated "
                f"gate: {flip}{why} ({problem.describe()})"
            )
        return ref, tol

    def forward_of(self, run: ForwardRun, problem: Problem) -> tuple[Outputs, Tolerance]:
        """The outputs of ``run`` on the rounded problem and their tolerances (ingredient 3):

        ``tol_q = safety * s_q + floor * u * max(1, |ref_q|_inf)`` for ``q`` in output, h_n, with
        ``ref = run(rounded problem, None)`` and ``s_q = max |run(perturbed, rng)_q - ref_q|_inf``
        over ``draws`` perturbations (``perturbed``); ``run`` gets the draw's generator to round
        at random as it goes (``forward`` does, ingredient 4). ``forward`` is this for the
        reference, ``gruverify.conformance.diagnosis`` for each bug hypothesis.
        """
        prob = self.reference_problem(problem)
        ref = run(prob, None)
        rng = np.random.default_rng(self.seed)
        s_out = s_hn = 0.0
        for _ in range(self.draws):
            r = run(self.perturbed(prob, rng), rng)
            s_out = max(s_out, _deviation(r.output, ref.output))
            s_hn = max(s_hn, _deviation(r.h_n, ref.h_n))
        tol = Tolerance(
            output=self.safety * s_out + self._floor(ref.output),
            h_n=self.safety * s_hn + self._floor(ref.h_n),
            arithmetic=self.arithmetic,
            output_scale=float(np.max(np.abs(ref.output))) if ref.output.size else 0.0,
        )
        return ref, tol

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

        def backward(
            p: Problem, rng: np.random.Generator | None = None, step: Any = None
        ) -> nr.StackGradients:
            if step is None:
                step = nr.gru_step if rng is None else self._rounding_step(rng)
            return nr.stack_backward(step, nr.gru_step_backward, p.params, p.x, p.h0, dout, dhn,
                                     variant, p.batch_first, p.lengths)  # fmt: skip

        def grads(g: nr.StackGradients) -> dict[str, np.ndarray]:
            return {"dx": g.dx, "dh0": g.dh0, **dict(g.dparams.named())}

        exact = backward(prob)
        ref = grads(exact)
        result = Gradients(exact.dx, exact.dh0, exact.dparams)
        del exact  # its forward's traces: one traced pass in memory at a time, not two
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
        act = self.activation_sensitivity(lambda step: grads(backward(prob, step=step)), ref)
        tols = {k: self.safety * (sens[k] + act[k]) + floor for k in ref}
        scale = max(
            (float(np.max(np.abs(a))) for a in [result.dx, *dict(result.dparams.named()).values()]
             if a.size),
            default=0.0,
        )  # fmt: skip
        out_tol = Tolerance(0.0, 0.0, tols, self.arithmetic, gradient_scale=scale)
        return result, out_tol


RESULT_ROUNDINGS = 4
"""How many roundings to the storage format a matrix product's result (or a bias) may pass through
before its gate's activation, in an arithmetic that declares its accumulator
(``ErrorModel.perturbed_accumulated``): torch's explicit equations (``reference.torch_reference``)
round ``W_ir x`` by the product, ``+ b_ir``, ``+ W_hr h`` and ``+ b_hr`` (4), and ``W_hn h`` by the
product, ``+ b_hn``, ``r *`` and ``+`` (4); torch's fused ``linear`` adds the bias within the
product (2 to 3). Each rounding is a relative ``u_s`` of a partial sum, which the backward error
puts on its terms: a relative ``R u_s`` on each product's result and each bias covers them all."""

ACTIVATION_QUANTITIES = ("r", "z", "n", "dr_da", "dz_da", "dn_da")
"""What a declared activation error shifts (``ErrorModel.activation_sensitivity``): the values of
the gates and the candidate, and their derivatives."""

DEVICE_REFERENCE_WORK = 200_000
"""Multiply-adds per step (``B H (I + H)``, the largest layer) from which ``ErrorModel.forward``
runs the float64 reference on the target's CUDA device (``ErrorModel.reference_device``). Below
it a step's kernels are launch-bound and numpy on the CPU is faster. Not measured on a GPU yet:
an estimate (a step is about 20 kernel launches of some 10 us each, numpy does 2e5
multiply-adds in about 0.1 ms)."""


def _operand_steps(
    problem: Problem, variant: Variant, q: Quantization
) -> Callable[[Any, np.ndarray, np.ndarray], tuple[Any, Any]]:
    """``(cell, x, h) -> (s_x, s_h)``: the quantization steps of a step's two product operands
    under ``q`` (``ErrorModel.quantized_operands``), ``cell`` one of ``problem``'s."""
    rows = q.activation_granularity == "row"
    spans = layer_input_spans(problem, variant)
    layer_of = {id(c): k for k, row in enumerate(problem.params.cells) for c in row}

    def steps(cell: Any, x: np.ndarray, h: np.ndarray) -> tuple[Any, Any]:
        if rows:
            sx: Any = activation_steps(x, q, True)
        else:
            sx = max(spans[layer_of[id(cell)]] / q.activation_levels, q.min_step)
        return sx, activation_steps(h, q, rows)

    return steps


FLIP_FLOOR = 4.0
"""``ErrorModel.quantization_flip``: the pre-activation magnitude beyond which a gate is flat
(``sigmoid' < 0.018``, ``tanh' < 0.0013``), so that a perturbed run sees a flip of it only if its
draw happens to reach across zero."""


def layer_input_spans(problem: Problem, variant: Variant) -> list[float]:
    """``max(v, 0) - min(v, 0)`` of each layer's whole input ``v`` (every step and sequence,
    padding left out: the span a per-call activation scale covers), from the float64 reference's
    own run of ``problem``: layer 0's input is ``x``, layer ``k``'s the output of layer ``k - 1``
    (both directions)."""
    x = to_time_major(np.asarray(problem.x, dtype=np.float64), problem)
    if problem.lengths is not None and problem.batched:
        t = np.arange(x.shape[0])[:, None]
        x = np.where((t < np.asarray(problem.lengths)[None, :])[..., None], x, 0.0)
    spans = []
    seq, D = problem.x, problem.params.num_directions
    cells = problem.params.cells
    for k, row in enumerate(cells):
        v = x if k == 0 else np.asarray(seq)
        spans.append(float(max(np.max(v, initial=0.0), 0.0) - min(np.min(v, initial=0.0), 0.0)))
        if k + 1 < len(cells):
            h0 = None if problem.h0 is None else np.asarray(problem.h0)[k * D : (k + 1) * D]
            one: StackParams[Any] = StackParams((row,), bias=problem.params.bias)
            seq = nr.stack_forward(nr.gru_step, one, seq, h0, variant, problem.batch_first,
                                   problem.lengths, traces=False).output  # fmt: skip
    return spans


WEIGHT_BLOCKS = {"input": ("W_ir", "W_iz", "W_in"), "recurrent": ("W_hr", "W_hz", "W_hn")}
"""The weight matrices a quantized kernel stores as one tensor per layer and direction (torch's
``weight_ih`` ``(3H, I)`` and ``weight_hh`` ``(3H, H)``, ONNX's ``W`` and ``R``): a per-tensor
scale spans the three gates' blocks."""


def weight_grids(params: StackParams[Any], q: Quantization) -> dict[str, np.ndarray]:
    """How far each weight matrix's entries may move when rounded to ``q``'s grid
    (``core.quantization.weight_error_bound``, one bound per row), keyed as ``params.named()``;
    the grid of a per-tensor scale is that of the stacked block (``WEIGHT_BLOCKS``)."""
    out: dict[str, np.ndarray] = {}
    for layer, row in enumerate(params.cells):
        for d, cell in enumerate(row):
            prefix = f"l{layer}{'_reverse' if d == 1 else ''}."
            for names in WEIGHT_BLOCKS.values():
                stacked = np.concatenate([np.asarray(getattr(cell, n), np.float64) for n in names])
                bound = weight_error_bound(stacked, q)
                H = np.shape(getattr(cell, names[0]))[0]
                for i, n in enumerate(names):
                    out[prefix + n] = bound[i * H : (i + 1) * H]
    return out


def effective_weight_excess(
    params: StackParams[Any], effective: StackParams[Any], q: Quantization
) -> tuple[str, tuple[int, ...], float, float, float] | None:
    """The worst effective weight beyond its rounding to the declared grid, or None when every one
    is within it: ``|w_eff - w| <= weight_error_bound(w) + 4 u_32 |w|`` (``u_32 = 2^-24``: the
    dequantized value ``s q`` is a float32) for every weight matrix of every layer and direction,
    and biases equal to within ``4 u_32 |b|`` (the quantized kernels keep them float). Returns
    ``(name, index, w, w_eff, bound)``, ``name`` as ``l{layer}[_reverse].{W_..}``."""
    u32 = ARITHMETICS["float32"].unit_roundoff
    worst: tuple[str, tuple[int, ...], float, float, float] | None = None
    worst_ratio = 1.0
    grids = weight_grids(params, q)
    for (name, w), (_, e) in zip(params.named(), effective.named(), strict=True):
        w, e = np.asarray(w, dtype=np.float64), np.asarray(e, dtype=np.float64)
        grid = grids.get(name, 0.0)
        bound = grid + 4.0 * u32 * np.abs(w) + np.finfo(np.float64).tiny
        ratio = np.abs(e - w) / bound
        if ratio.size and not np.all(np.isfinite(ratio)):
            ratio = np.where(np.isfinite(ratio), ratio, np.inf)
        if ratio.size and float(np.max(ratio)) > worst_ratio:
            idx, _ = worst_entry(ratio)
            worst_ratio = float(ratio[idx])
            worst = (
                name,
                idx,
                float(w[idx]),
                float(e[idx]),
                float(np.broadcast_to(bound, w.shape)[idx]),
            )
    return worst


def _shift_candidate(c: dict[str, Any], cell: Any, h: np.ndarray, variant: str, e: float) -> None:
    """The candidate ``n`` (and ``dn/da``) of a step trace ``c`` recomputed for a reset gate
    shifted by ``e``: reset-after ``a_n = x W_in^T + b_in + r g`` gains ``e g``; reset-before
    ``g = (r h) W_hn^T + b_hn`` gains ``(e h) W_hn^T``, and ``a_n`` with it (exact, in place)."""
    if variant != "reset_before":  # reset-after, with or without b_hn
        c["a_n"] = c["a_n"] + e * c["g"]
    else:
        dg = (e * h) @ cell.W_hn.T
        c["g"], c["a_n"] = c["g"] + dg, c["a_n"] + dg
    c["n"] = np.tanh(c["a_n"])
    c["dn_da"] = 1.0 - c["n"] * c["n"]


def _torch_run(arithmetic: Arithmetic, variant: Variant, device: str) -> ForwardRun:
    """``ErrorModel.reference_run`` on a torch ``device``: the torch reference's gates in float64,
    rounded at random as ``ErrorModel._rounding_step`` rounds them (``r``, ``z``, ``1 - z``, ``n``
    plus ``2 u xi``, the new state times ``1 + u xi``, ``u`` of the storage format)."""
    import torch

    from gruverify.reference import torch_reference as tr

    u = ARITHMETICS[arithmetic.storage].unit_roundoff

    def run(pp: Problem, rng: np.random.Generator | None) -> Outputs:
        params = tr.params_to_torch(pp.params, torch.float64, device)
        x = torch.as_tensor(np.asarray(pp.x), dtype=torch.float64, device=device)
        h0 = (
            None
            if pp.h0 is None
            else torch.as_tensor(np.asarray(pp.h0), dtype=torch.float64, device=device)
        )
        step: Any = tr.gru_step
        if rng is not None:
            gen = torch.Generator(device=device)
            gen.manual_seed(int(rng.integers(2**62)))

            def step(c: Any, xt: torch.Tensor, h: torch.Tensor, v: str) -> torch.Tensor:
                g = tr.gru_gates(c, xt, h, v)
                xi = torch.rand((5, *g["r"].shape), generator=gen, dtype=torch.float64,
                                device=device) * 2.0 - 1.0  # fmt: skip
                for i, k in enumerate(("r", "z", "one_minus_z", "n")):
                    g[k] = g[k] + 2.0 * u * xi[i]
                return tr.gru_update(g, h) * (1.0 + u * xi[4])

        with torch.no_grad():
            out, h_n = tr.run_stack(step, params, x, h0, variant, pp.batch_first, pp.lengths)
        return Outputs(out.cpu().numpy(), h_n.cpu().numpy())

    return run


FORWARD_CACHE_ENTRIES = 256
"""How many ``ErrorModel.forward`` results are kept (least recently used first out): the checks of a
run ask again for problems they share (a metamorphic law's tolerance, the first, smallest draw of
every check), about a fifth of the calls in the default run."""
FORWARD_CACHE_ELEMENTS = 100_000
"""A problem with more array entries than this is not cached: memory stays bounded (at most
``FORWARD_CACHE_ENTRIES`` such results, a few hundred MB in the worst case)."""

_FORWARD_CACHE: collections.OrderedDict[tuple[Any, ...], tuple[Outputs, Tolerance]] = (
    collections.OrderedDict()
)


def _cache_key(model: ErrorModel, problem: Problem, variant: str) -> tuple[Any, ...] | None:
    """The key of ``model.forward(problem, variant)``: the model (its type and every field), the
    variant, the layout, the stack (layers, directions, bias: two layers and two directions of one
    unit have the same arrays) and a digest of every array's dtype, shape and bytes; None for a
    problem too large to cache (``FORWARD_CACHE_ELEMENTS``)."""
    arrays = [problem.x, problem.h0, problem.lengths]
    arrays += [getattr(c, k) for row in problem.params.cells for c in row for k in c.names]
    if sum(int(np.size(a)) for a in arrays if a is not None) > FORWARD_CACHE_ELEMENTS:
        return None
    digest = hashlib.blake2b(digest_size=20)
    layout = []
    for a in arrays:
        a = None if a is None else np.ascontiguousarray(a)
        layout.append(None if a is None else (a.dtype.str, a.shape))
        digest.update(b"" if a is None else a.tobytes())
    stack = (problem.params.num_layers, problem.params.num_directions, problem.params.bias)
    return (type(model), model, variant, problem.batch_first, stack, tuple(layout),
            digest.digest())  # fmt: skip


def _deviation(a: np.ndarray, b: np.ndarray) -> float:
    """``|a - b|_inf`` (0 for empty arrays; NaN when either holds a NaN: ``max`` skips the draw)."""
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b)), initial=0.0))


def rounded_cotangent(a: np.ndarray, arithmetic: Arithmetic) -> np.ndarray:
    """A cotangent as the implementation receives it (rounded to its storage dtype)."""
    return round_to_dtype(a, arithmetic.storage)


# -- The laws' own tolerance rules --------------------------------------------------------------
# A law that compares with the reference takes its tolerance from ``ErrorModel``; a law that checks
# an exact identity or bound allows one of the rounding slacks below. Each rule is written here
# once, with the reason for its size, and its law calls it.


def agreement_tolerance(*tolerances: float) -> float:
    """How far results of the same GRU computed in different ways may be apart: the sum of their
    own tolerances, added left to right,

        tol_a + tol_b (+ ...)

    (``2 tol`` for two runs on one problem; more terms for a result assembled from several runs).
    Each result may be off the reference by its own tolerance, so by the triangle inequality
    ``|a - b| <= |a - ref| + |ref - b| <= tol_a + tol_b``. Used where a law compares two runs
    (the metamorphic laws of ``gruverify.laws.metamorphic``: ``h0 = None``, batch, chunking,
    directions, stacking, lengths, dropout, instance reuse) and two implementations
    (``gruverify.laws.equivalence.law_device_agreement``)."""
    total = 0.0
    for tolerance in tolerances:
        total = total + tolerance
    return total


def box_slack(u: float, activation_error: float = 0.0) -> float:
    """The relative rounding slack of the box ``|h'_i| <= max(|h_i|, 1)`` (``gruverify.core.bounds``
    bound 1, docs/gru-math.md section 2), per step:

        |h'_i| <= max(|h_i|, 1) (1 + s),     s = BOX_SLACK u + 3 e

    ``h' = (1 - z) n + z h`` is a convex combination of ``n in [-1, 1]`` and ``h``; with ``z`` and
    ``n`` in their closed intervals, three roundings (``1 - z``, the products, the sum) give at
    most ``(1 + u)^3 < 1 + 4 u`` (``BOX_SLACK = 4``, ``u`` of the format the step is computed in).
    A declared activation error ``e`` (``Arithmetic.activation_error``: ``|n| <= 1 + e``,
    ``z in [-e, 1 + e]``, so ``|1 - z| + |z| <= 1 + 2 e``) adds ``3 e``. Used by
    ``gruverify.laws.gates.law_gate_box_invariance`` (each step through a gate function),
    ``gruverify.laws.metamorphic.law_box_invariance`` (on an implementation's outputs) and the
    equivalence law's note on a state outside the box."""
    return BOX_SLACK * u + 3.0 * activation_error


def closed_gate_slack(magnitude: np.ndarray, n: np.ndarray, terms: int, u: float) -> np.ndarray:
    """How far a candidate computed with the reset gate closed may be from ``tanh(a)``, ``a`` the
    float64 pre-activation ``W_in x + b_in`` (``+ b_hn`` for reset-before) rounded to the format
    (``gruverify.laws.gates.law_closed_reset_gate``), per element:

        (k + 2) u m (1 - n^2) + 4 u

    ``m`` (``magnitude``) is the sum of the magnitudes the pre-activation adds up and ``k``
    (``terms``, ``I + 2``) their count: a sum of ``k`` terms, in whatever order an implementation
    adds them, is off by at most about ``k u m``, and two more roundings (the products', the
    result's) make ``k + 2``; ``tanh' = 1 - n^2`` carries that error to ``n``. ``4 u``, absolute,
    is the rounding of ``tanh`` and of its result (a few units of roundoff, as for the box).
    ``u`` is the unit roundoff of the format the gates are computed in."""
    return (terms + 2) * u * magnitude * (1.0 - n**2) + 4 * u  # type: ignore[no-any-return]


def carry_over_slack(K: np.ndarray, hinf: np.ndarray) -> np.ndarray:
    """The rounding slack per step of the carry-over bounds (``gruverify.laws.carry_over``: the
    state ``||h_t - h_{t-1}||_inf <= eps (1 + hinf)``, the step ``||J_t - I|| <= eps (1 + K)`` and
    ``sigma_min(J_t) >= 1 - eps (1 + K)``; the product bounds add it up over the steps):

        16 u (1 + K) (1 + hinf),     u of float64

    The bounds hold exactly on the float64 reference trajectory and are checked on float64
    computations of it (gates, new state, Jacobian, singular values), each off by a few units of
    roundoff of its scale: ``1 + hinf`` for a state step, ``1 + K`` for the Jacobian's correction
    ``D(1 - z) (N - I)`` with ``||N|| <= K``. The product of both scales, times 16, covers either
    with room (docs/gru-math.md section 3)."""
    u = ARITHMETICS["float64"].unit_roundoff
    return 16.0 * u * (1.0 + K) * (1.0 + hinf)  # type: ignore[no-any-return]


def known_time_scale_tolerance(steps: int, exact: float, u: float, tiny: float) -> float:
    """How far a computed ``dh_T/dh_0`` may be from its exact value ``z^T I`` on the known
    time-scale problem (``gruverify.laws.carry_over.law_known_time_scale``), per entry:

        2 (3 T + 2) u z^T + 4 tiny

    The backward pass multiplies ``T`` times by ``z`` (and forms ``z``, ``1 - z`` and their
    products on the way): at most ``3 T + 2`` roundings of relative size ``u``, ``u`` of the
    implementation's arithmetic, each relative to ``z^T`` (``exact``), with a factor 2 of room;
    ``4 tiny`` (the storage format's smallest normal number) absolute, for a product that
    underflows into subnormal numbers."""
    return 2.0 * (3.0 * steps + 2.0) * u * exact + 4.0 * tiny


def carried_state_tolerance(steps: int, gap: float, h_max: float, u: float) -> float:
    """How far an output may move from ``h0`` while the update gate is saturated
    (``gruverify.laws.metamorphic.law_carry_over``), over ``T`` steps:

        T (g (1 + h) + 4 u h) + 4 u h

    with ``g`` (``gap``) the bound on ``1 - z`` and ``h`` (``h_max``) the box ``max(1, |h0|_inf)``.
    Each step moves the state by at most ``(1 - z)(1 + |h|)`` (docs/gru-math.md section 3) plus
    the rounding of the update, ``4 u h`` (the box's three roundings, ``BOX_SLACK``); the last
    ``4 u h`` is the rounding of the output itself. ``u`` of the implementation's arithmetic."""
    return steps * (gap * (1 + h_max) + 4 * u * h_max) + 4 * u * h_max


def complex_step_tolerance(gradient_norm: float, term_scale: float) -> float:
    """How far ``u . g`` (analytic gradient ``g``, unit direction ``u``) may be from the
    complex-step derivative of the float64 reference loss
    (``gruverify.laws.gradients.law_gradient_finite_differences``):

        1e-9 ||g||_2 + 1e-14 S

    The complex step has no cancellation (error ``O(h^2)`` at ``h = 1e-30`` plus rounding, about
    1e-16 relative: ``gruverify.reference.finite_differences``), so ``1e-9`` of the gradient's
    norm leaves room for the rounding of a long float64 backward pass while any real defect of a
    gradient is far larger; ``S``, the scale of the terms a gradient sums, covers a gradient that
    cancels to almost nothing and keeps their rounding error."""
    return 1e-9 * gradient_norm + 1e-14 * term_scale


def richardson_tolerance(
    gradient_norm: float, coarse: float, fine: float, loss_scale: float, step: float,
    term_scale: float,
) -> float:  # fmt: skip
    """How far ``u . g`` may be from the Richardson-extrapolated central difference ``R(h/2)``
    (``fine``; ``coarse`` is ``R(h)``) of the float64 reference loss
    (``law_gradient_finite_differences``, after the complex step agreed):

        1e-6 ||g||_2 + 4 |R(h) - R(h/2)| + 1e-12 (F / h + S)

    ``|R(h) - R(h/2)|`` estimates the remaining ``O(h^4)`` truncation error (4 of it for room);
    ``1e-12 F / h`` is the loss's rounding error (``F`` its scale) divided by the step, ``1e-12 S``
    that of the terms a gradient sums; ``1e-6 ||g||`` the difference quotient's own floor."""
    return 1e-6 * gradient_norm + 4 * abs(coarse - fine) + 1e-12 * (loss_scale / step + term_scale)


def full_jacobian_tolerance(numeric: np.ndarray) -> float:
    """How far each entry of an analytic Jacobian may be from the complex-step Jacobian of the
    float64 reference (``gruverify.laws.gradients.law_full_jacobian``):

        1e-10 max(1, max |J|)

    The complex step is exact up to rounding (about 1e-16 relative per entry), so what remains is
    the rounding of both float64 computations over the sequence: ``1e-10`` of the largest entry
    (at least 1) leaves a wide margin for it and none for a wrong derivative."""
    return 1e-10 * max(1.0, float(np.max(np.abs(numeric))) if numeric.size else 1.0)


def jacobian_product_slack(steps: int) -> float:
    """The relative rounding slack of a product of ``T`` step Jacobians computed in float64, in
    the laws that bound it (``gruverify.laws.vanishing_ratio``: ``||P|| <= sigma^T (1 + s)``,
    ``sigma_min(P) >= prod (1 - d_t) (1 - s)``, the ratio bound ``(1 - s)``):

        s = 1e-12 T

    Each matrix product rounds by a few units of roundoff times the small hidden size (2^-53 H
    per step); ``1e-12`` per step (about 4500 u) covers that for any size the laws draw."""
    return 1e-12 * steps


def study_product_slack(steps: int, hidden_size: int) -> float:
    """The relative rounding slack the vanishing study allows when it checks its measured
    Jacobian products against their bounds (``gruverify.analysis.bound_checks.check_bounds``):

        s = 4 T H eps,     eps = 2^-52 (float64's machine epsilon, 2 u)

    The computed product of ``T`` Jacobians of size ``H`` is off by at most about
    ``T H u prod ||J_t||`` (each product's dot products have length ``H``), and ``prod ||J_t||`` is
    below the upper bound, so ``upper (1 + s)`` and ``lower - s upper`` bound what rounding can
    do. Scaled with ``H`` (up to hundreds in the study), unlike ``jacobian_product_slack``."""
    return 4.0 * int(steps) * hidden_size * float(np.finfo(np.float64).eps)
