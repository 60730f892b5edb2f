"""The error model is the one home of every tolerance rule, and of no equation.

- the numpy reference's step is ``gru_gates`` then ``gru_update``, and the error model's rounding
  step composes those two (a planted wrong ``gru_update`` changes its tolerances: no second copy
  of ``h' = (1 - z) n + z h`` lives there);
- every law that checks an exact identity or bound takes its slack from the error model's named
  rule: replacing the rule by a negative tolerance makes the law fail on a correct computation
  that passes with the real rule (so the law has no formula of its own left);
- every rule is documented: its formula, the law that uses it, and why.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from gruverify import error_model
from gruverify.analysis import bound_checks
from gruverify.analysis.vanishing import make_params, parse_model, seed_curve
from gruverify.core.params import random_gru_params, random_rnn_params
from gruverify.core.problem import Problem
from gruverify.error_model import ARITHMETICS, ErrorModel
from gruverify.laws import carry_over, equivalence, gates, gradients, metamorphic, vanishing_ratio
from gruverify.laws.base import LawViolation
from gruverify.reference import numpy_reference as nr
from gruverify.reference.implementations import NumpyReference, TorchReference
from gruverify.strategies import Config, make_case

RULES = (
    "agreement_tolerance",
    "box_slack",
    "closed_gate_slack",
    "carry_over_slack",
    "known_time_scale_tolerance",
    "carried_state_tolerance",
    "complex_step_tolerance",
    "richardson_tolerance",
    "full_jacobian_tolerance",
    "jacobian_product_slack",
    "study_product_slack",
)


def _problem(steps: int = 4, batch: int | None = 2, **kw: Any) -> Problem:
    cfg = Config(steps, batch, kw.pop("input_size", 3), kw.pop("hidden_size", 4), **kw)
    return make_case(cfg, "ordinary", "ordinary", 7).problem


# --- the rounding step is the reference's --------------------------------------------------


def test_gru_step_is_gates_then_update() -> None:
    cell = random_gru_params(3, 4, rng=0).cell(0)
    rng = np.random.default_rng(1)
    x, h = rng.standard_normal((2, 3)), rng.uniform(-1, 1, (2, 4))
    for variant in ("reset_after", "reset_before"):
        h_new, trace = nr.gru_step(cell, x, h, variant)
        g = nr.gru_gates(cell, x, h, variant)
        assert np.array_equal(h_new, nr.gru_update(g, h))
        assert np.array_equal(h_new, g["one_minus_z"] * g["n"] + g["z"] * h)
        assert set(trace) == {*g, "h_prev", "h"}


def test_rounding_step_composes_the_reference_update(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every perturbed run of the error model steps through the reference's ``gru_update`` (the
    exact run does too): ``(1 + draws) T`` calls for one layer and direction, not ``T``. (A seed no
    other test uses, so no cached result answers instead.)"""
    problem = _problem(steps=6)
    model = ErrorModel(ARITHMETICS["float32"], seed=20_251)
    calls = []
    update = nr.gru_update

    def spy(g: Any, h: np.ndarray) -> np.ndarray:
        calls.append(1)
        return update(g, h)

    monkeypatch.setattr(nr, "gru_update", spy)
    _, tol = model.forward(problem, "reset_after")
    assert len(calls) == (1 + model.draws) * 6
    assert 0.0 < tol.output < 1e-5


# --- each law takes its slack from the error model -------------------------------------------


def _gate_box_invariance() -> None:
    gates.law_gate_box_invariance(_problem(steps=4), "reset_after")


def _box_invariance() -> None:
    metamorphic.law_box_invariance(NumpyReference(), _problem(steps=4))


def _closed_reset_gate() -> None:
    cell = gates.close_reset_gate(random_gru_params(3, 4, rng=1)).cell(0)
    rng = np.random.default_rng(0)
    x, h1, h2 = rng.standard_normal((5, 3)), rng.uniform(-1, 1, (5, 4)), rng.uniform(-1, 1, (5, 4))
    gates.law_closed_reset_gate(cell, x, h1, h2, "reset_after")


def _carry_over_bounds() -> None:
    carry_over.law_carry_over_bounds(_problem(steps=5), "reset_after")


def _known_time_scale() -> None:
    carry_over.law_known_time_scale(TorchReference(), 10.0, 10)


