"""The Paddle target (``paddle.nn.GRU``, CPU, float32) against the float64 reference.

Laws: forward within the float32 error model's tolerance over layers, directions, batch_first,
h0=None, lengths; gradients likewise wherever Paddle gets them right; against the reset-before
reference it fails. Findings (paddlepaddle 3.3.1, CPU), reproduced: the gradients of a
bidirectional GRU given ``sequence_length`` are wrong (Paddle's own forward, differenced, agrees
with the reference, its backward does not); ``bias_ih_attr=bias_hh_attr=False`` crashes the
process (run in a subprocess here), so the target declares ``bias_false`` missing.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

pytest.importorskip("paddle", reason="paddlepaddle is an optional dependency")

from test_targets_external import (
    BUG_MIN,
    assert_computes_its_variant,
    assert_forward_matches,
    gradient_errors,
    make_problem,
)

from gruverify.targets.paddle_target import PaddleGRUTarget

CASES = {
    "basic": {},
    "bidirectional-3-layers": {"I": 2, "H": 3, "layers": 3, "bidirectional": True},
    "no-h0-batch-first": {"I": 2, "H": 3, "h0": False, "batch_first": True},
    "lengths-2-layers": {"layers": 2, "lengths": [5, 2, 3]},
    "batch-1-T-1": {"B": 1, "T": 1, "seed": 3},
}
REVERSE_WITH_LENGTHS = {"bidirectional": True, "lengths": [5, 2, 3]}


@pytest.fixture(scope="module")
def target() -> Any:
    return PaddleGRUTarget()


@pytest.mark.parametrize("case", list(CASES))
def test_paddle_computes_the_reset_after_gru(target: Any, case: str) -> None:
    assert target.variant == "reset_after"
    assert_computes_its_variant(target, make_problem(**CASES[case]))


def test_bidirectional_forward_with_lengths_is_right(target: Any) -> None:
    assert_forward_matches(target, make_problem(**REVERSE_WITH_LENGTHS, layers=2, seed=5))


def test_finding_reverse_direction_gradients_with_lengths_are_wrong(target: Any) -> None:
    problem = make_problem(**REVERSE_WITH_LENGTHS)
    errors = gradient_errors(target, problem)
    wrong = {k for k, (err, tol) in errors.items() if err > max(tol, BUG_MIN)}
    assert "l0_reverse.W_hz" in wrong and "dx" in wrong, errors
    assert not any(k.startswith("l0.") for k in wrong), wrong  # the forward direction is right
    # Paddle's own forward, differenced, gives the reference's value, not Paddle's gradient
    rng = np.random.default_rng(99)
    d_out, d_hn = rng.standard_normal((5, 3, 8)), rng.standard_normal((2, 3, 4))
    got = target.gradients(problem, d_out, d_hn).dparams.cells[0][1].b_hz[0]
    cell = problem.params.cells[0][1]

    def loss(shift: float) -> float:
        b = cell.b_hz.copy()
        b[0] += shift
        p = problem.params.replace_cell(0, 1, cell.replace(b_hz=b))
        out = target.forward(dataclasses.replace(problem, params=p))
        return float((out.output * d_out).sum() + (out.h_n * d_hn).sum())

    numeric = (loss(1e-2) - loss(-1e-2)) / 2e-2
    assert abs(got - numeric) > 1e-2, (got, numeric)


def test_finding_no_bias_crashes_the_process_and_is_declared_missing(target: Any) -> None:
    assert "segmentation fault" in target.capabilities.reason("bias_false")
    with pytest.raises(ValueError, match="crashes"):
        target.forward(make_problem(bias=False))
    code = (
        "import paddle; paddle.set_device('cpu'); "
        "g = paddle.nn.GRU(3, 4, bias_ih_attr=False, bias_hh_attr=False); "
        "g(paddle.randn([2, 5, 3])); print('survived')"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode != 0 and "survived" not in run.stdout, (
        "paddle.nn.GRU without biases now runs: drop the finding and support bias_false"
    )


def test_finding_saturated_reset_gate_gives_nan_gradients(target: Any) -> None:
    """A large input (x = -300) saturates the gates: the forward is finite and right, the true
    gradients are ~0 and finite, Paddle's backward returns NaN for dx and the reset gate's
    parameters (the counterexample the checker shrank to: input (1, 1, 1), x = 3787.8)."""
    problem = dataclasses.replace(
        make_problem(I=1, H=2, T=1, B=1, h0=False, seed=1), x=np.full((1, 1, 1), -300.0)
    )
    assert_forward_matches(target, problem)
    got = target.gradients(problem, np.ones((1, 1, 2)), None)
    nan = {k for k, v in got.dparams.named() if not np.all(np.isfinite(v))}
    assert not np.all(np.isfinite(got.dx)) and "l0.W_ir" in nan, (got.dx, nan)
    assert nan <= {"l0.W_ir", "l0.W_hr", "l0.b_ir", "l0.b_hr"}, nan
