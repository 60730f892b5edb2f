"""Every law of the property suite catches a planted violation.

Mutants (docs/real-bugs.md patterns): dropout left on in eval mode, a naive sigmoid that overflows to NaN, a sigmoid
that rounds onto 0 inside the open range, the update gate dropped or flipped (z <-> 1 - z), the
reset gate flipped, the state not fed back, the update gate clamped, a gradient with a dropped bias
term or a scaled entry, an RNN Jacobian with the wrong tanh derivative. Each test asserts that the
law raises LawViolation on the mutant (and, where cheap, that it passes on the correct code).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
import torch

from gruverify.core.params import GRUCellParams, Variant, random_gru_params, random_rnn_params
from gruverify.core.problem import Gradients, Outputs, Problem
from gruverify.error_model import Inconclusive
from gruverify.laws.base import LawViolation
from gruverify.laws.carry_over import (
    complex_step_jacobian_of,
    law_carry_over_bounds,
    law_known_time_scale,
)
from gruverify.laws.gates import (
    close_reset_gate,
    law_closed_reset_gate,
    law_gate_bounds,
    law_gate_box_invariance,
    law_sequence_equals_unrolled_cell,
    numpy_gates,
)
from gruverify.laws.gradients import law_full_jacobian, law_gradient_finite_differences
from gruverify.laws.metamorphic import law_eval_without_dropout
from gruverify.laws.vanishing_ratio import (
    construct_update_bias,
    law_gru_vanishes_slower,
    law_rnn_gradient_bound,
    law_vanishing_ratio,
)
from gruverify.reference import torch_reference as tr
from gruverify.reference.implementations import NumpyReference, TorchReference
from gruverify.reference.numpy_reference import gru_forward, sigmoid
from gruverify.strategies import Config, make_case, with_update_bias

VARIANTS: tuple[Variant, ...] = ("reset_after", "reset_before")


def mutant_gates(mutation: str) -> Any:
    """A numpy GRU step (complex-safe) with one planted bug."""

    def gates(
        cell: GRUCellParams[np.ndarray], x: np.ndarray, h: np.ndarray, variant: Variant
    ) -> Mapping[str, Any]:
        c = cell
        if mutation == "naive_sigmoid":

            def sig(a: Any) -> Any:
                with np.errstate(all="ignore"):
                    return np.exp(a) / (1.0 + np.exp(a))
        elif mutation == "one_minus_sigmoid":

            def sig(a: Any) -> Any:  # 1 - sigmoid(-a) in float32: rounds onto 0 from a < -17
                s = np.asarray(sigmoid(-np.asarray(a)), dtype=np.float32)
                return np.asarray(np.float32(1.0) - s, dtype=np.float64)
        else:
            sig = sigmoid
        a_r = x @ c.W_ir.T + c.b_ir + h @ c.W_hr.T + c.b_hr
        a_z = x @ c.W_iz.T + c.b_iz + h @ c.W_hz.T + c.b_hz
        r = sig(a_r)
        if mutation == "flipped_reset":
            r = 1.0 - r
        z, omz = sig(a_z), sig(-a_z)
        if variant == "reset_after":
            a_n = x @ c.W_in.T + c.b_in + r * (h @ c.W_hn.T + c.b_hn)
        else:
            a_n = x @ c.W_in.T + c.b_in + (r * h) @ c.W_hn.T + c.b_hn
        n = np.tanh(a_n)
        if mutation == "flipped_update":
            h_new = z * n + omz * h
        elif mutation == "dropped_one_minus_z":
            h_new = n + z * h
        elif mutation == "not_carried":
            h_new = omz * n
        else:
            h_new = omz * n + z * h
        return {
            "a_r": a_r,
            "a_z": a_z,
            "a_n": a_n,
            "r": r,
            "z": z,
            "one_minus_z": omz,
            "n": n,
            "h": h_new,
        }

    return gates


class MutantTorch(TorchReference):
    """The torch reference with its step replaced (same stack driver)."""

    def __init__(self, step: Any, variant: Variant = "reset_after", dtype: str = "float64") -> None:
        super().__init__(variant, dtype)
        self.step = step
        self.name = f"mutant[{step.__name__}]"

    def _run(self, problem: Problem, requires_grad: bool) -> tuple[Any, ...]:
        dt = getattr(torch, self.dtype)
        p = tr.params_to_torch(problem.params, dt, "cpu", requires_grad)
        x = torch.tensor(problem.x, dtype=dt, requires_grad=requires_grad)
        h0 = None
        if problem.h0 is not None:
            h0 = torch.tensor(problem.h0, dtype=dt).requires_grad_(requires_grad)
        out, h_n = tr.run_stack(
            self.step, p, x, h0, self.variant, problem.batch_first, problem.lengths
        )
        return p, x, h0, out, h_n


def _torch_step(
    c: Any, x: Any, h: Any, variant: str, *, feed_back: bool = True, z_max: float = 1.0
) -> Any:
    hh = h if feed_back else torch.zeros_like(h)
    a_r = x @ c.W_ir.T + c.b_ir + hh @ c.W_hr.T + c.b_hr
    a_z = x @ c.W_iz.T + c.b_iz + hh @ c.W_hz.T + c.b_hz
    r = torch.sigmoid(a_r)
    a_n = x @ c.W_in.T + c.b_in + r * (hh @ c.W_hn.T + c.b_hn)
    z = torch.clamp(torch.sigmoid(a_z), max=z_max)
    return (1 - z) * torch.tanh(a_n) + z * hh


def no_feedback(c: Any, x: Any, h: Any, variant: str) -> Any:
    """burn#2701: h_{t-1} never fed back."""
    return _torch_step(c, x, h, variant, feed_back=False)


