"""The checker survives misbehaving targets: each misbehaviour is a failed check saying what
happened, the other checks still run, torch's global state and the random generators are as
before, and the process exits with the verdict's status. Also: counterexample files replay.

The targets are in misbehaving_targets.py (torch.nn.GRU plus one misbehaviour each).
"""

from __future__ import annotations

import json
import os
import pathlib
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch
from cli_support import child_env

from gruverify.conformance import CHECKS, run_check, run_checks
from gruverify.conformance.building import BUILD_FAILED
from gruverify.conformance.cases import CheckCase
from gruverify.conformance.counterexample import load_problem
from gruverify.conformance.replay import replay
from gruverify.core.params import random_gru_params
from gruverify.core.problem import Outputs, Problem
from gruverify.guard import (
    CallTimeout,
    GlobalState,
    Guarded,
    TargetCrash,
    call,
    preserved,
    validate_outputs,
    watch,
)
from gruverify.laws.base import LawViolation
from gruverify.reference.implementations import NumpyReference
from gruverify.strategies import Config

ROOT = pathlib.Path(__file__).resolve().parents[1]
BY_NAME = {c.name: c for c in CHECKS}
OTHER = "h0=None equals zeros"  # a second check, run after the one that catches the misbehaviour


def _rng_states() -> tuple[Any, ...]:
    return (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())


@pytest.fixture
def untouched() -> Iterator[None]:
    """The test leaves torch's settings and every random generator exactly as it found them."""
    state, rngs = GlobalState.capture(), _rng_states()
    yield
    assert GlobalState.capture() == state, state.changes(GlobalState.capture())
    after = _rng_states()
    assert torch.equal(rngs[0], after[0]), "torch's generator moved"
    assert np.array_equal(rngs[1], after[1]), "numpy's global generator moved"
    assert rngs[2] == after[2], "Python's random moved"


@pytest.mark.parametrize(
    ("name", "check", "status", "says"),
    [
        ("RaisesOnLargeHidden", "forward[basic]", "error", "hidden_size"),
        ("ReturnsNaN", "forward[basic]", "failed", "non-finite"),
        ("ReturnsInf", "forward[basic]", "failed", "h_n with 1 non-finite"),
        ("WrongShape", "forward[basic]", "failed", "output of shape (1, 1, 0), expected (1, 1, 1)"),
        ("WrongDtype", "forward[basic]", "failed", "dtype torch.float64, expected torch.float32"),
        ("WrongDevice", "forward[basic]", "failed", "h_n on device meta, expected cpu"),
        ("NotTensors", "forward[basic]", "failed", "h_n as list, expected a torch.Tensor"),
        ("MutatesInput", "forward[basic]", "failed", "modified its input in place"),
        ("ChangesDefaultDtype", "forward[basic]", "failed",
         "changed torch.get_default_dtype(): torch.float32 -> torch.float64 (restored"),
        ("EnablesTF32", "forward[basic]", "failed",
         "torch.backends.cuda.matmul.allow_tf32: False -> True"),
        ("ChangesGradMode", "gradient[output]", "failed", "torch.is_grad_enabled(): True -> False"),
        ("ReseedsRNG", "forward[basic]", "failed", "(torch.manual_seed): "),
        ("KeepsState", "instance reuse", "failed", "no state carried between calls"),
        ("Nondeterministic", "determinism", "failed", "two identical calls differ"),
        ("ExitsProcess", "forward[basic]", "error", "raised SystemExit(3)"),
        ("Hangs", "forward[basic]", "failed", "did not return within 1 s; the call was abandoned"),
    ],
)  # fmt: skip
def test_a_misbehaviour_is_a_failed_check_that_says_what_happened(
    untouched: None, name: str, check: str, status: str, says: str
) -> None:
    report = run_checks(
        f"misbehaving_targets:{name}", device="cpu", checks=[check, OTHER], seed=0, timeout=1.0
    )
    by = {c.name: c for c in report.checks}
    assert set(by) == {check, OTHER}, report.render()  # the other check ran too
    got = by[check]
    assert got.status == status and says in got.message, (got.status, got.message)
    assert report.verdict == "fail"
    ce = got.counterexample
    assert ce is not None and ce["case"] and ce["seed"] == 0, ce
    blob = ce["hypothesis_blob"]  # None when a pinned (explicit) case failed: nothing drawn
    assert blob is None or blob.startswith("@reproduce_failure("), ce


