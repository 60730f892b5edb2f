"""The diagnosis' search, on hypotheses built for the purpose (issue 14: ranking by catalogue order
instead of ``error / tolerance``, or dropping the skip of hypotheses indistinguishable from the
reference, passed all 71 tests of test_diagnosis.py).

Each hypothesis here is the reference plus a known offset, so its error and tolerance are known:
the tolerance is the error model's for the reference (``forward_of``: a constant offset changes
no deviation), and the offset is a chosen multiple of it.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from gruverify.conformance.diagnosis import (
    HYPOTHESES,
    Diagnosis,
    Hypothesis,
    _with_cells,
    diagnose,
)
from gruverify.core.params import GRUCellParams, StackParams, Variant
from gruverify.core.problem import Outputs, Problem
from gruverify.error_model import ARITHMETICS, ErrorModel, Tolerance
from gruverify.reference.numpy_reference import gru_forward
from gruverify.strategies import Config, make_case

F32 = ARITHMETICS["float32"]
VARIANT: Variant = "reset_after"


def _problem() -> Problem:
    return make_case(Config(5, 2, 3, 4), "ordinary", "ordinary", 0).problem


def _reference(p: Problem, variant: Variant = VARIANT) -> Outputs:
    r = gru_forward(p.params, p.x, p.h0, variant=variant, batch_first=p.batch_first,
                    lengths=p.lengths)  # fmt: skip
    return Outputs(r.output, r.h_n)


def _tolerance(p: Problem, model: ErrorModel) -> Tolerance:
    return model.forward_of(lambda q, rng: _reference(q), p)[1]


def _shifted(name: str, d_out: float, d_hn: float = 0.0) -> Hypothesis:
    """The reference with ``d_out`` added to every output and ``d_hn`` to every final state."""

    def run(p: Problem, variant: Variant) -> Outputs:
        r = _reference(p, variant)
        return Outputs(r.output + d_out, r.h_n + d_hn)

    return Hypothesis(name, f"{name} (shifted)", run)


def _got(p: Problem, model: ErrorModel, d_out: float, d_hn: float = 0.0) -> Outputs:
    r = _reference(model.reference_problem(p))
    return Outputs(r.output + d_out, r.h_n + d_hn)


def test_the_best_fit_wins_whatever_its_place_in_the_catalogue() -> None:
    p, model = _problem(), ErrorModel(F32)
    tol = _tolerance(p, model).output
    got = _got(p, model, 5 * tol)
    hyps = [_shifted("loose", 5.6 * tol), _shifted("close", 5.3 * tol), _shifted("exact", 5 * tol)]
    d = diagnose(p, VARIANT, got, F32, hypotheses=hyps)
    assert d is not None and d.name == "exact", d
    assert d.error <= 1e-6 * tol and abs(d.tolerance / tol - 1) < 1e-6
    # the others that fit, best first
    assert d.alternatives == ("close (shifted)", "loose (shifted)"), d
    assert str(d) == (
        f"the target matches exact (shifted) to {d.error:.2g} (tolerance {tol:.2g}); also "
        "consistent with: close (shifted), loose (shifted)"
    )


def test_ties_keep_the_catalogue_order() -> None:
    p, model = _problem(), ErrorModel(F32)
    tol = _tolerance(p, model).output
    got = _got(p, model, 3 * tol)
    d = diagnose(p, VARIANT, got, F32, hypotheses=[_shifted("first", 3 * tol),
                                                   _shifted("second", 3 * tol)])  # fmt: skip
    assert d is not None and d.name == "first" and d.alternatives == ("second (shifted)",)


def test_a_hypothesis_indistinguishable_from_the_reference_is_skipped() -> None:
    """Shifted by 0.9 tolerance, it is the reference on this problem: even though the target
    (1.6 tolerances off the reference, 0.7 off the hypothesis) fits it, it explains nothing."""
    p, model = _problem(), ErrorModel(F32)
    tol = _tolerance(p, model).output
    got = _got(p, model, 1.6 * tol)
    same = _shifted("same", 0.9 * tol)
    assert diagnose(p, VARIANT, got, F32, hypotheses=[same]) is None
    # the same target with a distinguishable hypothesis that fits it as well
    other = _shifted("other", 2.4 * tol)
    d = diagnose(p, VARIANT, got, F32, hypotheses=[same, other])
    assert d is not None and d.name == "other" and d.alternatives == (), d


def test_no_fit_no_diagnosis_and_a_conforming_target_needs_none() -> None:
    p, model = _problem(), ErrorModel(F32)
    tol = _tolerance(p, model).output
    far = _shifted("far", 10 * tol)
    assert diagnose(p, VARIANT, _got(p, model, 4 * tol), F32, hypotheses=[far]) is None
    exact = _shifted("exact", 0.5 * tol)
    assert diagnose(p, VARIANT, _got(p, model, 0.5 * tol), F32, hypotheses=[exact]) is None


def test_the_worse_of_output_and_h_n_decides() -> None:
    p, model = _problem(), ErrorModel(F32)
    t = _tolerance(p, model)
    got = _got(p, model, 4 * t.output, 4 * t.h_n)
    # right on the outputs, 0.5 tolerance off on h_n: fits, the h_n figures reported
    d = diagnose(p, VARIANT, got, F32,
                 hypotheses=[_shifted("h_n off", 4 * t.output, 4.5 * t.h_n)])  # fmt: skip
    assert d is not None and d.name == "h_n off"
    assert abs(d.tolerance / t.h_n - 1) < 1e-6 and abs(d.error - 0.5 * t.h_n) <= 1e-3 * t.h_n, d
    # 1.5 tolerances off on h_n: no fit, however good the outputs
    assert diagnose(p, VARIANT, got, F32,
                    hypotheses=[_shifted("h_n far", 4 * t.output, 5.5 * t.h_n)]) is None  # fmt: skip


def test_a_hypothesis_of_another_shape_never_fits() -> None:
    p, model = _problem(), ErrorModel(F32)
    tol = _tolerance(p, model).output

    def wrong_shape(q: Problem, variant: Variant) -> Outputs:
        r = _reference(q, variant)
        return Outputs(r.output[:-1], r.h_n)

    got = _got(p, model, 3 * tol)
    hyps = [Hypothesis("shape", "another shape", wrong_shape), _shifted("right", 3 * tol)]
    d = diagnose(p, VARIANT, got, F32, hypotheses=hyps)
    assert d is not None and d.name == "right" and d.alternatives == ()


def test_a_hypothesis_with_zero_tolerance_fits_only_exactly() -> None:
    """With no floor a hypothesis that ignores its data has tolerance 0: an exact match fits
    (error 0), anything else does not (no division by zero)."""
    p = _problem()
    model = ErrorModel(F32, floor=0.0)
    zeros = _reference(model.reference_problem(p))
    zeros = Outputs(np.zeros_like(zeros.output), np.zeros_like(zeros.h_n))
    const = Hypothesis("zeros", "all zeros", lambda q, v: zeros)
    d = diagnose(p, VARIANT, zeros, F32, hypotheses=[const], model=model)
    assert d is not None and (d.name, d.error, d.tolerance) == ("zeros", 0.0, 0.0), d
    near = Outputs(zeros.output + 1e-30, zeros.h_n)
    assert diagnose(p, VARIANT, near, F32, hypotheses=[const], model=model) is None


def test_the_model_given_is_the_model_used() -> None:
    """``model`` replaces the default: its tolerances, not ``arithmetic``'s, judge."""
    p = _problem()
    model = ErrorModel(F32)
    tol = _tolerance(p, model).output
    got = _got(p, model, 3 * tol)
    hyp = [_shifted("h", 3.5 * tol)]
    assert diagnose(p, VARIANT, got, F32, hypotheses=hyp, model=model) is not None
    tight = ErrorModel(F32, safety=0.3, floor=0.1)
    assert diagnose(p, VARIANT, got, F32, hypotheses=hyp, model=tight) is None


