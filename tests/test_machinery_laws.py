"""The laws' verdicts say what failed (docs/mutation.md: mutation testing found the names, details
and figures of several violations unguarded, and a few inputs they never saw).

A violation is what a user reads and what the JSON report stores: each law planted here must
raise with its own name, the detail that says which bound broke, and the figures it promises.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from test_laws_planted import _case, mutant_gates, with_update_bias

from gruverify.core.params import Variant, random_gru_params, random_rnn_params
from gruverify.core.problem import Gradients, Outputs, Problem
from gruverify.error_model import (
    ARITHMETICS,
    ErrorModel,
    box_slack,
    carry_over_slack,
    compare,
    jacobian_product_slack,
    known_time_scale_tolerance,
)
from gruverify.laws import carry_over as co
from gruverify.laws import equivalence as eq
from gruverify.laws.base import LawViolation, verdict_violation
from gruverify.laws.equivalence import law_forward_equivalence, saturated_problem
from gruverify.laws.gates import (
    close_reset_gate,
    law_closed_reset_gate,
    law_gate_bounds,
    law_gate_box_invariance,
    law_sequence_equals_unrolled_cell,
    numpy_gates,
    torch_gates,
)
from gruverify.laws.gradients import problem_cotangents
from gruverify.laws.metamorphic import (
    law_batch_first_equals_time_major,
    law_box_invariance,
    law_instance_reuse,
    law_layer_stacking,
    law_rejects_bad_initial_state,
)
from gruverify.laws.vanishing_ratio import (
    construct_update_bias,
    gru_state_jacobian,
    law_rnn_gradient_bound,
    law_vanishing_ratio,
)
from gruverify.reference.finite_differences import FlatLoss, richardson_difference
from gruverify.reference.implementations import NumpyReference, TorchReference
from gruverify.strategies import Config, make_case

F32 = ARITHMETICS["float32"]


def _raised(fn: Any, *args: Any, **kw: Any) -> LawViolation:
    with pytest.raises(LawViolation) as e:
        fn(*args, **kw)
    return e.value


# -- LawViolation -----------------------------------------------------------------------------------


def test_law_violation_text_and_fields() -> None:
    e = LawViolation("L", "F", "D", {"a": 0.123456789, "b": (1, 2), "c": "x", "n": 3}, "case")
    assert (e.law, e.formula, e.detail, e.case) == ("L", "F", "D", "case")
    assert e.numbers == {"a": 0.123456789, "b": (1, 2), "c": "x", "n": 3}
    assert str(e) == "L violated: D\n  law: F\n  a=0.123457, b=(1, 2), c=x, n=3\n  case: case"
    bare = LawViolation("L", "F", "D")
    assert str(bare) == "L violated: D\n  law: F" and bare.numbers == {} and bare.case == ""
    assert isinstance(bare, AssertionError)


def test_a_verdict_violation_carries_the_verdict_and_the_case() -> None:
    v = compare("output", np.array([1.0, 2.0]), np.array([1.0, 2.5]), 0.1)
    e = verdict_violation("L", "F", v, "the case", implementation="impl")
    assert not v.ok and e.detail == str(v) and e.case == "the case"
    assert e.numbers == {"quantity": "output", "expected": 2.0, "got": 2.5, "error": 0.5,
                         "tolerance": 0.1, "index": (1,), "implementation": "impl"}  # fmt: skip
    assert verdict_violation("L", "F", v, "c", " [float32]").detail == f"{v} [float32]"


# -- carry-over -------------------------------------------------------------------------------------


def test_carry_over_slack_formula() -> None:
    u = ARITHMETICS["float64"].unit_roundoff
    got = carry_over_slack(np.array([2.0, 0.0]), np.array([3.0, 0.5]))
    assert np.allclose(got, [16 * u * 3 * 4, 16 * u * 1 * 1.5], rtol=1e-15, atol=0)


def test_carry_over_names_a_wrong_step_jacobian() -> None:
    problem = with_update_bias(_case(steps=6), 12.0)

    def doubled(cell: Any, x: Any, h: Any, variant: Variant) -> Any:
        return 2.0 * co.analytic_jacobian(cell, x, h, variant)

    e = _raised(co.law_carry_over_bounds, problem, "reset_after", numpy_gates, doubled)
    assert e.law == "carry-over" and e.detail == "the step Jacobian is too far from the identity"
    assert e.formula == "||J_t - I||_2 <= eps (1 + K)"
    assert set(e.numbers) == {"got", "bound", "eps = max(1 - z)", "K", "||h_prev||_inf",
                              "where", "variant"}  # fmt: skip
    assert e.numbers["where"].startswith("layer 0, direction 0, t=0 (step 1), batch ")


def test_carry_over_checks_the_reverse_direction_from_its_last_step() -> None:
    """A bidirectional stack: the reverse direction is walked from ``t = T - 1`` down, and a step
    Jacobian wrong only there is found there (its first step is the sequence's last)."""
    problem = with_update_bias(_case(steps=6, bidirectional=True), 12.0)
    reverse = problem.params.cell(0, 1)

    def doubled_in_reverse(cell: Any, x: Any, h: Any, variant: Variant) -> Any:
        J = co.analytic_jacobian(cell, x, h, variant)
        return 2.0 * J if cell is reverse else J

    e = _raised(co.law_carry_over_bounds, problem, "reset_after", numpy_gates, doubled_in_reverse)
    assert e.detail == "the step Jacobian is too far from the identity"
    assert e.numbers["where"].startswith("layer 0, direction 1, t=5 (step 1), batch "), e.numbers


def test_carry_over_names_a_product_that_left_the_identity() -> None:
    problem = _case(steps=2)
    prod = co._Product.identity(2, 3)
    prod.P = prod.P * 3.0
    info = (np.zeros(2), np.zeros(2), np.zeros(2), "here", "reset_after", problem)
    e = _raised(co._check_product, prod, np.array([False, True]), info)
    assert e.detail == "the product of step Jacobians left the identity"
    assert e.numbers["where"] == "here, batch 1" and e.numbers["got"] == pytest.approx(2.0)


def test_carry_over_ignores_the_padding() -> None:
    """Padded steps are no part of a sequence: gates that misbehave only on the padding (flipped
    update gate where the input holds the sentinel 0.125) break no bound."""
    p = with_update_bias(make_case(Config(5, 3, 2, 3, padded=True), "ordinary", "ordinary",
                                   2).problem, 12.0)  # fmt: skip
    p = dataclasses.replace(p, lengths=np.array([5, 2, 3]))
    x = np.array(p.x)
    for b, n in enumerate(p.lengths):
        x[n:, b] = 0.125
    p = dataclasses.replace(p, x=x)
    flipped = mutant_gates("flipped_update")

    def gates(cell: Any, xx: Any, h: Any, variant: Variant) -> Mapping[str, Any]:
        pad = np.all(np.real(xx) == 0.125, axis=-1)[:, None]  # per sequence
        good, bad = mutant_gates("none")(cell, xx, h, variant), flipped(cell, xx, h, variant)
        return {k: np.where(pad, bad[k], v) for k, v in good.items()}

    co.law_carry_over_bounds(p, "reset_after", gates, co.complex_step_jacobian_of(gates))
    whole = dataclasses.replace(p, lengths=None)
    e = _raised(co.law_carry_over_bounds, whole, "reset_after", gates,
                co.complex_step_jacobian_of(gates))  # fmt: skip
    assert e.law == "carry-over"


def test_state_jacobian_without_h0_starts_from_the_zero_state() -> None:
    """A problem without ``h0`` starts from zeros: its ``dh_T/dh_0`` is the one at ``h0 = 0``
    (torch reports no ``dh0`` for an ``h0`` it was not given), here ``0.9^5 I``."""
    p = co.time_scale_problem(10.0, 5, batch=2, hidden_size=4)
    J = co.state_jacobian(TorchReference(), dataclasses.replace(p, h0=None))
    assert np.allclose(J, 0.9**5 * np.eye(4), rtol=0, atol=1e-14)


class _StateGradientOff(TorchReference):
    def gradients(self, problem: Problem, d_output: Any, d_h_n: Any) -> Gradients:
        g = super().gradients(problem, d_output, d_h_n)
        return Gradients(g.dx, np.asarray(g.dh0) * (1.0 + 1e-6), g.dparams)


def test_known_time_scale_gives_expected_got_and_tolerance() -> None:
    steps, z_T = 20, 0.9**20
    e = _raised(co.law_known_time_scale, _StateGradientOff(), 10.0, steps)
    n = e.numbers
    assert e.law == "known time scale" and n["expected"] == pytest.approx(z_T, rel=1e-14)
    assert n["got"] == pytest.approx(z_T * (1.0 + 1e-6), rel=1e-12)
    u, tiny = ARITHMETICS["float64"].unit_roundoff, float(np.finfo(np.float64).tiny)
    assert n["tolerance"] == known_time_scale_tolerance(steps, n["expected"], u, tiny)
    _, row, col = n["where (batch, row, col)"]
    assert row == col  # the diagonal: off it, z^T I and the planted error are both 0


# -- equivalence ------------------------------------------------------------------------------------


def test_saturated_problem_scales_by_60_then_as_far_as_needed() -> None:
    p = make_case(Config(3, 2, 3, 4), "ordinary", "ordinary", 1).problem
    p = dataclasses.replace(p, x=np.asarray(p.x) * 1e-3)
    for arith, target in ((F32, 100.0), (ARITHMETICS["float64"], 1000.0), (None, 100.0)):
        s = saturated_problem(p, arith)
        base = np.clip(np.asarray(p.x) * 60.0, -500.0, 500.0)
        factor = s.x / base
        assert np.allclose(factor, factor.flat[0]) and abs(factor.flat[0]) >= 1.0, arith
        c = p.params.cell(0)
        a = np.concatenate([s.x @ c.W_ir.T, s.x @ c.W_iz.T], axis=-1) * np.sign(factor.flat[0])
        assert float(np.max(np.abs(a))) >= target, arith  # a gate surely driven that far
        # the input negated needs the factor negated, no larger: the same saturating input
        neg = saturated_problem(dataclasses.replace(p, x=-np.asarray(p.x)), arith)
        assert np.array_equal(neg.x, s.x), arith
    big = dataclasses.replace(p, x=np.asarray(p.x) * 1e6)
    assert np.array_equal(np.abs(saturated_problem(big, F32).x).max(), 500.0)
    zero = dataclasses.replace(p, x=np.zeros_like(p.x))
    assert not np.any(saturated_problem(zero, F32).x)


class _Overshoots(NumpyReference):
    """Outputs 1.5 times too large: outside the box ``|h| <= max(|h0|, 1)`` where they reach 1."""

    def forward(self, problem: Problem) -> Outputs:
        r = super().forward(problem)
        bound = 1.2 if np.max(np.abs(r.output)) > 0.9 else 0.99
        return Outputs(np.clip(r.output * 1.5, -bound, bound), r.h_n)


def test_forward_equivalence_says_when_outputs_leave_the_box() -> None:
    p = make_case(Config(4, 2, 3, 4), "saturating", "large", 0).problem
    p = dataclasses.replace(p, h0=np.asarray(p.h0) * 0.5)
    e = _raised(law_forward_equivalence, _Overshoots(), p)
    assert "leaves the box |h| <= max(|h0|, 1) = 1 " in e.detail, e.detail
    small = dataclasses.replace(make_case(Config(4, 2, 3, 4), "ordinary", "ordinary", 0).problem)
    e2 = _raised(law_forward_equivalence, _Overshoots(), small)
    assert "leaves the box" not in e2.detail


class _StateOff(NumpyReference):
    def forward(self, problem: Problem) -> Outputs:
        r = super().forward(problem)
        return Outputs(r.output, np.asarray(r.h_n) + 1e-6)


def test_device_agreement_names_the_quantity_that_disagrees() -> None:
    e = _raised(eq.law_device_agreement, NumpyReference(), _StateOff(), _case(steps=3))
    assert e.numbers["quantity"] == "h_n"  # the outputs agree: one layer, h_n shifted alone
    assert e.numbers["got"] - e.numbers["expected"] == pytest.approx(1e-6, rel=1e-6)


class _GradientsOff(NumpyReference):
    """Float64 gradients off by a relative 1e-9: within float32's tolerance, not float64's."""

    def gradients(self, problem: Problem, d_output: Any, d_h_n: Any) -> Gradients:
        g = super().gradients(problem, d_output, d_h_n)
        return Gradients(np.asarray(g.dx) * (1.0 + 1e-9), g.dh0, g.dparams)


def test_gradient_law_judges_with_the_model_it_is_given() -> None:
    p = _case(steps=3)
    eq.law_gradient_output_and_h_n(_GradientsOff(), p, ErrorModel(F32))
    e = _raised(eq.law_gradient_output_and_h_n, _GradientsOff(), p)  # its own: float64
    assert e.numbers["quantity"] == "dx"


def test_saturated_forward_judges_a_target_in_its_own_arithmetic_by_default() -> None:
    p = _case(steps=3)
    f32 = TorchReference("reset_after", "float32")
    eq.law_forward_saturated(f32, p)  # float32's tolerance: passes
    e = _raised(eq.law_forward_saturated, f32, p, ErrorModel(ARITHMETICS["float64"]))
    assert e.law == "forward equivalence"


# -- gates ------------------------------------------------------------------------------------------


def _with_gate(name: str, value: float) -> Any:
    def gates(cell: Any, x: Any, h: Any, variant: Variant) -> Mapping[str, Any]:
        g = dict(numpy_gates(cell, x, h, variant))
        g[name] = np.full_like(np.asarray(g[name]), value)
        return g

    return gates


def test_gate_bounds_name_the_broken_bound() -> None:
    p = _case(steps=3)
    out = _raised(law_gate_bounds, p, "reset_after", _with_gate("z", 1.5))
    assert out.law == "gate bounds" and out.detail == "z outside the closed interval"
    assert set(out.numbers) == {"a_z", "z", "where", "variant", "dtype"}
    assert out.numbers["z"] == 1.5 and out.numbers["variant"] == "reset_after"
    nan = _raised(law_gate_bounds, p, "reset_before", _with_gate("n", np.nan))
    assert nan.detail == "n NaN" and nan.numbers["variant"] == "reset_before"
    assert out.formula.startswith("z = sigmoid(a_z) in (0, 1)")  # the law each gate breaks
    assert nan.formula.startswith("n = tanh(a_n) in (-1, 1)")


def test_gate_box_invariance_reports_the_state_that_left_the_box() -> None:
    p = _case(steps=3)  # batch 2: the gates see the T * B = 6 rows (t, b) in order
    where = 1 * 2 + 1  # t = 1, batch 1

    def gates(cell: Any, x: Any, h: Any, variant: Variant) -> Mapping[str, Any]:
        g = dict(numpy_gates(cell, x, h, variant))
        g["h"] = np.array(g["h"])
        g["h"][where, 0] = 1.5  # one state leaves the box, |h_prev| <= 1
        return g

    e = _raised(law_gate_box_invariance, p, "reset_after", gates)
    assert e.law == "box invariance"
    assert e.formula.startswith("||h_t||_inf <= max(||h_{t-1}||_inf, 1)")
    n = e.numbers
    assert n["where"] == "layer 0, direction 0, t=1, batch 1" and n["||h_t||_inf"] == 1.5
    assert n["bound"] == max(n["||h_prev||_inf"], 1.0) * (
        1.0 + box_slack(ARITHMETICS["float64"].unit_roundoff)
    )


def test_closed_reset_gate_and_unrolled_cell_give_their_figures() -> None:
    cell = close_reset_gate(random_gru_params(3, 4, rng=1)).cell(0)
    rng = np.random.default_rng(0)
    x, h1, h2 = rng.standard_normal((5, 3)), rng.uniform(-1, 1, (5, 4)), rng.uniform(-1, 1, (5, 4))
    e = _raised(
        law_closed_reset_gate, cell, x, h1, h2, "reset_after", mutant_gates("flipped_reset")
    )
    assert e.detail == "the reset gate is not closed" and set(e.numbers) == {"a_r", "r", "where"}
    e2 = _raised(law_closed_reset_gate, cell, x, h1, h2, "reset_after", _with_gate("n", 0.25))
    assert e2.detail == "the candidate is not the closed-gate candidate"
    assert {"expected", "got", "slack", "where"} <= set(e2.numbers)

    def leaky(c: Any, xx: Any, hh: Any, variant: Variant) -> Mapping[str, Any]:
        g = dict(numpy_gates(c, xx, hh, variant))
        return {**g, "n": np.asarray(g["n"]) + 1e-3 * hh}  # r = 0, yet n follows h

    e4 = _raised(law_closed_reset_gate, cell, x, h1, h2, "reset_after", leaky)
    assert e4.law == "closed reset gate" and e4.detail == "n changed with h"
    where = e4.numbers["where"]
    assert e4.numbers["n(h2)"] - e4.numbers["n(h1)"] == pytest.approx(1e-3 * (h2 - h1)[where])

    class Off(TorchReference):
        def forward(self, problem: Problem) -> Outputs:
            r = super().forward(problem)
            return Outputs(r.output + 1e-3, r.h_n)

    e3 = _raised(law_sequence_equals_unrolled_cell, Off(), _case(steps=4))
    assert e3.law == "sequence equals unrolled cell"
    assert set(e3.numbers) == {
        "quantity", "error", "tolerance", "index", "expected", "got", "implementation"
    }  # fmt: skip
    assert e3.numbers["quantity"] == "output" and e3.numbers["implementation"] == Off().name


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
def test_close_reset_gate_sets_the_reset_bias_10_below_the_smallest_subnormal(dtype: str) -> None:
    """``W_ir = W_hr = 0``, ``b_ir + b_hr = ln(smallest subnormal) - 10`` (its docstring); the rest
    of every cell as it was. ``r`` is then exactly 0 in ``dtype``."""
    import torch

    fi = torch.finfo(getattr(torch, dtype))
    params = random_gru_params(3, 4, num_layers=2, bidirectional=True, rng=0)
    shut = close_reset_gate(params, dtype)
    for row, row0 in zip(shut.cells, params.cells, strict=True):
        for c, c0 in zip(row, row0, strict=True):
            assert not np.any(c.W_ir) and not np.any(c.W_hr)
            b = c.b_ir + c.b_hr
            assert np.allclose(b, np.log(fi.smallest_normal * fi.eps) - 10.0, rtol=1e-15, atol=0)
            for name in ("W_iz", "W_in", "W_hz", "W_hn", "b_iz", "b_in", "b_hz", "b_hn"):
                assert np.array_equal(getattr(c, name), getattr(c0, name)), name
            x, h = np.ones((1, c.input_size)), np.ones((1, 4))
            assert not np.any(torch_gates(dtype)(c, x, h, "reset_after")["r"])


# -- gradients --------------------------------------------------------------------------------------


def test_problem_cotangents_are_a_function_of_the_seed() -> None:
    p = _case(steps=3)
    a, b = problem_cotangents(p, 4), problem_cotangents(p, 4)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], problem_cotangents(p, 5)[0])
    assert np.array_equal(problem_cotangents(p)[0], problem_cotangents(p, 0)[0])


