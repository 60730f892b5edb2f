"""Long-range gradients: the ``gradient[long]`` check and its law against a cut backward pass.

``TruncatedBackward`` (the state detached every 16 steps: exact forward, truncated backward) passes
every short gradient check and ``forward[long]``; the long-range law fails it, passes the correct
modules, and is inconclusive where the reference's gradient does not reach step 0.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from gruverify.conformance.cases import Sizes
from gruverify.conformance.checks import CHECKS
from gruverify.conformance.runner import run_checks
from gruverify.core.problem import Gradients, Problem
from gruverify.error_model import Inconclusive
from gruverify.laws.base import LawViolation
from gruverify.laws.long_range import (
    final_step_cotangent,
    law_long_range_gradient,
    long_range_problem,
)
from gruverify.reference.implementations import NumpyReference
from gruverify.strategies import Config, make_case
from gruverify.targets.torch_module import TorchModuleTarget
from gruverify.zoo import ZooGRU
from gruverify.zoo import mutants as M


def _problem(cfg: Config, param_kind: str = "ordinary", input_kind: str = "ordinary") -> Problem:
    return make_case(cfg, param_kind, input_kind, 1).problem  # type: ignore[arg-type]


CONFIGS = [
    Config(33, 2, 3, 3),
    Config(40, 2, 3, 4, num_layers=2, bidirectional=True, batch_first=True),
    Config(65, None, 3, 4),
]


class NoDh0(NumpyReference):
    """The reference with ``dh0`` lost (what a backward that restarts from zeros gives)."""

    def gradients(self, problem: Problem, d_output: object, d_h_n: object) -> Gradients:
        g = super().gradients(problem, d_output, d_h_n)  # type: ignore[arg-type]
        return dataclasses.replace(g, dh0=np.zeros_like(g.dh0))


@pytest.mark.parametrize("cfg", CONFIGS, ids=range(len(CONFIGS)))
def test_law_passes_correct_modules_and_catches_a_cut(cfg: Config) -> None:
    p = _problem(cfg)
    law_long_range_gradient(TorchModuleTarget(torch.nn.GRU), p)
    law_long_range_gradient(TorchModuleTarget(ZooGRU), p)
    law_long_range_gradient(NumpyReference(), p)
    with pytest.raises(LawViolation, match="long-range gradient"):
        law_long_range_gradient(TorchModuleTarget(M.TruncatedBackward), p)
    with pytest.raises(LawViolation, match="dh0"):
        law_long_range_gradient(NoDh0(), p)


def test_cut_at_the_first_steps_is_named() -> None:
    """Without ``h0`` the cut shows in ``dx`` at the first step, which the message names."""
    p = _problem(Config(40, 2, 3, 3, initial_state=False))
    with pytest.raises(LawViolation, match="dx at the first step"):
        law_long_range_gradient(TorchModuleTarget(M.TruncatedBackward), p)


def test_inconclusive_where_the_gradient_does_not_reach_step_zero() -> None:
    p = _problem(Config(40, 2, 5, 7), "large", "large")
    with pytest.raises(Inconclusive, match="does not reach step 0"):
        law_long_range_gradient(TorchModuleTarget(ZooGRU), p)


def test_final_step_cotangent_is_on_each_directions_last_step() -> None:
    p = _problem(Config(6, 2, 3, 4, bidirectional=True, batch_first=True))
    d = final_step_cotangent(p)
    assert d.shape == (2, 6, 8)
    nonzero = {(t, half) for t in range(6) for half in (0, 1)
               if np.any(d[:, t, 4 * half : 4 * half + 4])}  # fmt: skip
    assert nonzero == {(5, 0), (0, 1)}
    assert np.array_equal(d, final_step_cotangent(p))


def test_long_range_problem_raises_the_update_bias() -> None:
    p = _problem(Config(33, 2, 3, 3))
    q = long_range_problem(p)
    offset = q.params.cell(0, 0).b_iz - p.params.cell(0, 0).b_iz
    assert np.allclose(offset, np.log(33) + 1.0)
    with pytest.raises(ValueError, match="needs biases"):
        long_range_problem(_problem(Config(33, 2, 3, 3, bias=False)))


def test_pinned_case_is_past_a_power_of_two_of_max_steps() -> None:
    check = next(c for c in CHECKS if c.name == "gradient[long]")
    caps = TorchModuleTarget(ZooGRU).capabilities
    assert [c.config.steps for c in check.pinned_cases(caps)] == [33]
    assert [c.config.steps for c in check.pinned_cases(caps, Sizes(steps=300))] == [257]
    assert [c.config.steps for c in check.pinned_cases(caps, Sizes(steps=1000))] == [513]
    assert check.pinned_cases(caps, Sizes(steps=20)) == []
    assert [Sizes(steps=s).long_pinned_steps() for s in (None, 64, 65, 130)] == [33, 33, 65, 129]


def test_only_the_long_check_sees_the_truncated_backward() -> None:
    """The short gradient checks and forward[long] pass the mutant; gradient[long] fails it."""
    names = ["gradient[output]", "gradient[h_n]", "gradient[output+h_n]", "forward[long]",
             "gradient[long]"]  # fmt: skip
    report = run_checks("gruverify.zoo.mutants:TruncatedBackward", device="cpu", checks=names)
    status = {c.name: c.status for c in report.checks}
    assert status == {**{n: "passed" for n in names[:-1]}, "gradient[long]": "failed"}, status


class OneStepTooMany(NumpyReference):
    """The reference with ``dx`` one step too long."""

    def gradients(self, problem: Problem, d_output: object, d_h_n: object) -> Gradients:
        g = super().gradients(problem, d_output, d_h_n)  # type: ignore[arg-type]
        return dataclasses.replace(g, dx=np.concatenate([g.dx, g.dx[:1]]))


def test_a_wrongly_shaped_gradient_is_a_violation_of_the_law_naming_the_quantity() -> None:
    p = _problem(CONFIGS[0])
    with pytest.raises(LawViolation) as e:
        law_long_range_gradient(OneStepTooMany(), p)
    v = e.value
    assert v.law == "long-range gradient" and v.formula.startswith("dL/dq = dL/dq_ref"), str(v)
    assert v.numbers == {"quantity": "dx"}, v.numbers
    assert v.detail == "dx has shape (34, 2, 3), expected (33, 2, 3)", v.detail
    assert v.case == long_range_problem(p).describe(), v.case


def test_a_cut_names_the_steps_it_crossed() -> None:
    p = _problem(CONFIGS[0])
    with pytest.raises(LawViolation) as e:
        law_long_range_gradient(NoDh0(), p)
    assert e.value.numbers["steps"] == 33 and e.value.numbers["quantity"] == "dh0", e.value.numbers
    assert e.value.case == long_range_problem(p).describe()


def test_a_gradient_that_reaches_only_h0_is_conclusive() -> None:
    """``dh0`` alone above ``REACH`` tolerances makes a case conclusive; without an ``h0`` it
    does not count."""
    from gruverify.laws.long_range import REACH, _reach

    p = long_range_problem(_problem(CONFIGS[0]))
    tols = {"dx": 1.0, "dh0": 1.0}
    dx, dh0 = np.zeros_like(p.x), np.full_like(p.h0, 2 * REACH)
    _reach(p, dx, dh0, tols)  # conclusive: dh0 reaches
    with pytest.raises(Inconclusive, match="does not reach step 0"):
        _reach(dataclasses.replace(p, h0=None), dx, dh0, tols)
    with pytest.raises(Inconclusive):
        _reach(p, dx, np.full_like(p.h0, REACH / 2), tols)