def test_a_hung_call_costs_one_timeout_per_check_not_one_per_shrink_step(untouched: None) -> None:
    start = time.monotonic()
    result = run_check(
        BY_NAME["forward[multilayer]"],
        Guarded(_target("Hangs"), timeout=0.5),
    )
    assert result.status == "failed" and "per-call timeout" in result.message
    assert time.monotonic() - start < 5.0


def _target(name: str) -> Any:
    from gruverify.targets import resolve_target

    with preserved():  # building modules draws their initial weights
        return resolve_target(f"misbehaving_targets:{name}")


def test_drawing_random_numbers_is_not_a_failure_and_the_generators_are_restored(
    untouched: None,
) -> None:
    report = run_checks(
        "misbehaving_targets:DrawsRandomNumbers", device="cpu", seed=0,
        checks=["forward[basic]", "determinism", "gradient[output]"],
    )  # fmt: skip
    assert report.verdict == "pass", report.render()


def test_a_correct_target_passes_under_the_guards(untouched: None) -> None:
    report = run_checks(
        "torch-gru", device="cpu", seed=0,
        checks=["forward[lengths]", "gradient[output+h_n]", "eval without dropout"],
    )  # fmt: skip
    assert [c.status for c in report.checks] == ["passed"] * 3, report.render()


def test_building_a_target_that_hangs_fails_it(untouched: None) -> None:
    """A constructor (or probe call) that hangs is the target's failure, not a usage error."""
    report = run_checks("misbehaving_targets:HangsInConstructor", device="cpu", timeout=0.5)
    assert [(c.name, c.status) for c in report.checks] == [(BUILD_FAILED, "failed")]
    assert "did not return within 0.5 s" in report.checks[0].message, report.render()


class _Adapter(NumpyReference):
    """The numpy reference with a twist in forward (an adapter-level Implementation)."""

    def __init__(self, twist: str) -> None:
        super().__init__()
        self.twist = twist

    def forward(self, problem: Problem) -> Outputs:
        out = super().forward(problem)
        if self.twist == "tuple":
            return (out.output, out.h_n)  # type: ignore[return-value]
        if self.twist == "mutate":
            problem.x[...] = 0.0
        if self.twist == "short h_n":
            return Outputs(out.output, out.h_n[:-1])
        return out


@pytest.mark.parametrize(
    ("twist", "says"),
    [
        ("tuple", "returned tuple, expected gruverify.interface.Outputs"),
        ("mutate", "modified x in place"),
        ("short h_n", "returned h_n of shape"),
    ],
)
def test_adapter_implementations_are_guarded_too(untouched: None, twist: str, says: str) -> None:
    result = run_check(BY_NAME["forward[basic]"], _Adapter(twist))
    assert result.status == "failed" and says in result.message, result.message


def test_call_returns_raises_and_times_out() -> None:
    assert call(lambda: 3, timeout=1.0, what="f") == 3
    with pytest.raises(ValueError, match="boom"):
        call(lambda: (_ for _ in ()).throw(ValueError("boom")), timeout=1.0, what="f")
    with pytest.raises(TargetCrash, match=r"f raised SystemExit\(4\)"):
        call(lambda: sys.exit(4), timeout=1.0, what="f")
    with pytest.raises(TargetCrash, match=r"SystemExit"):
        call(lambda: sys.exit(4), timeout=None, what="f")
    with pytest.raises(CallTimeout, match=r"f did not return within 0\.2 s"):
        call(lambda: time.sleep(5), timeout=0.2, what="f")
    with torch.no_grad():  # the caller's grad mode carries into the worker thread
        assert call(torch.is_grad_enabled, timeout=1.0, what="f") is False


def test_watch_restores_settings_and_an_exception_wins(untouched: None) -> None:
    with (
        pytest.raises(LawViolation, match=r"torch\.backends\.cudnn\.benchmark: False -> True"),
        watch("x"),
    ):
        torch.backends.cudnn.benchmark = True
    assert torch.backends.cudnn.benchmark is False
    with pytest.raises(KeyError), watch("x"):
        torch.set_default_dtype(torch.float64)
        raise KeyError("first")
    assert torch.get_default_dtype() == torch.float32


def test_preserved_restores_generators_and_seed(untouched: None) -> None:
    with preserved():
        torch.manual_seed(5)
        torch.rand(4)
        np.random.seed(5)
        random.seed(5)