def test_the_other_variant_is_described_for_the_expected_one() -> None:
    (other,) = [h for h in HYPOTHESES if h.name == "other variant"]
    assert "reset-before" in other.describe("reset_after")
    assert "reset-after" in other.describe("reset_before")
    p = dataclasses.replace(_problem(), h0=None)
    got = _reference(ErrorModel(F32).reference_problem(p), "reset_before")
    d = diagnose(p, "reset_after", got, F32)
    assert d is not None and d.name == "other variant" and "Cho" in d.description, d
    assert isinstance(d, Diagnosis) and d.error <= d.tolerance


def test_a_cell_transform_sees_every_cell_with_its_layer() -> None:
    """``_with_cells(fn)`` (most hypotheses of the catalogue) runs the reference on the parameters
    ``fn(cell, layer)`` gives, every direction of every layer; here only the second layer's
    ``b_hn`` is dropped (built in the test, so mutation testing sees the factory run)."""
    p = make_case(Config(3, 2, 3, 4, num_layers=2, bidirectional=True), "ordinary", "ordinary",
                  0).problem  # fmt: skip
    seen: list[int] = []

    def upper_without_b_hn(c: GRUCellParams[np.ndarray], layer: int) -> GRUCellParams[np.ndarray]:
        seen.append(layer)
        return c.replace(b_hn=0.0 * c.b_hn) if layer == 1 else c

    got = _with_cells(upper_without_b_hn)(p, VARIANT)
    assert seen == [0, 0, 1, 1]
    (low, high) = p.params.cells
    rows = (low, tuple(c.replace(b_hn=0.0 * c.b_hn) for c in high))
    expected = _reference(dataclasses.replace(p, params=StackParams(rows, bias=True)))
    assert np.array_equal(got.output, expected.output) and np.array_equal(got.h_n, expected.h_n)
    assert not np.allclose(got.output, _reference(p).output)