def test_finite_difference_step_and_scales_follow_the_documented_formulas() -> None:
    """``F = sum |d_out| |output| + sum |d_hn| |h_n|``, ``S = (sum |d_out| + sum |d_hn|)
    max(1, ||x||_inf)`` for parameters (``max(1, max |W|)`` otherwise), ``h = 1e-2 / max(1,
    ||x||_inf)`` for parameters (``1e-2`` otherwise), at most ``1e-2 max(F, 1) / ||g||``."""
    from gruverify.laws import gradients as gr

    p = _case(steps=4)
    p = dataclasses.replace(p, x=np.asarray(p.x) * 3.0)
    d_out, d_hn = (1e-3 * d for d in problem_cotangents(p, 0))
    ref = NumpyReference().forward(p)
    F = float(np.sum(np.abs(d_out * ref.output)) + np.sum(np.abs(d_hn * ref.h_n)))
    x_inf = float(np.max(np.abs(p.x)))
    w_inf = max(float(np.max(np.abs(v))) for _, v in p.params.named())
    total = float(np.sum(np.abs(d_out)) + np.sum(np.abs(d_hn)))
    assert F < 1.0 < x_inf and w_inf != x_inf
    h, F_got, terms = gr._step_and_scales(p, "reset_after", "params", d_out, d_hn, 0.0)
    assert F_got == pytest.approx(F) and h == pytest.approx(1e-2 / x_inf)
    assert terms == pytest.approx(total * x_inf)
    h, _, terms = gr._step_and_scales(p, "reset_after", "x", d_out, d_hn, 0.0)
    assert h == 1e-2 and terms == pytest.approx(total * max(1.0, w_inf))
    h, _, _ = gr._step_and_scales(p, "reset_after", "x", d_out, d_hn, 50.0)
    assert h == pytest.approx(1e-2 / 50.0)  # capped, with max(F, 1) = 1


