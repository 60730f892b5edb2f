"""The checks the conformance checker runs: each is one law over hypothesis-drawn cases.

A ``Check`` names a law (``gruverify.laws``), the features it needs (skipped with the target's own
reason when one is missing), the features its cases pin on or off, and its example count under the
``ci`` profile (other profiles scale it). ``CHECKS`` is the catalogue in run order.

A check with ``diagnose`` (the forward equivalence checks) explains its failure: the runner asks
``gruverify.conformance.diagnosis`` which known bug pattern the target's outputs match on
``diagnose(problem, arithmetic)``, the problem the law compared (the counterexample's, or its
saturated form). ``pinned`` cases (``cases.Pinned``) run under every seed: each exposes a defect a
random draw can miss (three layers, a short sequence in a bidirectional batch, ``|h0| = 1``).
A gradient check names its loss (``loss``: on the outputs, on ``h_n`` or on both).
A check that runs the target on weights of its own (``changes_weights``: carry-over, direction
alignment, layer stacking, eval without dropout) cannot run on a target whose weights are fixed
(a model file's GRU, ``cases.fixed_params_of``): ``Check.fixed_skip`` says why it is skipped.

Two levels. A violation is a failure (the target computes something other than the GRU, or
breaks what the GRU's equations and ``torch.nn.GRU``'s documented behaviour imply) unless the
check's ``warns`` policy calls it lax rather than wrong, which makes it a warning (exit status 0;
``--strict`` fails it). Two policies, each for one check:

- ``bad initial state rejected``: input validation (``lax_validation``). A wrong-shaped ``h0``
  that is broadcast leaves every computation on a right-shaped one correct (Keras 3 does this);
- ``box invariance``: an exact invariant broken by at most ``BOX_WARNING_UNITS`` = 16 units of
  the target's arithmetic (``within_a_few_units``). onnxruntime 1.32's GRU returns a tanh of up
  to ``1 + 10 u`` (measured over 4.2 million float32 pre-activations, docs/checker.md), while
  every equivalence check holds; 16 u leaves it a margin of 1.6 and is 8 ulps above 1. A
  larger break stays a failure (a tanh or gate that leaves its interval by more than rounding),
  and so does a NaN.

``CROSS_DEVICE_CHECKS`` compare the target on two devices: such a check (``against``) runs on the
other device's target, its law bound to the target built on ``against.device`` (``bound``); the
checker runs them when both devices run. ``ALL_CHECKS`` is both tables; ``check_names()`` their
names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

from hypothesis.strategies import SearchStrategy

from gruverify.conformance.cases import CheckCase, Pinned, Sizes, check_cases, fixed_conflict
from gruverify.core.bounds import BOX_SLACK
from gruverify.core.features import BASIC
from gruverify.core.params import GRUParams
from gruverify.core.problem import Capabilities, Implementation, Problem
from gruverify.error_model import Arithmetic, ErrorModel
from gruverify.laws import equivalence as eq
from gruverify.laws import metamorphic as mm
from gruverify.laws.base import LawViolation
from gruverify.laws.equivalence import LossOn
from gruverify.laws.long_range import law_long_range_gradient
from gruverify.laws.memory_layout import law_memory_layouts, memory_layout_skip
from gruverify.strategies import Config

__all__ = [
    "ALL_CHECKS",
    "BOX_WARNING_UNITS",
    "CHECKS",
    "CROSS_DEVICE_CHECKS",
    "DEVICE_AGREEMENT",
    "Against",
    "Check",
    "Law",
    "PairLaw",
    "Warns",
    "check_names",
    "lax_validation",
    "within_a_few_units",
]

Law = Callable[[Implementation, Problem, "ErrorModel | None"], None]
PairLaw = Callable[[Implementation, Implementation, Problem], None]
"""A law over two implementations of one GRU (``law(expected, got, problem)``)."""

DEVICE_AGREEMENT = "cpu vs cuda agreement"

Warns = Callable[[BaseException, Arithmetic], "str | None"]
"""A check's warning policy: why a violation is lax rather than wrong (a warning), or None (a
failure). Given what the check's law raised and the arithmetic it was judged in."""

