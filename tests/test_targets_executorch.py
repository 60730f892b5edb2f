"""The ``executorch`` target: ``nn.GRU`` -> ``torch.export`` -> ExecuTorch (XNNPACK) -> runtime.

Runs under ``.venv-executorch`` (``scripts/library_envs.sh``); skipped elsewhere. Lowering costs
~10 s per configuration on 2 cores, so the tests lower two programs (batch 1 and 2) of the
target's fixed configuration.
"""

from __future__ import annotations

import numpy as np
import pytest

from gruverify.core.params import StackParams
from gruverify.core.problem import Problem
from gruverify.reference.numpy_reference import gru_forward
from gruverify.targets.errors import TargetError

pytest.importorskip("executorch", reason="executorch lives in .venv-executorch")
torch = pytest.importorskip("torch")

from gruverify.targets.executorch_target import (  # noqa: E402
    EXECUTORCH_MISSING,
    ExecuTorchGRUTarget,
    fixed_weights,
)


@pytest.fixture(scope="module")
def target() -> ExecuTorchGRUTarget:
    return ExecuTorchGRUTarget()


def _problem(params: StackParams, steps: int, batch: int, h0: bool, seed: int = 0) -> Problem:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((steps, batch, params.input_size))
    shape = (params.num_layers, batch, params.hidden_size)
    return Problem(params=params, x=x, h0=rng.standard_normal(shape) if h0 else None)


@pytest.mark.parametrize(("steps", "batch", "h0"), [(1, 1, False), (7, 2, True), (40, 1, True)])
def test_the_lowered_program_stepped_over_the_sequence_is_the_gru(
    target: ExecuTorchGRUTarget, steps: int, batch: int, h0: bool
) -> None:
    params = fixed_weights()
    problem = _problem(params, steps, batch, h0)
    got = target.forward(problem)
    want = gru_forward(params, problem.x, problem.h0)
    # float32 weights and inputs: the error model's bound is far below 1e-5 at these sizes
    np.testing.assert_allclose(got.output, want.output, rtol=0, atol=1e-5)
    np.testing.assert_allclose(got.h_n, want.h_n, rtol=0, atol=1e-5)
    assert target.lowerings <= 2  # one per batch size: the sequence length costs no lowering


def test_a_planted_bug_in_the_weights_shows(target: ExecuTorchGRUTarget) -> None:
    """The program computes with the weights it is given: a permuted z/r block is visible."""
    params = fixed_weights()
    problem = _problem(params, 5, 1, True)
    c = params.cell(0, 0)
    swapped = params.replace_cell(0, 0, c.replace(W_ir=c.W_iz, W_iz=c.W_ir))
    got = target.forward(Problem(params=swapped, x=problem.x, h0=problem.h0))
    want = gru_forward(params, problem.x, problem.h0)
    assert np.max(np.abs(got.output - want.output)) > 1e-3


def test_quick_forward_checks_pass(target: ExecuTorchGRUTarget) -> None:
    from gruverify.conformance.runner import run_checks

    report = run_checks(
        target, checks=["forward[basic]", "forward[long]"], profile="quick", seed=0,
        isolate=False, device="cpu",
    )  # fmt: skip
    assert report.verdict == "pass", report.render()


def test_refusals_are_one_line() -> None:
    with pytest.raises(TargetError, match="float32"):
        ExecuTorchGRUTarget(dtype="float64")
    with pytest.raises(TargetError, match="cpu"):
        ExecuTorchGRUTarget(device="cuda")
    assert set(EXECUTORCH_MISSING) == {
        "bidirectional", "lengths", "gradients", "unbatched", "dropout"
    }  # fmt: skip