def clamped_update(c: Any, x: Any, h: Any, variant: str) -> Any:
    """A kernel that clamps z <= 0.9 (a 'fast sigmoid' range limit)."""
    return _torch_step(c, x, h, variant, z_max=0.9)


def _case(steps: int = 6, batch: int | None = 2, **kw: Any) -> Problem:
    cfg = Config(steps, batch, kw.pop("input_size", 3), kw.pop("hidden_size", 4), **kw)
    return make_case(cfg, "ordinary", "ordinary", 7).problem


# --- gate bounds ---------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_gate_bounds_catch_naive_sigmoid_nan(variant: Variant) -> None:
    problem = _case(steps=3)
    problem = dataclasses.replace(problem, x=problem.x * 3000.0)  # pre-activations beyond 709
    law_gate_bounds(problem, variant)  # the reference passes
    with pytest.raises(LawViolation, match="NaN"):
        law_gate_bounds(problem, variant, mutant_gates("naive_sigmoid"))


def test_gate_bounds_catch_rounding_onto_zero_inside_the_range() -> None:
    problem = make_case(Config(3, 2, 3, 4), "saturating", "ordinary", 3).problem
    law_gate_bounds(problem, "reset_after")
    with pytest.raises(LawViolation, match="end point below the rounding threshold"):
        law_gate_bounds(problem, "reset_after", mutant_gates("one_minus_sigmoid"), "float32")


# --- box invariance (gate level, every layer) ----------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_box_invariance_catches_dropped_one_minus_z(variant: Variant) -> None:
    problem = make_case(Config(6, 2, 3, 4, num_layers=2), "large", "ordinary", 7).problem
    law_gate_box_invariance(problem, variant)
    with pytest.raises(LawViolation, match="box invariance"):
        law_gate_box_invariance(problem, variant, mutant_gates("dropped_one_minus_z"))


# --- unrolled cell -------------------------------------------------------------------------


def test_unrolled_cell_catches_state_not_fed_back() -> None:
    problem = _case(steps=5)
    law_sequence_equals_unrolled_cell(TorchReference(), problem)
    with pytest.raises(LawViolation, match="unrolled cell"):
        law_sequence_equals_unrolled_cell(MutantTorch(no_feedback), problem)


# --- closed reset gate ---------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_closed_reset_gate_catches_flipped_reset(variant: Variant) -> None:
    params = close_reset_gate(random_gru_params(3, 4, rng=1))
    cell = params.cell(0)
    rng = np.random.default_rng(0)
    x, h1, h2 = rng.standard_normal((5, 3)), rng.uniform(-1, 1, (5, 4)), rng.uniform(-1, 1, (5, 4))
    law_closed_reset_gate(cell, x, h1, h2, variant)
    with pytest.raises(LawViolation, match="closed reset gate"):
        law_closed_reset_gate(cell, x, h1, h2, variant, mutant_gates("flipped_reset"))


def test_closed_reset_gate_catches_b_hn_placement() -> None:
    """Reset-after gates judged as reset-before: b_hn is where the other variant puts it."""
    cell = close_reset_gate(random_gru_params(3, 4, rng=1)).cell(0)
    rng = np.random.default_rng(0)
    x, h1, h2 = rng.standard_normal((5, 3)), rng.uniform(-1, 1, (5, 4)), rng.uniform(-1, 1, (5, 4))

    def after_as_before(c: Any, xx: Any, hh: Any, variant: Variant) -> Mapping[str, Any]:
        return numpy_gates(c, xx, hh, "reset_after")

    with pytest.raises(LawViolation, match="closed-gate candidate"):
        law_closed_reset_gate(cell, x, h1, h2, "reset_before", after_as_before)