BOX_WARNING_UNITS = 16.0
"""The largest break of the box ``|h| <= max(|h_prev|, 1)``, in units ``u`` of the arithmetic
(relative to the box), that is a warning rather than a failure (module docstring)."""


def lax_validation(e: BaseException, arithmetic: Arithmetic) -> str | None:
    """A bad initial state accepted: input validation, a warning."""
    if isinstance(e, LawViolation) and e.law == "bad initial state rejected":
        return (
            "input validation: a wrong-shaped h0 is accepted instead of rejected; outputs and "
            "gradients are judged by the other checks"
        )
    return None


def within_a_few_units(e: BaseException, arithmetic: Arithmetic) -> str | None:
    """A box break of at most ``BOX_WARNING_UNITS`` u (beyond a declared activation error's
    allowance): a warning. More, or NaN, is a failure."""
    if not isinstance(e, LawViolation) or e.law != "box invariance":
        return None
    n = e.numbers
    u, excess, bound, slack = (
        arithmetic.unit_roundoff, n.get("excess"), n.get("bound"), n.get("slack", 0.0)
    )  # fmt: skip
    if not isinstance(excess, float) or not isinstance(bound, float) or bound <= 0:
        return None
    units = excess / (u * bound)
    ceiling = slack / (u * bound) + BOX_WARNING_UNITS - BOX_SLACK
    if not units <= ceiling:  # NaN too
        return None
    return (
        f"an exact invariant broken by {units:.3g} u, within {ceiling:.3g} u of the "
        "arithmetic: a warning while the equivalence checks hold (more would be a failure)"
    )


@dataclasses.dataclass(frozen=True)
class Against:
    """The other side of a cross-device check: the target built on ``device``, compared with the
    checked one by ``law(other, checked, problem)``."""

    device: str
    law: PairLaw