def test_richardson_tries_h_then_h_over_10_then_h_over_100() -> None:
    """A loss that bends on a scale far below the step (``x + 1e-3 sin(2e4 x)``): Richardson
    ``R(s/2)`` at ``s = h`` and ``h / 10`` misses the derivative beyond its tolerance ``1e-6 ||g||
    + 4 |R(s) - R(s/2)| + 1e-12 (F / s + S)``; at ``h / 100`` it agrees (module docstring)."""
    from gruverify.laws import gradients as gr

    w, h = 2e4, 1e-2
    loss = FlatLoss(lambda t: t[0] + 1e-3 * np.sin(w * t[0]) + 0 * t[1], np.zeros(2), "x")
    u, exact = np.array([1.0, 0.0]), 1.0 + 1e-3 * w
    attempts = gr._numeric_derivatives(loss, u, exact, exact, h, 0.0, 0.0)
    assert [(a[0], a[3]) for a in attempts] == [("Richardson", s) for s in (h, h / 10, h / 100)]
    for _, value, tol, step in attempts:
        fine = richardson_difference(loss, loss.point, u, step / 2)
        coarse = richardson_difference(loss, loss.point, u, step)
        assert value == fine
        assert tol == pytest.approx(1e-6 * exact + 4 * abs(coarse - fine), rel=1e-12)
    assert [abs(a[1] - exact) <= a[2] for a in attempts] == [False, False, True]