def _carried_state() -> None:
    metamorphic.law_carry_over(NumpyReference(), _problem(steps=5))


def _h0_none_is_zeros() -> None:
    metamorphic.law_h0_none_is_zeros(NumpyReference(), _problem(steps=3))


def _device_agreement() -> None:
    equivalence.law_device_agreement(NumpyReference(), TorchReference(), _problem(steps=3))


def _finite_differences() -> None:
    gradients.law_gradient_finite_differences(_problem(steps=3), "reset_after", "x")


def _full_jacobian() -> None:
    problem = _problem(steps=2, batch=1, input_size=2, hidden_size=2)
    gradients.law_full_jacobian(problem, "reset_before", "x")


def _rnn_gradient_bound() -> None:
    rng = np.random.default_rng(0)
    cell = random_rnn_params(3, 5, rng=rng, sigma_max=0.9, orthogonal=True).cell(0)
    x, h0 = rng.standard_normal((20, 2, 3)), rng.uniform(-1, 1, (2, 5))
    vanishing_ratio.law_rnn_gradient_bound(cell, x, h0)


def _study_bounds() -> None:
    """An RNN curve measured exactly at its upper bound: within the slack, beyond it without."""
    spec = parse_model("rnn:sigma=0.9")
    params = make_params(spec, 3, 5, np.random.default_rng((0, 0)))
    rng = np.random.default_rng((0, 1))
    curve = seed_curve(spec, params, rng.standard_normal((7, 3)), rng.standard_normal(5), (1, 3, 7))
    at_bound = dataclasses.replace(curve, log10_norm=curve.log10_upper.copy())
    violations, _, _ = bound_checks.check_bounds([at_bound])
    if violations:
        raise LawViolation("study bound", "||P_T|| <= sigma^T", str(violations[0]), {}, "")


def _negative(*args: Any) -> Any:
    """A rule that allows less than nothing: -1 (in the shape of its first argument)."""
    return -np.ones_like(args[0], dtype=np.float64) if np.ndim(args[0]) else -1.0


def _tight(*args: Any) -> float:
    """A relative slack below nothing that still keeps ``log10(1 + s)`` finite."""
    return -1e-3


# (module the law lives in, rule, a law call that passes on correct code)
CASES: tuple[tuple[Any, str, Callable[[], None]], ...] = (
    (metamorphic, "agreement_tolerance", _h0_none_is_zeros),
    (equivalence, "agreement_tolerance", _device_agreement),
    (gates, "box_slack", _gate_box_invariance),
    (metamorphic, "box_slack", _box_invariance),
    (gates, "closed_gate_slack", _closed_reset_gate),
    (carry_over, "carry_over_slack", _carry_over_bounds),
    (carry_over, "known_time_scale_tolerance", _known_time_scale),
    (metamorphic, "carried_state_tolerance", _carried_state),
    (gradients, "complex_step_tolerance", _finite_differences),
    (gradients, "richardson_tolerance", _finite_differences),
    (gradients, "full_jacobian_tolerance", _full_jacobian),
    (vanishing_ratio, "jacobian_product_slack", _rnn_gradient_bound),
    (bound_checks, "study_product_slack", _study_bounds),
)


@pytest.mark.parametrize(
    ("module", "rule", "law"),
    CASES,
    ids=[f"{c[0].__name__.rsplit('.', 1)[1]}.{c[1]}" for c in CASES],
)
def test_law_takes_its_slack_from_the_error_model(
    module: Any, rule: str, law: Callable[[], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert getattr(module, rule) is getattr(error_model, rule)
    law()  # correct code passes with the rule
    monkeypatch.setattr(module, rule, _tight if rule == "study_product_slack" else _negative)
    with pytest.raises(LawViolation):
        law()


def test_every_rule_is_tested_and_documented() -> None:
    assert sorted(RULES) == sorted({c[1] for c in CASES})
    for name in RULES:
        assert name in error_model.__all__
        assert name in (error_model.__doc__ or ""), f"the module docstring does not name {name}"
        doc = inspect.getdoc(getattr(error_model, name)) or ""
        # the law that uses it, the formula (an indented line), and a reason beyond that
        assert "gruverify." in doc or "law_" in doc, f"{name}: which law uses it?"
        assert "\n    " in "\n" + doc.replace("\n\n", "\n"), f"{name}: no formula line"
        assert len(doc) > 300, f"{name}: say why the rule has its size"
