"""Declared arithmetic (issue 11): a target may declare the error of its activations, and that
declaration widens the tolerances by what it allows and no more.

The targets (tests/activation_targets.py) are the zoo's explicit GRU with every sigmoid and tanh
value off by ``planted * sin(a)``:

- declared = planted (1e-4): every check passes (forward, multilayer, saturated, gradients, box,
  carry-over), on two seeds; without the declaration the same GRU fails;
- planted five times the declaration: still flagged, by forward[basic] itself, on two seeds;
- the declaration by class attribute, adapter field (``activation_error``) and the command line
  (``--activation-error``), printed in the report; a bad one is a usage error;
- the error model: no declaration, no change (bit-identical tolerances); a declaration adds a
  term that grows with it.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from activation_targets import DECLARED, DeclaredWithinBound, PlantedFiveTimes
from cli_support import run_main

from gruverify.conformance import run_checks
from gruverify.conformance.report import Report
from gruverify.core.params import random_gru_params
from gruverify.core.problem import Problem
from gruverify.error_model import ARITHMETICS, ErrorModel, arithmetic_of
from gruverify.laws.equivalence import cotangents
from gruverify.pytest_plugin import run_one_check
from gruverify.targets import resolve_target

CHECKS = ["forward[basic]", "forward[multilayer]", "forward[saturated]", "gradient[output]",
          "box invariance", "carry-over"]  # fmt: skip


def _run(name: str, checks: list[str], seed: int, **kw: object) -> Report:
    return run_checks(f"activation_targets:{name}", device="cpu", dtype="float32", profile="ci",
                      seed=seed, checks=checks, **kw)  # type: ignore[arg-type]  # fmt: skip


def _statuses(report: Report) -> dict[str, str]:
    return {c.name: c.status for c in report.checks}


@pytest.mark.parametrize("seed", [0, 1])
def test_a_declared_error_within_its_bound_passes(seed: int) -> None:
    report = _run("DeclaredWithinBound", CHECKS, seed)
    assert set(_statuses(report).values()) == {"passed"}, report.render()
    assert (
        report.arithmetic["cpu"] == "float32 (u = 5.96e-08), activations within 0.0001 (declared)"
    )


def test_the_same_error_undeclared_fails() -> None:
    report = _run("ApproximateGRU", ["forward[basic]", "gradient[output]"], 0)
    assert _statuses(report) == {"forward[basic]": "failed", "gradient[output]": "failed"}


@pytest.mark.parametrize("seed", [0, 1])
def test_a_planted_error_five_times_the_declared_one_is_flagged(seed: int) -> None:
    report = _run("PlantedFiveTimes", ["forward[basic]", "gradient[output]", "carry-over"], seed)
    assert set(_statuses(report).values()) == {"failed"}, report.render()
    assert "activations within 0.0001 (declared)" in report.checks[0].message


def test_the_command_line_declares_it_and_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["check", "activation_targets:ApproximateGRU", "--check", "forward[basic]"]
    code, out, err = run_main(capsys, *args, "--activation-error", "1e-4")
    assert code == 0, out + err
    assert "activations within 0.0001 (declared)" in out
    code, out, err = run_main(capsys, *args, "--activation-error", "0")  # overrides: none
    assert code == 1, out + err


def test_the_command_line_overrides_the_class(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "check", "activation_targets:DeclaredWithinBound",
                              "--check", "forward[basic]", "--activation-error", "0")  # fmt: skip
    assert code == 1 and "FAIL" in out, out + err


def test_a_bad_declaration_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "check", "activation_targets:BadDeclaration")
    assert code == 2, out + err
    assert "gruverify_activation_error must be a number, got 'small'" in err


def test_an_adapter_declares_it_as_a_field() -> None:
    impl = resolve_target("activation_targets:ApproximateGRU")
    assert arithmetic_of(impl) == ARITHMETICS["float32"]
    impl.activation_error = DECLARED  # type: ignore[attr-defined]
    assert arithmetic_of(impl).activation_error == DECLARED
    report = run_checks(impl, checks=["forward[basic]"], profile="ci", seed=0)
    assert report.verdict == "pass", report.render()


def test_the_plugin_reads_a_class_objects_declaration() -> None:
    run_one_check(DeclaredWithinBound, "forward[basic]")
    with pytest.raises(pytest.fail.Exception, match="forward equivalence violated"):
        run_one_check(PlantedFiveTimes, "forward[basic]")


def test_no_declaration_leaves_the_tolerances_bit_identical() -> None:
    problem = Problem(random_gru_params(3, 4, num_layers=2, rng=1),
                      np.random.default_rng(1).normal(size=(5, 2, 3)))  # fmt: skip
    d_out, d_hn = cotangents(problem, "both")
    plain = ErrorModel(ARITHMETICS["float32"])
    zero = ErrorModel(dataclasses.replace(ARITHMETICS["float32"], activation_error=0.0))
    assert plain.forward(problem, "reset_after")[1] == zero.forward(problem, "reset_after")[1]
    assert (plain.backward(problem, "reset_after", d_out, d_hn)[1]
            == zero.backward(problem, "reset_after", d_out, d_hn)[1])  # fmt: skip
    tols = [
        ErrorModel(dataclasses.replace(ARITHMETICS["float32"], activation_error=e)).forward(
            problem, "reset_after")[1].output
        for e in (0.0, 1e-4, 2e-4)
    ]  # fmt: skip
    added = [t - tols[0] for t in tols[1:]]
    assert added[0] > 100 * tols[0] and added[1] == pytest.approx(2 * added[0], rel=0.01)