class _OneEntryOff(NumpyReference):
    """``dh0`` off by 1e-3 in column 2 of the row for ``h_n`` entry 1."""

    def gradients(self, problem: Problem, d_output: Any, d_h_n: Any) -> Gradients:
        g = super().gradients(problem, d_output, d_h_n)
        dh0 = np.array(g.dh0)
        if d_h_n is not None and np.ravel(d_h_n)[1] == 1.0:
            dh0.flat[2] += 1e-3
        return Gradients(g.dx, dh0, g.dparams)


def test_full_jacobian_names_the_entry_that_disagrees() -> None:
    from gruverify.laws.gradients import law_full_jacobian

    p = _case(steps=2)
    m_out = int(np.size(NumpyReference().forward(p).output))
    law_full_jacobian(p, "reset_after", "h0")
    e = _raised(law_full_jacobian, p, "reset_after", "h0", gradients=_OneEntryOff().gradients)
    n = e.numbers
    assert (n["row (output entry)"], n["column"]) == (m_out + 1, 2)
    assert n["analytic"] - n["complex step"] == pytest.approx(1e-3, rel=1e-6)
    assert n["variant"] == "reset_after"


def test_full_jacobian_of_a_batch_first_problem_with_lengths() -> None:
    """Batch-first with per-sequence lengths (batch 2, 3 steps: the two axes told apart): the
    reference's Jacobian and the analytic rows agree, and a wrong entry is still found."""
    from gruverify.laws.gradients import law_full_jacobian

    p = make_case(Config(3, 2, 2, 3, batch_first=True, padded=True), "ordinary", "ordinary", 4)
    problem = p.problem
    assert problem.batch_first and problem.lengths is not None and np.shape(problem.x)[:2] == (2, 3)
    for wrt in ("x", "h0", "params"):
        law_full_jacobian(problem, "reset_after", wrt)  # type: ignore[arg-type]
    e = _raised(law_full_jacobian, problem, "reset_after", "h0",
                gradients=_OneEntryOff().gradients)  # fmt: skip
    assert e.numbers["column"] == 2, e.numbers