@dataclasses.dataclass(frozen=True)
class Check:
    """One law over drawn cases. ``requires``: features the target must support."""

    name: str
    law: Law
    description: str
    requires: tuple[str, ...] = ()
    forced: Mapping[str, bool] = dataclasses.field(default_factory=dict)
    examples: int = 10
    min_steps: int = 1
    min_batch: int = 1
    big_h0: bool = False
    needs_method: str | None = None
    diagnose: Callable[[Problem, Arithmetic], Problem] | None = None
    pinned: tuple[Pinned, ...] = ()
    long: bool = False
    """A long-sequence check: its cases run ``cases.LONG_STEPS`` (33 to 130) steps, or up to
    ``--max-steps`` when larger; skipped when ``--max-steps`` is below 33."""
    loss: LossOn | None = None
    """A gradient check's loss: on the outputs, on ``h_n`` or on both (its cotangents)."""
    against: Against | None = None
    """Set for a cross-device check (see the module docstring)."""
    warns: Warns | None = None
    """The check's warning policy (module docstring); None: every violation is a failure."""
    applies: Callable[[Implementation], str | None] | None = None
    """Why the check cannot judge a target (a skip with that reason), or None: it can (e.g. the
    memory layouts law needs a target that presents strided arrays)."""
    changes_weights: str | None = None
    """Set for a check whose law runs the target on weights other than the case's: how it
    changes them. It cannot run on a target whose weights are fixed (a model file's GRU)."""
    batch_coupled: bool = False
    """The law compares a batch (or a sequence) with its parts: under a declared quantization
    whose activation scale spans the call (``Quantization.batch_coupled``) it holds only within
    the quantization tolerance, which is how it is judged, and the result says so
    (``coupling_note``)."""

    def coupling_note(self, arithmetic: Arithmetic) -> str | None:
        """What a result of this check says about how it was judged: for a ``batch_coupled``
        check under a batch-coupled declared quantization, that the parts were compared within
        the quantization tolerance; None otherwise."""
        q = arithmetic.quantization
        if not self.batch_coupled or q is None or not q.batch_coupled:
            return None
        return (
            "judged within the declared quantization tolerance: the activation scale spans "
            f"the call ({q.activation_granularity}), so a sequence's result depends on the rest "
            "of its batch and sequence by up to that much"
        )

    def warning(self, e: BaseException, arithmetic: Arithmetic) -> str | None:
        """Why ``e`` (what the law raised) is only a warning, or None: a failure."""
        return None if self.warns is None else self.warns(e, arithmetic)

    def bound(self, other: Implementation) -> Check:
        """A cross-device check with its law bound to ``other``, the target on
        ``against.device``."""
        if self.against is None:
            raise ValueError(f"{self.name} is not a cross-device check")
        compare = self.against.law

        def law(impl: Implementation, problem: Problem, model: ErrorModel | None) -> None:
            compare(other, impl, problem)

        return dataclasses.replace(self, law=law)

    def cases(
        self,
        capabilities: Capabilities,
        sizes: Sizes | None = None,
        fixed: GRUParams | None = None,
    ) -> SearchStrategy[CheckCase]:
        """The strategy of this check's drawn cases for a target with ``capabilities`` at
        ``sizes`` (a long-sequence check: ``Sizes.long_steps()`` steps), with the target's
        ``fixed`` weights if it fixes them."""
        sizes = sizes or Sizes()
        return check_cases(
            capabilities, self.forced, min_steps=self.min_steps, min_batch=self.min_batch,
            big_h0=self.big_h0, sizes=sizes, steps=sizes.long_steps() if self.long else None,
            fixed=fixed,
        )  # fmt: skip

    def pinned_cases(
        self,
        capabilities: Capabilities,
        sizes: Sizes | None = None,
        fixed: GRUParams | None = None,
    ) -> list[CheckCase]:
        """This check's pinned cases, adapted to a target with ``capabilities`` (and its
        ``fixed`` weights); a long-sequence check's have ``Sizes.long_pinned_steps()`` steps at
        least (33 by default; one past the largest power of two of ``--max-steps``), none when
        ``--max-steps`` is below 33."""
        steps = self.min_steps
        if self.long:
            pinned_steps = (sizes or Sizes()).long_pinned_steps()
            if pinned_steps is None:
                return []
            steps = max(steps, pinned_steps)
        return [
            p.case(capabilities, self.forced, min_steps=steps, min_batch=self.min_batch,
                   fixed=fixed)
            for p in self.pinned
        ]  # fmt: skip

    def fixed_skip(self, fixed: GRUParams | None) -> str | None:
        """Why this check cannot run on a target whose weights are ``fixed``; None: it can (or
        the weights are drawn)."""
        if fixed is None:
            return None
        if self.changes_weights is not None:
            return f"it {self.changes_weights}"
        return fixed_conflict(fixed, self.forced, self.requires, self.diagnose is not None)


def _as_drawn(problem: Problem, arithmetic: Arithmetic) -> Problem:
    return problem


def _forward(name: str, feature: str | None, examples: int = 12) -> Check:
    if feature is None:
        return Check(
            "forward[basic]", eq.law_forward_equivalence,
            "outputs and h_n equal the float64 reference (one layer, time-major, bias)",
            forced=BASIC, examples=examples, diagnose=_as_drawn,
        )  # fmt: skip
    # Padding is drawn only where lengths are the subject (forward[lengths], which draws the other
    # features with it, and lengths truncation): a target that ignores its lengths then fails
    # those two checks, not every forward check of a feature it computes right.
    no_padding = {} if feature == "lengths" else {"lengths": False}
    return Check(
        f"forward[{name}]", eq.law_forward_equivalence,
        f"outputs and h_n equal the float64 reference with {name}",
        requires=(feature,), forced={feature: True, **no_padding}, examples=examples,
        diagnose=_as_drawn,
    )  # fmt: skip