# --- carry-over ----------------------------------------------------------------------------


@pytest.mark.parametrize("mutation", ["flipped_update", "dropped_one_minus_z"])
def test_carry_over_bounds_catch(mutation: str) -> None:
    problem = with_update_bias(_case(steps=8), 12.0)
    law_carry_over_bounds(problem, "reset_after")
    g = mutant_gates(mutation)
    with pytest.raises(LawViolation, match="carry-over"):
        law_carry_over_bounds(problem, "reset_after", g, complex_step_jacobian_of(g))


def rectified_state(c: Any, x: Any, h: Any, variant: str) -> Any:
    """The carried state through a ReLU (an activation applied to ``h`` before the update):
    exact wherever the state is positive, the carry-over lost where it is negative."""
    a_r = x @ c.W_ir.T + c.b_ir + h @ c.W_hr.T + c.b_hr
    a_z = x @ c.W_iz.T + c.b_iz + h @ c.W_hz.T + c.b_hz
    a_n = x @ c.W_in.T + c.b_in + torch.sigmoid(a_r) * (h @ c.W_hn.T + c.b_hn)
    z = torch.sigmoid(a_z)
    return (1 - z) * torch.tanh(a_n) + z * torch.relu(h)


@pytest.mark.parametrize("step", [clamped_update, no_feedback])
def test_known_time_scale_catches(step: Any) -> None:
    law_known_time_scale(TorchReference(), 50.0, 50)
    with pytest.raises(LawViolation, match="known time scale"):
        law_known_time_scale(MutantTorch(step), 50.0, 50)


def test_known_time_scale_draws_states_of_both_signs() -> None:
    """The law's initial state is drawn in (-1, 1): a state rectified before the update keeps
    ``dh_T/dh_0`` right for positive units only, and over 5 steps of ``z = 0.9`` a state that
    starts positive stays so; the negative units show it."""
    law_known_time_scale(TorchReference(), 10.0, 5)
    with pytest.raises(LawViolation, match="known time scale"):
        law_known_time_scale(MutantTorch(rectified_state), 10.0, 5)


# --- gradients -----------------------------------------------------------------------------


def _wrong_gradients(kind: str, variant: Variant) -> Any:
    ref = NumpyReference(variant)

    def grads(problem: Problem, d_out: Any, d_hn: Any) -> Gradients:
        g = ref.gradients(problem, d_out, d_hn)
        if kind == "dropped_b_hn":
            cell = g.dparams.cell(0, 0)
            dp = g.dparams.replace_cell(0, 0, cell.replace(b_hn=np.zeros_like(cell.b_hn)))
            return dataclasses.replace(g, dparams=dp)
        if kind == "scaled_dx":
            dx = np.array(g.dx, copy=True)
            dx.flat[0] *= 1.001
            return dataclasses.replace(g, dx=dx)
        dh0 = np.array(g.dh0, copy=True)  # "sign_dh0"
        dh0.flat[-1] *= -1.0
        return dataclasses.replace(g, dh0=dh0)

    return grads


@pytest.mark.parametrize(
    ("kind", "wrt"), [("dropped_b_hn", "params"), ("scaled_dx", "x"), ("sign_dh0", "h0")]
)
def test_gradient_finite_differences_catch_wrong_gradient(kind: str, wrt: Any) -> None:
    problem = _case(steps=4)
    law_gradient_finite_differences(problem, "reset_after", wrt)
    with pytest.raises(LawViolation, match="finite differences"):
        law_gradient_finite_differences(
            problem,
            "reset_after",
            wrt,
            gradients=_wrong_gradients(kind, "reset_after"),
            directions=6,
        )


@pytest.mark.parametrize(("kind", "wrt"), [("dropped_b_hn", "params"), ("scaled_dx", "x")])
def test_full_jacobian_catches_wrong_gradient(kind: str, wrt: Any) -> None:
    problem = _case(steps=2, batch=1, input_size=2, hidden_size=2)
    law_full_jacobian(problem, "reset_before", wrt)
    with pytest.raises(LawViolation, match="complex step"):
        law_full_jacobian(
            problem, "reset_before", wrt, gradients=_wrong_gradients(kind, "reset_before")
        )


# --- vanishing ratio -----------------------------------------------------------------------