# -- metamorphic ------------------------------------------------------------------------------------


class _Scaled(NumpyReference):
    def forward(self, problem: Problem) -> Outputs:
        r = super().forward(problem)
        return Outputs(r.output * 1.5, r.h_n)


def test_box_invariance_gives_its_figures() -> None:
    p = make_case(Config(4, 2, 3, 4), "saturating", "large", 0).problem
    e = _raised(law_box_invariance, _Scaled(), p)
    assert e.law == "box invariance"
    assert {"quantity", "bound", "got", "h_prev", "excess", "slack", "index"} <= set(e.numbers)
    assert e.numbers["quantity"] == "output", e.numbers


class _StateOutOfTheBox(NumpyReference):
    """Outputs right, ``h_n`` (last layer) 1.5 times too large: only the final state leaves the
    box ``|h_n| <= max(|h0|, 1)``."""

    def forward(self, problem: Problem) -> Outputs:
        r = super().forward(problem)
        return Outputs(r.output, np.asarray(r.h_n) * 1.5 + np.sign(r.h_n))


def test_box_invariance_names_the_final_state_against_the_initial_one() -> None:
    p = _case(steps=3)
    e = _raised(law_box_invariance, _StateOutOfTheBox(), p)
    assert e.law == "box invariance" and e.numbers["quantity"] == "h_n", e.numbers
    assert e.detail.startswith("h_n (vs h0): |h| = "), e.detail


class _WrongShape(NumpyReference):
    def forward(self, problem: Problem) -> Outputs:
        r = super().forward(problem)
        return Outputs(r.output[:-1], r.h_n)


def test_a_wrong_output_shape_is_named() -> None:
    e2 = _raised(law_box_invariance, _WrongShape(), _case(steps=3))
    assert e2.law == "output shapes" and e2.numbers["quantity"] == "output"


class _SwapsLayerStates(NumpyReference):
    def forward(self, problem: Problem) -> Outputs:
        r = super().forward(problem)
        return Outputs(r.output, np.asarray(r.h_n)[::-1].copy())


def test_layer_stacking_names_itself() -> None:
    p = make_case(Config(3, 2, 2, 3, num_layers=2), "ordinary", "ordinary", 0).problem
    e = _raised(law_layer_stacking, _SwapsLayerStates(), p)
    assert e.law == "layer stacking" and e.numbers["quantity"] == "h_n"


class _BatchFirstDropsH0(NumpyReference):
    def forward(self, problem: Problem) -> Outputs:
        if problem.batch_first:
            problem = dataclasses.replace(problem, h0=None)
        return super().forward(problem)


def test_batch_first_law_carries_the_initial_state() -> None:
    p = make_case(Config(3, 2, 2, 3), "ordinary", "ordinary", 0).problem
    law_batch_first_equals_time_major(NumpyReference(), p)
    e = _raised(law_batch_first_equals_time_major, _BatchFirstDropsH0(), p)
    assert e.law == "batch_first equals time-major"


class _Leaks(NumpyReference):
    """Each call's output drifts by a relative 1e-9 from the last: within float32's tolerance."""

    calls = 0

    def forward(self, problem: Problem) -> Outputs:
        r = super().forward(problem)
        self.calls += 1
        return Outputs(np.asarray(r.output) * (1.0 + 1e-9 * self.calls), r.h_n)


def test_instance_reuse_judges_with_the_model_it_is_given() -> None:
    p = _case(steps=3)
    law_instance_reuse(_Leaks(), p, ErrorModel(F32))
    e = _raised(law_instance_reuse, _Leaks(), p)  # its own: float64
    assert e.numbers["quantity"] == "output"