def test_validate_outputs_is_quiet_on_overflowing_problems_only() -> None:
    params = random_gru_params(2, 3, rng=0)
    ok = Problem(params, np.ones((2, 1, 2)))
    ref = NumpyReference()
    nan = Outputs(np.full((2, 1, 3), np.nan), np.zeros((1, 1, 3)))
    with pytest.raises(LawViolation, match="non-finite"):
        validate_outputs(nan, ok, ref)
    impl = _Adapter("none")
    impl.dtype = "float16"
    from gruverify.laws.base import Inconclusive

    huge = Problem(params, np.full((2, 1, 2), 6e4))  # pre-activations beyond float16's range
    with pytest.raises(Inconclusive):
        validate_outputs(nan, huge, impl)


# counterexample files and `gruverify reproduce`


def test_a_saved_counterexample_is_the_failing_problem_bit_for_bit(tmp_path: pathlib.Path) -> None:
    report = run_checks(
        "test_checker_planted:DropsBhn", device="cpu", seed=0,
        checks=["forward[multilayer]", "gradient[output]"], artifacts=str(tmp_path),
    )  # fmt: skip
    for c in report.failures:
        ce = c.counterexample
        assert ce is not None and os.path.dirname(ce["file"]) == str(tmp_path)
        data = json.loads(pathlib.Path(ce["file"]).read_text())
        assert data["check"] == c.name and data["seed"] == 0 and "hypothesis_blob" in data
        saved = load_problem(data["problem"])
        case = CheckCase(Config(**{k: v for k, v in data["case"].items() if k in _CONFIG}),
                    data["case"]["param_kind"], data["case"]["input_kind"], data["case"]["seed"],
                    data["case"]["h0_scale"]).problem()  # fmt: skip
        assert np.array_equal(saved.x, case.x) and np.array_equal(
            saved.params.flat(), case.params.flat()
        )
        assert (saved.h0 is None) == (case.h0 is None)
        if c.name.startswith("gradient"):
            assert data["cotangents"]["d_output"] is not None
        code, text = replay(ce["file"])
        assert code == 1 and text.startswith("FAIL") and c.message.splitlines()[0] in text, text
    assert {c.name for c in report.failures} == {"forward[multilayer]", "gradient[output]"}


_CONFIG = set(Config.__dataclass_fields__)


def test_reproduce_cli_replays_and_passes_once_the_target_is_fixed(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gruverify.cli import main

    code = main(["check", "misbehaving_targets:WrongShape", "--check", "forward[basic]",
                 "--artifacts", str(tmp_path)])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1 and f"gruverify reproduce {files[0]}" in out, out
    assert main(["reproduce", str(files[0])]) == 1
    assert "returned output of shape" in capsys.readouterr().out
    data = json.loads(files[0].read_text())
    assert data["hypothesis_blob"].startswith("@reproduce_failure("), data  # a drawn case
    assert f"hypothesis: {data['hypothesis_blob']} (seed 0)" in out
    data["target"] = "torch-gru"  # the same case against a correct GRU
    fixed = tmp_path / "fixed.json"
    fixed.write_text(json.dumps(data))
    assert main(["reproduce", str(fixed)]) == 0
    assert capsys.readouterr().out.startswith("PASS  forward[basic] on torch-gru")


def test_the_process_survives_a_hang(tmp_path: pathlib.Path) -> None:
    """Through the real entry point, in-process (isolated: tests/test_isolation_cli.py): exit 1
    soon after the 1 s timeouts (the hung threads, asleep for 300 s, are abandoned, not waited
    for), with the report and nothing on stderr."""
    env = child_env()
    start = time.monotonic()
    r = subprocess.run(
        [sys.executable, "-m", "gruverify", "check", "misbehaving_targets:Hangs", "--no-isolate",
         "--check", "forward[basic]", "--check", "determinism", "--timeout", "1"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=240,
    )  # fmt: skip
    assert r.returncode == 1, r.stdout + r.stderr
    assert "did not return within 1 s" in r.stdout, r.stdout
    assert "determinism" in r.stdout and r.stderr == "", r.stdout + r.stderr
    assert time.monotonic() - start < 120, "the process waited for the hung thread"
    assert list((tmp_path / ".gruverify").glob("*.json")), "no counterexample saved by default"