def test_rnn_bound_catches_wrong_tanh_derivative() -> None:
    rng = np.random.default_rng(0)
    cell = random_rnn_params(3, 5, rng=rng, sigma_max=0.9, orthogonal=True).cell(0)
    x, h0 = rng.standard_normal((20, 2, 3)), rng.uniform(-1, 1, (2, 5))
    law_rnn_gradient_bound(cell, x, h0)

    def wrong(c: Any, xx: Any, hh: Any) -> Any:
        h_new = np.tanh(xx @ c.W_ih.T + c.b_ih + hh @ c.W_hh.T + c.b_hh)
        return (1.0 + h_new**2)[:, :, None] * c.W_hh[None]

    with pytest.raises(LawViolation, match="RNN gradient bound"):
        law_rnn_gradient_bound(cell, x, h0, wrong)


def test_vanishing_ratio_catches_flipped_update_gate() -> None:
    rng = np.random.default_rng(0)
    rnn = random_rnn_params(3, 5, rng=rng, sigma_max=0.9, orthogonal=True).cell(0)
    x, h0 = rng.standard_normal((30, 2, 3)), rng.uniform(-1, 1, (2, 5))
    gru = construct_update_bias(random_gru_params(3, 5, rng=rng).cell(0), 0.9, 4.0, "reset_after")
    law_vanishing_ratio(gru, rnn, x, h0, "reset_after")
    g = mutant_gates("flipped_update")
    with pytest.raises(LawViolation, match="vanishing ratio"):
        law_vanishing_ratio(
            gru, rnn, x, h0, "reset_after", gates=g, jacobian=complex_step_jacobian_of(g)
        )


def test_statistical_law_catches_state_not_carried() -> None:
    g = mutant_gates("not_carried")
    with pytest.raises(LawViolation, match="vanished as fast") as e:
        law_gru_vanishes_slower(
            20, range(20), hidden_size=16, gates=g, jacobian=complex_step_jacobian_of(g)
        )
    n = e.value.numbers
    assert (n["T"], n["seeds"], n["H"], n["variant"]) == (20, 20, 16, "reset_after"), n
    assert n["GRU median log10"] <= n["RNN median log10"], n


class _Dropping(NumpyReference):
    """The numpy reference; ``with_dropout(p)`` builds it with dropout ``p`` between layers, which
    ``applies_in_eval`` leaves on in eval mode (the planted bug: ``F.dropout`` without
    ``training=self.training``, a fixed mask from the seed: every call the same, as a law that
    compares two builds needs)."""

    def __init__(self, dropout: float = 0.0, applies_in_eval: bool = False) -> None:
        super().__init__()
        self.dropout, self.applies_in_eval = dropout, applies_in_eval

    def with_dropout(self, dropout: float) -> _Dropping:
        return _Dropping(dropout, self.applies_in_eval)

    def forward(self, problem: Problem) -> Outputs:
        if not (self.applies_in_eval and self.dropout > 0 and problem.num_layers > 1):
            return super().forward(problem)
        p = problem
        first = dataclasses.replace(p.params, cells=p.params.cells[:1])
        rest = dataclasses.replace(p.params, cells=p.params.cells[1:])
        D = p.params.num_directions
        h0 = None if p.h0 is None else np.asarray(p.h0)
        r1 = gru_forward(first, p.x, None if h0 is None else h0[:D], batch_first=p.batch_first)
        mask = np.random.default_rng(0).random(np.shape(r1.output)) >= self.dropout
        y = r1.output * mask / (1.0 - self.dropout)
        r2 = gru_forward(rest, y, None if h0 is None else h0[D:], batch_first=p.batch_first)
        return Outputs(r2.output, np.concatenate([r1.h_n, r2.h_n]))


def test_eval_without_dropout_catches_dropout_left_on_in_eval() -> None:
    """``f_dropout=0.5 == f_dropout=0`` in eval: a build whose dropout acts in eval mode fails
    (two layers), the correct build passes, and one layer has no dropout to leave on."""
    two = make_case(Config(4, 2, 3, 3, num_layers=2), "ordinary", "ordinary", 1).problem
    one = make_case(Config(4, 2, 3, 3), "ordinary", "ordinary", 1).problem
    law_eval_without_dropout(_Dropping(), two)
    law_eval_without_dropout(_Dropping(applies_in_eval=True), one)
    with pytest.raises(LawViolation, match="eval mode is free of dropout") as e:
        law_eval_without_dropout(_Dropping(applies_in_eval=True), two)
    assert e.value.formula == "eval(): f_dropout=0.5(x) == f_dropout=0(x)"
    with pytest.raises(Inconclusive, match="no with_dropout"):
        law_eval_without_dropout(NumpyReference(), two)