class _BroadcastsH0(NumpyReference):
    """Takes an initial state of any shape (its first entry, broadcast), but checks its values
    are states: ``|h0| <= 1``."""

    def forward(self, problem: Problem) -> Outputs:
        if problem.h0 is not None:
            h0 = np.asarray(problem.h0)
            if np.max(np.abs(h0)) > 1.0:
                raise ValueError("h0 outside [-1, 1]")
            shape = (problem.params.num_layers, np.shape(problem.x)[1], problem.params.hidden_size)
            problem = dataclasses.replace(problem, h0=np.full(shape, h0.flat[0]))
        return super().forward(problem)


def test_a_broadcast_initial_state_is_caught_whatever_the_target_checks_of_its_values() -> None:
    """The wrong shapes are tried with a valid state (entries in [-1, 1]): only the shape may be
    what a target rejects."""
    p = _case(steps=3)
    e = _raised(law_rejects_bad_initial_state, _BroadcastsH0(), p)
    assert e.law == "bad initial state rejected" and e.numbers["expected shape"] == (1, 2, 4)
    assert e.numbers["accepted shape"] == (1, 2, 5)  # the first tried: hidden size one too large


# -- vanishing ratio --------------------------------------------------------------------------------


def test_rnn_bound_and_ratio_violations_give_their_figures() -> None:
    rng = np.random.default_rng(0)
    rnn = random_rnn_params(3, 5, rng=rng, sigma_max=0.9, orthogonal=True).cell(0)
    x, h0 = rng.standard_normal((30, 2, 3)), rng.uniform(-1, 1, (2, 5))

    def wrong(c: Any, xx: Any, hh: Any) -> Any:
        h_new = np.tanh(xx @ c.W_ih.T + c.b_ih + hh @ c.W_hh.T + c.b_hh)
        return (1.0 + h_new**2)[:, :, None] * c.W_hh[None]

    e = _raised(law_rnn_gradient_bound, rnn, x, h0, wrong)
    assert e.law == "RNN gradient bound" and e.numbers["T"] == 30
    assert e.numbers["sigma_max"] == pytest.approx(0.9)
    assert e.numbers["bound"] == e.numbers["sigma_max"] ** 30 * (1.0 + jacobian_product_slack(30))
    assert e.numbers["||dh_T/dh_0||_2"] > e.numbers["bound"]
    gru = construct_update_bias(random_gru_params(3, 5, rng=rng).cell(0), 0.9, 4.0, "reset_after")
    g = mutant_gates("flipped_update")
    e2 = _raised(law_vanishing_ratio, gru, rnn, x, h0, "reset_after", gates=g,
                 jacobian=co.complex_step_jacobian_of(g))  # fmt: skip
    n = e2.numbers
    assert e2.law == "vanishing ratio" and 0 < n["||RNN||"] < 1
    assert n["ratio"] == pytest.approx(n["||GRU||"] / n["||RNN||"])
    sigma = n["sigma_max(W_rnn)"]
    assert n["((1 + sigma)/(2 sigma))^T"] == pytest.approx(((1.0 + sigma) / (2.0 * sigma)) ** 30)
    plain = random_gru_params(3, 5, rng=rng).cell(0)  # b_iz not raised: the gates let go
    e3 = _raised(law_vanishing_ratio, plain, rnn, x, h0, "reset_after")
    assert e3.law == "vanishing ratio" and e3.detail.startswith("the construction failed")
    assert e3.numbers["sigma^T"] == pytest.approx(sigma**30)
    assert e3.detail.endswith("<= sigma^T (is b_iz from construct_update_bias?)"), e3.detail
    assert e3.case == e2.case == "GRU (reset_after) vs RNN, T=30, H=5, I=3", e3.case


def test_construct_update_bias_raises_b_iz_just_enough() -> None:
    """``(1 - z)(1 + K_max) <= (1 - sigma) / 2`` for every input and state in the box, with
    equality where the pre-activation is smallest (``x_j = -x_inf sign(W_iz,kj)``, ``h_j = -h_inf
    sign(W_hz,kj)``): ``b_iz`` is raised until the bound holds, no further."""
    from gruverify.core.bounds import carry_constant

    sigma, x_inf = 0.9, 2.0
    cell = construct_update_bias(
        random_gru_params(3, 5, rng=3).cell(0), sigma, x_inf, "reset_after"
    )
    K = float(carry_constant(cell, np.array([1.0]), "reset_after")[0])
    rng = np.random.default_rng(0)
    x, h = rng.uniform(-x_inf, x_inf, (200, 3)), rng.uniform(-1.0, 1.0, (200, 5))
    worst_x, worst_h = -x_inf * np.sign(cell.W_iz), -np.sign(cell.W_hz)  # row k: unit k's worst
    omz = np.asarray(numpy_gates(cell, x, h, "reset_after")["one_minus_z"])
    assert np.all(omz * (1.0 + K) <= (1.0 - sigma) / 2.0)
    omz_worst = np.asarray(numpy_gates(cell, worst_x, worst_h, "reset_after")["one_minus_z"])
    assert np.allclose(np.diag(omz_worst) * (1.0 + K), (1.0 - sigma) / 2.0, rtol=1e-12, atol=0)


