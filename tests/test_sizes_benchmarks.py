"""Smoke tests of issue 13's benchmarks at minimal sizes: what their figures rest on, no timings.

- ``check_ratio.side_by_side`` runs both commands and divides medians;
- ``cost_model`` times every part and fits an exponent (exactly, on synthetic data);
- ``scale_calibration`` judges correct GRUs in each arithmetic with no false alarm, and a planted
  weight change with a ratio above 1;
- ``python -m benchmarks`` leaves the hour-long ``scale`` out unless it is named.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import check_ratio, cost_model, run, scale_calibration


def test_side_by_side_divides_the_medians() -> None:
    r = check_ratio.side_by_side(("--check", "forward[basic]", "--no-isolate", "--profile",
                                  "quick"), repeats=1)  # fmt: skip
    assert r["exit"] == [0]
    assert r["ratio_wall"] == pytest.approx(r["check_wall"] / r["torch_wall"])
    assert r["ratio_cpu"] == pytest.approx(r["check_cpu"] / r["torch_cpu"])


def test_cost_model_times_every_part_and_fits_exponents() -> None:
    m = cost_model.measure(cost_model.Size(4, 3, 2), memory=True)
    assert set(m) == set(cost_model.PARTS)
    assert all(v["seconds"] > 0 and v["peak_bytes"] > 0 for v in m.values())
    assert cost_model.fit_exponent([10, 20, 40], [1.0, 4.0, 16.0]) == pytest.approx(2.0)


@pytest.mark.parametrize("arith", scale_calibration.ARITHMETICS)
def test_scale_calibration_judges_correct_grus_without_false_alarm(arith: str) -> None:
    problem = scale_calibration._problem(scale_calibration.Scale(6, 5, 3), "ordinary", seed=0)
    r = scale_calibration.judge_forward(arith, problem)
    assert r["ratio"] <= 1.0 and r["tol_s"] > 0 and r["peak_mb"] > 0


def test_scale_calibration_sees_a_planted_change() -> None:
    from gruverify.reference.implementations import TorchReference

    problem = scale_calibration._problem(scale_calibration.Scale(6, 5, 3), "ordinary", seed=0)
    assert scale_calibration.judge_gradients("float32", problem)["ratio"] <= 1.0
    c = problem.params.cell(0, 0)
    bad = dataclasses.replace(
        problem, params=problem.params.replace_cell(0, 0, c.replace(W_hn=c.W_hn * (1 + 1e-3)))
    )
    model_ref = scale_calibration.judge_forward("float32", problem)
    assert model_ref["ratio"] <= 1.0
    from gruverify.error_model import ARITHMETICS, ErrorModel

    ref, tol = ErrorModel(ARITHMETICS["float32"]).forward(problem, "reset_after")
    got = TorchReference(dtype="float32").forward(bad)
    assert abs(got.output - ref.output).max() > tol.output


def test_the_hour_long_benchmark_runs_only_by_name() -> None:
    assert "scale" in run.BENCHMARKS and "scale" in run.ONLY_BY_NAME
    assert {"ratio", "cost"} <= set(run.BENCHMARKS) - run.ONLY_BY_NAME
