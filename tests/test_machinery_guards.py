"""Two guards of the checker, in-process and fast (in the mutation-testing selection):

- **a timeout is never a rejected bad input.** ``law_rejects_bad_initial_state`` counts only an
  exception of the target as a rejection: a call that timed out or a worker that died (the
  guard's ``CallTimeout`` / ``TargetDied``, both ``LawViolation``) is raised as what it is, an
  output contract broken by the answer means the state was accepted, and a plain exception is a
  rejection;
- **a declared activation error reaches an isolated worker.** A class's
  ``gruverify_activation_error`` is read where the target is built (the worker: ``describe``
  sends its arithmetic), an ``IsolatedTarget`` made from that description has it
  (``arithmetic_of``), and a run's ``--activation-error`` (``Declaration.apply``) overrides it on
  the checker's side, where the error model widens its tolerances by it.

The end-to-end versions (a real worker, a hanging target) are in tests/test_isolation.py.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gruverify.core.problem import Gradients, Outputs, Problem
from gruverify.error_model import ErrorModel, arithmetic_of
from gruverify.guard import CallTimeout, TargetDied
from gruverify.isolation.client import IsolatedTarget
from gruverify.isolation.worker import describe
from gruverify.laws.base import LawViolation
from gruverify.laws.metamorphic import law_rejects_bad_initial_state
from gruverify.reference.implementations import NumpyReference
from gruverify.strategies import Config, make_case
from gruverify.targets.declaration import Declaration


def _problem() -> Problem:
    return make_case(Config(3, 2, 2, 3, num_layers=2), "ordinary", "ordinary", 0).problem


class _OnBadState:
    """The numpy reference, except that a wrong-shaped h0 raises ``error``."""

    name, variant, dtype, device = "on-bad-h0", "reset_after", "float64", "cpu"
    capabilities = NumpyReference().capabilities

    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.calls = 0

    def forward(self, problem: Problem) -> Outputs:
        good = NumpyReference().forward(dataclasses.replace(problem, h0=None))
        if problem.h0 is not None and problem.h0.shape != good.h_n.shape:
            self.calls += 1
            raise self.error
        return good

    def gradients(self, problem: Problem, d_output: object, d_h_n: object) -> Gradients:
        raise NotImplementedError


@pytest.mark.parametrize(
    "error",
    [CallTimeout("f.forward", 1.0), TargetDied("f.forward", "killed by SIGSEGV")],
    ids=["timeout", "death"],
)
def test_a_timeout_or_a_death_is_never_a_rejection(error: LawViolation) -> None:
    impl = _OnBadState(error)
    with pytest.raises(type(error)) as raised:
        law_rejects_bad_initial_state(impl, _problem())
    assert raised.value is error and impl.calls == 1  # raised at the first bad shape, as is


def test_a_plain_exception_is_a_rejection_and_a_broken_contract_an_acceptance() -> None:
    rejecting = _OnBadState(RuntimeError("Expected hidden size (2, 2, 3)"))
    law_rejects_bad_initial_state(rejecting, _problem())
    assert rejecting.calls >= 4  # every wrong shape was tried, each rejected
    contract = LawViolation(
        "output contract",
        "forward returns (output, h_n) of the right shapes",
        "h_n has 1 row, expected 2",
        {"quantity": "h_n"},
    )
    with pytest.raises(LawViolation, match=r"was accepted.*h_n has 1 row") as raised:
        law_rejects_bad_initial_state(_OnBadState(contract), _problem())
    assert raised.value.law == "bad initial state rejected"


class _Declaring(NumpyReference):
    gruverify_activation_error = 1e-3

    def __init__(self) -> None:
        super().__init__()
        self.activation_error = self.gruverify_activation_error


def _isolated(info: dict[str, object]) -> IsolatedTarget:
    return IsolatedTarget(None, None, None, info)  # type: ignore[arg-type]


def test_a_declared_activation_error_reaches_a_worker_built_target() -> None:
    info = describe(_Declaring())
    assert info["arithmetic"]["activation_error"] == 1e-3  # type: ignore[index]
    remote = _isolated(info)
    assert arithmetic_of(remote).activation_error == 1e-3
    undeclared = _isolated(describe(NumpyReference()))
    assert arithmetic_of(undeclared).activation_error == 0.0


def test_a_runs_activation_error_overrides_on_the_checkers_side_and_widens_tolerances() -> None:
    remote = _isolated(describe(_Declaring()))
    Declaration(activation_error=2e-3).apply([remote])
    assert arithmetic_of(remote).activation_error == 2e-3
    p = _problem()
    wide = ErrorModel(arithmetic_of(remote)).forward(p, "reset_after")[1]
    plain = ErrorModel(arithmetic_of(_isolated(describe(NumpyReference())))).forward(
        p, "reset_after"
    )[1]
    assert wide.output > plain.output + 1e-4, (wide.output, plain.output)
    assert np.isfinite(wide.output)