def test_gru_state_jacobian_takes_gates_without_one_minus_z() -> None:
    """A ``GateFn`` owes ``a_r, a_z, a_n, r, z, n, h``; ``1 - z`` is then taken from ``z``."""
    rng = np.random.default_rng(1)
    cell = random_gru_params(3, 4, rng=rng).cell(0)
    x, h0 = rng.standard_normal((6, 2, 3)), rng.uniform(-1, 1, (2, 4))

    def minimal(c: Any, xx: Any, hh: Any, variant: Variant) -> Mapping[str, Any]:
        g = numpy_gates(c, xx, hh, variant)
        return {k: g[k] for k in ("a_r", "a_z", "a_n", "r", "z", "n", "h")}

    full = gru_state_jacobian(cell, x, h0, "reset_after")
    for a, b in zip(gru_state_jacobian(cell, x, h0, "reset_after", minimal), full, strict=True):
        assert np.allclose(a, b, rtol=1e-12, atol=1e-15)


def test_a_wrongly_shaped_gradient_is_named_with_both_shapes() -> None:
    """A gradient of the wrong shape is a violation that gives the shape got and expected."""
    problem = _case(steps=3)

    class Flat(NumpyReference):
        def gradients(self, problem: Problem, d_output: Any, d_h_n: Any) -> Gradients:
            g = super().gradients(problem, d_output, d_h_n)
            return dataclasses.replace(g, dx=g.dx.reshape(-1))

    e = _raised(eq.law_gradient_equivalence, Flat(), problem)
    T, B, I = problem.x.shape
    assert e.detail == f"dx has shape ({T * B * I},), expected ({T}, {B}, {I})", e.detail
    assert e.numbers == {"quantity": "dx"}


# -- what the equivalence laws' violations name ------------------------------------------------------


def test_gradient_violations_name_their_law_formula_and_case() -> None:
    """Both kinds of gradient violation (a value off, a shape wrong) give the law with its loss,
    the formula and the case they were found on."""
    p = _case(steps=3)
    formula = "max|dL/dq - dL/dq_ref| <= tol_q for q in x, h0, every parameter"
    e = _raised(eq.law_gradient_equivalence, _GradientsOff(), p, on="output")
    assert (e.law, e.formula, e.case) == ("gradient equivalence (loss on output)", formula,
                                         p.describe())  # fmt: skip
    assert e.detail.endswith(" [float64 (u = 1.11e-16)]"), e.detail

    class Flat(NumpyReference):
        def gradients(self, problem: Problem, d_output: Any, d_h_n: Any) -> Gradients:
            g = super().gradients(problem, d_output, d_h_n)
            return dataclasses.replace(g, dh0=np.asarray(g.dh0).reshape(-1))

    e = _raised(eq.law_gradient_equivalence, Flat(), p)
    assert (e.law, e.case, e.numbers) == ("gradient equivalence (loss on both)", p.describe(),
                                          {"quantity": "dh0"})  # fmt: skip


class _IgnoresFinalState(NumpyReference):
    """Gradients computed as if ``d_h_n`` were zero: right for a loss on the outputs only."""

    def gradients(self, problem: Problem, d_output: Any, d_h_n: Any) -> Gradients:
        return super().gradients(problem, d_output, None)


def test_the_loss_on_the_outputs_alone_has_no_final_state_term() -> None:
    """``gradient[output]``'s loss is ``sum(d_out * output)``: a target that ignores ``d_h_n``
    passes it and fails the laws whose loss has ``h_n``."""
    p = _case(steps=3)
    d_out, d_hn = eq.cotangents(p, "output")
    assert d_out is not None and d_hn is None
    d_out2, d_hn2 = eq.cotangents(p, "h_n")
    assert d_out2 is None and d_hn2 is not None
    both = eq.cotangents(p, "both")
    assert np.array_equal(both[0], d_out) and np.array_equal(both[1], d_hn2)
    eq.law_gradient_output(_IgnoresFinalState(), p)
    for law in (eq.law_gradient_h_n, eq.law_gradient_output_and_h_n):
        assert "loss on" in _raised(law, _IgnoresFinalState(), p).law


def test_device_agreement_names_both_devices_and_the_case() -> None:
    p = _case(steps=3)
    e = _raised(eq.law_device_agreement, NumpyReference(), _StateOff(), p)
    assert e.law == "cpu vs cpu agreement" and e.formula == "max|cpu - cpu| <= tol_cpu + tol_cpu"
    assert e.case == p.describe()


def test_forward_equivalence_states_its_formula() -> None:
    p = _case(steps=3)
    e = _raised(eq.law_forward_saturated, TorchReference("reset_after", "float32"), p,
                ErrorModel(ARITHMETICS["float64"]))  # fmt: skip
    assert e.formula == "max|output - output_ref| <= tol_out and max|h_n - h_n_ref| <= tol_hn"


def test_an_effective_weight_off_the_grid_gives_its_figures() -> None:
    from test_error_model_quantization import QuantizedGRU
    from test_error_model_quantization import _problems as quantized_problems

    p = quantized_problems()[0]
    e = _raised(eq.law_effective_weights, QuantizedGRU(bug="zero_point"), p)
    assert e.law == "effective weights" and e.case == p.describe()
    assert set(e.numbers) == {"quantity", "drawn", "effective", "bound"}, e.numbers
    assert e.numbers["quantity"] == e.detail.split("[")[0] == "l0.W_hz", e.detail
    assert abs(e.numbers["effective"] - e.numbers["drawn"]) > e.numbers["bound"] > 0


# -- carry-over, finite differences: what their violations name --------------------------------------


