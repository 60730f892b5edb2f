"""Smoke tests of the benchmarks: each measurement runs at a minimal size and returns numbers.

No timing is asserted (timings belong to ``python -m benchmarks``); what is asserted is what a
benchmark's figures rest on: the counted evaluations, that planted bugs are caught and correct
modules pass, that the perturbed GRU is exact at eps = 0, that the bisection finds a threshold.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import check_time, detection, gradient_cost, reference_speed, sensitivity
from benchmarks.common import Table, counting_law, no_shrink

TINY = gradient_cost.Config(T=3, B=1, I=2, H=2, L=1)


def test_table_renders_text_and_markdown() -> None:
    t = Table("t", ["a", "b"])
    t.add("x", 1.23456)
    t.add("y", None)
    assert "1.23" in t.text() and "| y | - |" in t.markdown()
    with pytest.raises(ValueError, match="1 cells, expected 2"):
        t.add("only one")


def test_check_time_runs_the_cli_and_reads_per_check_seconds() -> None:
    r = check_time.measure_cli("quick", checks=["forward[basic]"], device="cpu")
    assert r["verdict"] == "pass" and r["wall_s"] >= r["checker_s"] > 0
    (c,) = r["checks"]
    assert c["name"] == "forward[basic]" and c["cases"] > 0 and c["seconds"] > 0


def test_gruverify_gradient_verdict_catches_a_gradient_only_bug_in_one_pass() -> None:
    problem = gradient_cost.make_problem(TINY)
    bad = gradient_cost.gruverify_verdict("BackwardDropsUpdateGatePath", problem, repeats=1)
    good = gradient_cost.gruverify_verdict("torch.nn.GRU", problem, repeats=1)
    assert bad.caught and not good.caught, (bad, good)
    assert (bad.forwards, bad.backwards) == (1, 1) and bad.seconds > 0


def test_gradcheck_verdict_counts_its_evaluations() -> None:
    problem = gradient_cost.make_problem(TINY)
    slow = gradient_cost.gradcheck_verdict("torch.nn.GRU", problem, fast=False)
    fast = gradient_cost.gradcheck_verdict("torch.nn.GRU", problem, fast=True)
    n_in = 3 * 1 * 2 + 1 * 1 * 2 + 3 * 2 * (2 + 2 + 2)  # x, h0, parameters
    assert not slow.caught and not fast.caught
    assert slow.forwards >= 2 * n_in and slow.backwards >= 3 * 1 * 2 + 2
    assert 0 < fast.forwards < slow.forwards
    caught = gradient_cost.gradcheck_verdict("BackwardDropsUpdateGatePath", problem, fast=False)
    assert caught.caught


def test_reference_speed_measures_both_implementations() -> None:
    r = reference_speed.measure_in_process(3, 2, 2, 3, repeats=1)
    assert set(r) == {"np_fwd", "np_both", "torch_fwd", "torch_both"}
    assert all(math.isfinite(v) and v > 0 for v in r.values())


def test_perturbed_gru_is_exact_at_zero_and_off_by_eps_in_its_block() -> None:
    torch.manual_seed(0)
    x = torch.randn(4, 2, 3, dtype=torch.float64)
    base = torch.nn.GRU(3, 5, 2).double()
    outs = {}
    for eps in (0.0, 1e-3):
        m = sensitivity.perturbed_gru("W_hn", eps)(3, 5, 2).double()
        m.load_state_dict(base.state_dict())
        with torch.no_grad():
            outs[eps] = m(x)[0]
        assert torch.equal(m.weight_hh_l0, base.weight_hh_l0)  # stored weights untouched
    with torch.no_grad():
        ref = base(x)[0]
    assert torch.equal(outs[0.0], ref)
    assert 0 < float((outs[1e-3] - ref).abs().max()) < 1e-2
    with pytest.raises(ValueError, match="unknown block"):
        sensitivity.perturbed_gru("W_xx", 0.1)


def test_sensitivity_flags_a_large_perturbation_and_passes_none() -> None:
    checks = ["forward[basic]"]
    assert sensitivity.checker_flags("b_hn", 1e-1, "float64", "cpu", checks) == "forward[basic]"
    assert sensitivity.checker_flags("b_hn", 0.0, "float64", "cpu", checks) is None
    assert sensitivity.anchor_flags("b_hn", 1e-1, "float64", "cpu", 1e-3, 1e-7, checks)
    assert not sensitivity.anchor_flags("b_hn", 0.0, "float64", "cpu", 1e-3, 1e-7, checks)


def test_ladder_bisects_to_the_smallest_flagged_grid_value() -> None:
    grid = sensitivity.GRID
    for threshold in (grid[0], grid[7], grid[-1]):
        rung = sensitivity.ladder(lambda e, t=threshold: "hit" if e >= t else None, grid)
        assert rung.eps == threshold and rung.by == "hit" and not rung.false_alarm
        assert rung.evaluations <= 2 + math.ceil(math.log2(len(grid) + 1))
    assert sensitivity.ladder(lambda e: None, grid).eps is None
    assert sensitivity.ladder(lambda e: True, grid).false_alarm


def test_detection_counts_examples_until_the_first_failure() -> None:
    first, budget, seconds, status = detection.examples_to_failure(
        "GateOrderZRN", "forward[basic]", seed=0
    )
    assert status == "failed" and first is not None and 1 <= first <= budget
    assert seconds is not None and seconds > 0
    # the zoo's correct base module (importable from the mutants' module) is never flagged
    first, budget, _, status = detection.examples_to_failure("ZooGRU", "forward[basic]", seed=0)
    assert status == "passed" and first is None and budget > 0


def test_counting_law_and_no_shrink_wrap_the_runner_from_outside() -> None:
    from gruverify.conformance import runner

    before = dict(runner.SHRINK_SECONDS)
    with no_shrink():
        assert all(v == 0.0 for v in runner.SHRINK_SECONDS.values())
    assert before == runner.SHRINK_SECONDS

    def law(impl: object, problem: object, model: object) -> None:
        if np.shape(getattr(problem, "x", ()))[0] > 0:
            raise AssertionError("always fails")

    wrapped, counter = counting_law(law)
    for _ in range(2):
        with pytest.raises(AssertionError):
            wrapped(None, type("P", (), {"x": np.zeros(1)})(), None)
    assert counter.calls == 2 and counter.first_failure == 1