_PIN_SATURATED = Pinned(
    Config(3, 2, 3, 3),
    "a nonzero input, so a reset or update gate is driven past exp's overflow (a naive sigmoid "
    "gives NaN)",
)
_PIN_THREE_LAYERS = Pinned(
    Config(3, 2, 3, 3, num_layers=3), "three layers: the middle layer's gradients (wrong offsets)"
)
_PIN_BIASED = Pinned(
    Config(2, 2, 3, 3), "biases: h0=None must keep the first step's b_hr, b_hz and r * b_hn"
)
_PIN_UNIT_H0 = Pinned(
    Config(3, 2, 3, 3), "|h0| = 1 exactly: a state clamped inside (-1, 1) shows", h0_fill=1.0
)
_PIN_SHORT_REVERSE = Pinned(
    Config(5, 2, 3, 3, bidirectional=True, padded=True),
    "a length-1 sequence beside a full one, bidirectional: a reverse pass that starts in the "
    "padding shows",
    lengths=(5, 1),
)
_PIN_TWO_LAYERS = Pinned(
    Config(3, 2, 3, 3, num_layers=2), "two layers: torch's dropout acts between layers only"
)
_PIN_BROADCASTABLE_H0 = Pinned(
    Config(2, 2, 3, 3, num_layers=2),
    "two layers, batch 2: h0 of shape (1, B, H) or (L*D, 1, H) would broadcast",
)

_PIN_LONG = Pinned(
    Config(33, 2, 3, 3),
    "a long sequence (one past a power of two of the steps), ordinary weights and inputs: the "
    "gradient reaches step 0 and h0, so a gradient cut anywhere inside shows",
)

_PIN_LAYOUTS = Pinned(
    Config(3, 3, 2, 3, num_layers=2, bidirectional=True),
    "two bidirectional layers with h0, batch 3: every view of x and of h0 (transposed, offset, "
    "padded, expanded over the batch) has more than one row to misread",
)

_GRADIENTS: dict[LossOn, tuple[str, Law, str]] = {
    "output": ("gradient[output]", eq.law_gradient_output, "sum(d_out * output)"),
    "h_n": ("gradient[h_n]", eq.law_gradient_h_n, "sum(d_hn * h_n)"),
    "both": ("gradient[output+h_n]", eq.law_gradient_output_and_h_n,
             "sum(d_out * output) + sum(d_hn * h_n)"),
}  # fmt: skip


def _gradient(loss: LossOn) -> Check:
    name, law, formula = _GRADIENTS[loss]
    return Check(
        name, law, f"d/d(x, h0, params) of {formula} equal the reference",
        requires=("gradients",), examples=10, pinned=(_PIN_THREE_LAYERS,), loss=loss,
    )  # fmt: skip