class _SeesBatch(TorchReference):
    """The torch reference that records the batch of every problem it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: set[int] = set()

    def gradients(self, problem: Problem, d_output: Any, d_h_n: Any) -> Gradients:
        self.batches.add(int(np.shape(problem.x)[1]))
        return super().gradients(problem, d_output, d_h_n)


def test_known_time_scale_runs_the_batch_and_seed_it_is_given() -> None:
    seen = _SeesBatch()
    co.law_known_time_scale(seen, 10.0, 5, batch=3)
    assert seen.batches == {3}
    p = co.time_scale_problem(10.0, 5)
    assert np.array_equal(p.x, co.time_scale_problem(10.0, 5, seed=0).x)  # the default seed: 0
    assert not np.array_equal(p.x, co.time_scale_problem(10.0, 5, seed=1).x)


def test_a_product_violation_states_its_bound() -> None:
    prod = co._Product.identity(2, 3)
    prod.P = prod.P * 3.0
    info = (np.zeros(2), np.zeros(2), np.zeros(2), "here", "reset_after", _case(steps=2))
    e = _raised(co._check_product, prod, np.array([False, True]), info)
    assert (e.law, e.formula) == ("carry-over", "||J_t ... J_1 - I||_2 <= prod (1 + d_s) - 1")


def test_finite_difference_violations_name_their_figures() -> None:
    """A gradient 1% off fails against the complex step with every figure the law promises; a
    gradient of the wrong size is named with the quantity it differentiates."""
    from gruverify.laws.gradients import law_gradient_finite_differences

    p = _case(steps=3)
    ref = NumpyReference()

    def off(problem: Problem, d_out: Any, d_hn: Any) -> Gradients:
        g = ref.gradients(problem, d_out, d_hn)
        return Gradients(np.asarray(g.dx) * 1.01, g.dh0, g.dparams)

    e = _raised(law_gradient_finite_differences, p, "reset_after", "x", gradients=off)
    assert e.law == "gradient vs finite differences" and e.case == p.describe()
    assert set(e.numbers) == {"analytic", "complex step", "error", "tolerance", "||gradient||_2",
                              "richardson step", "variant"}, e.numbers  # fmt: skip
    assert e.numbers["error"] > e.numbers["tolerance"] and e.numbers["variant"] == "reset_after"
    assert e.numbers["richardson step"] == 0.0  # the complex step takes no real step

    def longer(problem: Problem, d_out: Any, d_hn: Any) -> Gradients:
        g = ref.gradients(problem, d_out, d_hn)
        return Gradients(np.concatenate([g.dx, g.dx[:1]]), g.dh0, g.dparams)

    e = _raised(law_gradient_finite_differences, p, "reset_after", "x", gradients=longer)
    assert (e.law, e.formula, e.numbers) == (
        "gradient vs finite differences", "dL/dtheta has theta's shape", {"wrt": "x"}
    )  # fmt: skip
    assert e.detail == f"gradient has {np.size(p.x) * 4 // 3} entries, x has {np.size(p.x)}"


def test_the_law_judges_the_attempt_nearest_the_analytic_value_relative_to_its_tolerance() -> None:
    """Of several numerical derivatives (Richardson at shrinking steps), the one judged is the
    nearest in units of its own tolerance, not the nearest in value or the first."""
    from gruverify.laws.gradients import closest_attempt

    far = ("Richardson", 1.0, 1.0, 1e-2)  # 2 tolerances from 3.0
    near = ("Richardson", 3.001, 0.01, 1e-3)  # 0.1 tolerances from 3.0
    assert closest_attempt([far, near], 3.0) == near
    assert closest_attempt([near, far], 3.0) == near
    wide = ("Richardson", 2.5, 1.0, 1e-4)  # 0.5 tolerances from 3.0
    assert closest_attempt([wide, near], 3.0) == near
    assert closest_attempt([wide, far], 3.0) == wide


# -- metamorphic: each law's violation states the law it broke ----------------------------------------


class _NoneIsOnes(NumpyReference):
    """``h0=None`` read as a state of ones."""

    def forward(self, problem: Problem) -> Outputs:
        if problem.h0 is None:
            shape = (problem.params.num_layers * problem.params.num_directions,
                     *np.shape(problem.x)[1:-1], problem.params.hidden_size)  # fmt: skip
            problem = dataclasses.replace(problem, h0=np.ones(shape))
        return super().forward(problem)


class _RowOffsets(NumpyReference):
    """Each batch row's outputs shifted by 1e-3 times its index: not permutation-equivariant."""

    def forward(self, problem: Problem) -> Outputs:
        r = super().forward(problem)
        B = np.shape(problem.x)[1]
        return Outputs(np.asarray(r.output) + 1e-3 * np.arange(B)[None, :, None], r.h_n)


class _ReverseHalfUnflipped(NumpyReference):
    """A bidirectional stack whose reverse half is returned in reversed time order."""

    def forward(self, problem: Problem) -> Outputs:
        r = super().forward(problem)
        if not problem.bidirectional:
            return r
        out = np.array(r.output)
        H = problem.params.hidden_size
        out[..., H:] = out[::-1, ..., H:]
        return Outputs(out, r.h_n)


def test_metamorphic_violations_state_their_law() -> None:
    from gruverify.laws.metamorphic import (
        law_batch_independence,
        law_direction_alignment,
        law_h0_none_is_zeros,
    )

    p = _case(steps=3)
    e = _raised(law_h0_none_is_zeros, _NoneIsOnes(), p)
    assert (e.law, e.formula) == ("h0=None equals zeros", "f(x, None) == f(x, zeros)")
    e = _raised(law_batch_independence, _RowOffsets(), p)
    assert (e.law, e.formula) == ("batch independence", "f(x[:, P])[:, i] == f(x)[:, P[i]]")
    assert e.numbers["quantity"] == "output (permuted batch)"
    bi = make_case(Config(4, 2, 3, 4, bidirectional=True), "ordinary", "ordinary", 0).problem
    e = _raised(law_direction_alignment, _ReverseHalfUnflipped(), bi)
    assert e.law == "direction alignment" and e.numbers["quantity"] == "output (reverse half)"
    assert e.formula == (
        "bidirectional output[..., H:] == flip(forward run of the reverse cell on flip(x))"
    )