def test_a_zero_tolerance_takes_only_an_exact_match() -> None:
    """With a tolerance of 0 (an exact comparison), a difference is infinitely many tolerances
    and none is 0, on ``output`` and on ``h_n`` alike."""
    from gruverify.conformance.diagnosis import _ratio

    ref = Outputs(np.zeros((2, 1, 3)), np.zeros((1, 1, 3)))
    zero = Tolerance(0.0, 0.0)
    assert _ratio((ref, zero), ref) == (0.0, 0.0, 0.0)
    off_hn = Outputs(ref.output, ref.h_n + 1e-3)
    assert _ratio((ref, zero), off_hn)[0] == np.inf
    off_out = Outputs(ref.output + 1e-3, ref.h_n)
    assert _ratio((ref, zero), off_out)[0] == np.inf
    assert _ratio((ref, Tolerance(1e-2, 1e-2)), off_hn) == (0.1, 1e-3, 1e-2)


def test_a_swap_hypothesis_trades_its_pairs_in_every_cell() -> None:
    """The r/z swap hypotheses (built at import: called here, so a test runs the builder)
    exchange each named pair of a cell's parameters and leave the others."""
    from gruverify.conformance.diagnosis import _reference, _swap

    p = make_case(Config(2, 1, 2, 3, num_layers=2), "ordinary", "ordinary", 0).problem
    got = _swap(("W_ir", "W_iz"), ("b_hr", "b_hz"))(p, "reset_after")
    rows = tuple(tuple(c.replace(W_ir=c.W_iz, W_iz=c.W_ir, b_hr=c.b_hz, b_hz=c.b_hr) for c in row)
                 for row in p.params.cells)  # fmt: skip
    want = _reference(dataclasses.replace(p, params=StackParams(rows, bias=True)), "reset_after")
    assert np.array_equal(got.output, want.output) and np.array_equal(got.h_n, want.h_n)
    assert not np.array_equal(got.output, _reference(p, "reset_after").output)