CHECKS: tuple[Check, ...] = (
    _forward("basic", None),
    _forward("multilayer", "multilayer"),
    _forward("bidirectional", "bidirectional"),
    _forward("bias=False", "bias_false"),
    _forward("batch_first", "batch_first"),
    _forward("unbatched", "unbatched"),
    _forward("lengths", "lengths"),
    Check("forward[long]", eq.law_forward_equivalence,
          "outputs and h_n over 33 to 130 steps (the state crosses the chunk boundaries at 32, "
          "64 and 128 steps) equal the reference", forced=BASIC, examples=4,
          diagnose=_as_drawn, long=True),
    Check("forward[saturated]", eq.law_forward_saturated,
          "with the input scaled by 60 (saturated gates) outputs are finite and equal the reference",
          examples=10, big_h0=True, diagnose=eq.saturated_problem, pinned=(_PIN_SATURATED,)),
    _gradient("output"),
    _gradient("h_n"),
    _gradient("both"),
    Check("gradient[long]", law_long_range_gradient,
          "d/d(h0, x_0, x, params) of the final step's output over 33 or more steps (b_iz "
          "raised: the state is carried) equal the reference: a gradient cut every k steps shows",
          requires=("gradients",), forced={"bias_false": False, "lengths": False}, examples=1,
          long=True, pinned=(_PIN_LONG,),
          changes_weights="raises b_iz so that the state is carried over the long sequence"),
    Check("h0=None equals zeros", mm.law_h0_none_is_zeros, "f(x, None) == f(x, 0)",
          requires=("initial_state",), examples=8, pinned=(_PIN_BIASED,)),
    Check("box invariance", mm.law_box_invariance, "|h_t| <= max(|h_{t-1}|, 1) elementwise",
          examples=12, big_h0=True, warns=within_a_few_units),
    Check("carry-over", mm.law_carry_over, "b_iz large => outputs stay at h0",
          forced={"bias_false": False}, examples=10, big_h0=True, pinned=(_PIN_UNIT_H0,),
          changes_weights="raises b_iz to drive the update gate to 1"),
    Check("batch independence", mm.law_batch_independence,
          "permuting the batch (3 or 4 sequences) permutes outputs; a sequence alone equals its row",
          forced={"unbatched": False}, examples=8, min_batch=3, batch_coupled=True),
    Check("chunked continuation", mm.law_chunked_continuation,
          "f(x[:k]) then f(x[k:], h_k) equals f(x)",
          requires=("initial_state",), forced={"bidirectional": False}, examples=10, min_steps=2,
          batch_coupled=True),
    Check("direction alignment", mm.law_direction_alignment,
          "each direction equals a one-direction run; reverse = flip, forward, flip",
          requires=("bidirectional",), forced={"bidirectional": True}, examples=10,
          changes_weights="runs each direction's cell as a GRU of its own"),
    Check("layer stacking", mm.law_layer_stacking,
          "an L-layer stack equals L chained one-layer runs",
          requires=("multilayer",), forced={"multilayer": True}, examples=6,
          changes_weights="runs each layer's cells as a GRU of their own"),
    Check("lengths truncation", mm.law_lengths_truncation,
          "a packed sequence of length l equals its first l steps alone, zero-padded",
          requires=("lengths",), forced={"lengths": True}, examples=10,
          pinned=(_PIN_SHORT_REVERSE,), batch_coupled=True),
    Check("eval without dropout", mm.law_eval_without_dropout,
          "built with dropout=0.5, eval() equals dropout=0",
          requires=("dropout",), examples=6, needs_method="with_dropout",
          changes_weights="rebuilds the target with dropout",
          pinned=(_PIN_TWO_LAYERS,)),
    Check("bad initial state rejected", mm.law_rejects_bad_initial_state,
          "an h0 of the wrong shape raises instead of broadcasting",
          requires=("initial_state",), examples=4, pinned=(_PIN_BROADCASTABLE_H0,),
          warns=lax_validation),
    Check("memory layouts", law_memory_layouts,
          "x and h0 as a transposed view, a slice with a storage offset, rows of a wider buffer, "
          "an expanded h0: outputs and gradients equal the contiguous call's",
          forced={"lengths": False}, examples=1, min_steps=2, min_batch=2,
          applies=memory_layout_skip, pinned=(_PIN_LAYOUTS,)),
    Check("determinism", mm.law_deterministic, "two identical calls are bit-identical",
          examples=6),
    Check("instance reuse", mm.law_instance_reuse,
          "one instance serves many calls: f(p); f(q); f(p) repeats the first answer",
          examples=6),
)  # fmt: skip


def _needs_other_device(impl: Implementation, problem: Problem, model: ErrorModel | None) -> None:
    raise TypeError("a cross-device check runs bound to the target on its other device (bound)")


CROSS_DEVICE_CHECKS: tuple[Check, ...] = (
    Check(DEVICE_AGREEMENT, _needs_other_device,
          "the same GRU on the CPU and on CUDA agrees within both tolerances", examples=8,
          against=Against("cpu", eq.law_device_agreement)),
)  # fmt: skip

ALL_CHECKS: tuple[Check, ...] = CHECKS + CROSS_DEVICE_CHECKS


def check_names() -> list[str]:
    """Names of the catalogue's checks, in run order (the cross-device checks last)."""
    return [c.name for c in ALL_CHECKS]
