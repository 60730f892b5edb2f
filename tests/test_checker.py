"""The conformance checker: planted bugs are caught by the check meant for them, with a minimal
counterexample; correct targets pass; declared missing features are skipped, never failed."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_checker_planted import (
    DropsBhn,
    IgnoresHx,
    NoBidirectional,
    RemembersState,
    TinyGRU,
    WrongGradient,
)

from gruverify.conformance import CHECKS, Check, CheckResult, Report, run_check, run_checks
from gruverify.laws.base import Inconclusive
from gruverify.reference.implementations import NumpyReference
from gruverify.targets import TorchModuleTarget

BY_NAME = {c.name: c for c in CHECKS}


def _run(cls: type, check: str, **kw: object) -> CheckResult:
    return run_check(BY_NAME[check], TorchModuleTarget(cls, name=cls.__name__, **kw))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("cls", "check"),
    [
        (IgnoresHx, "forward[basic]"),
        (IgnoresHx, "chunked continuation"),
        (DropsBhn, "forward[basic]"),
        (WrongGradient, "gradient[output]"),
        (WrongGradient, "gradient[h_n]"),
        (RemembersState, "instance reuse"),
        (RemembersState, "h0=None equals zeros"),
    ],
)
def test_planted_bug_is_caught(cls: type, check: str) -> None:
    result = _run(cls, check)
    assert result.status == "failed", (cls.__name__, check, result.status, result.message)
    ce = result.counterexample
    assert ce is not None and ce["case"] and ce["law"] and ce["numbers"], ce
    # the numbers behind the verdict: an error above its tolerance
    nums = ce["numbers"]
    if "error" in nums:
        assert nums["error"] > nums["tolerance"], nums


def test_correct_base_passes_the_checks_that_catch_the_planted_bugs() -> None:
    """The same checks pass on the bug-free base: each failure above is the planted bug's."""
    for check in ("forward[basic]", "chunked continuation", "gradient[output]", "instance reuse",
                  "h0=None equals zeros"):  # fmt: skip
        result = _run(TinyGRU, check)
        assert result.status == "passed", (check, result.message)


def test_wrong_gradient_has_a_correct_forward() -> None:
    assert _run(WrongGradient, "forward[multilayer]").status == "passed"


def test_counterexample_is_shrunk_to_a_minimal_configuration() -> None:
    """Dropping b_hn shows in the smallest GRU there is: one layer, one step, sizes 1."""
    case = _run(DropsBhn, "forward[basic]").counterexample["case"]  # type: ignore[index]
    assert (case["num_layers"], case["steps"], case["batch"]) == (1, 1, 1), case
    assert (case["input_size"], case["hidden_size"], case["bidirectional"]) == (1, 1, False), case


def test_declared_missing_features_are_skipped_with_the_reason() -> None:
    target = TorchModuleTarget(NoBidirectional, missing=NoBidirectional.gruverify_missing)
    for name in ("forward[bidirectional]", "direction alignment", "forward[bias=False]"):
        result = run_check(BY_NAME[name], target)
        assert result.status == "skipped", (name, result.status)
        assert "target lacks" in result.message
    # no lengths support (no PackedSequence): probed and skipped, with the error as the reason
    lengths = run_check(BY_NAME["forward[lengths]"], target)
    assert lengths.status == "skipped" and "PackedSequence" in lengths.message, lengths.message
    # the other checks draw only supported features, so they pass
    assert run_check(BY_NAME["forward[multilayer]"], target).status == "passed"


def test_torch_gru_passes_float64_and_float32_samples() -> None:
    for dtype in ("float64", "float32"):
        report = run_checks(
            "torch-gru", device="cpu", dtype=dtype,
            checks=["forward[bidirectional]", "gradient[output+h_n]", "lengths truncation"],
        )  # fmt: skip
        assert report.verdict == "pass", report.render()
        assert [c.status for c in report.checks] == ["passed"] * 3


def test_the_numpy_reference_passes_every_check() -> None:
    """Passes, not skips: only the dropout check, which needs a rebuild, may be skipped; the
    forward and gradient checks judge (a check whose every case is inconclusive is skipped)."""
    report = run_checks(NumpyReference(), profile="quick", seed=3)
    assert report.verdict == "pass", report.render()
    not_passed = {c.name: c.status for c in report.checks if c.status != "passed"}
    assert not_passed == {"eval without dropout": "skipped"}, report.render()
    judged = [c for c in report.checks if c.name.startswith(("forward", "gradient"))]
    assert len(judged) >= 11 and all(c.cases > c.inconclusive for c in judged), report.render()


def test_a_law_that_is_always_inconclusive_is_reported_skipped_not_passed() -> None:
    def never(impl: object, problem: object, model: object) -> None:
        raise Inconclusive("chaotic")

    check = Check("always inconclusive", never, "")
    result = run_check(check, NumpyReference())
    assert result.status == "skipped" and "inconclusive" in result.message


def test_a_crashing_target_is_an_error_not_a_pass() -> None:
    class Crashes(TinyGRU):
        def forward(self, input: torch.Tensor, hx: torch.Tensor | None = None) -> object:
            if input.shape[-1] == 3:
                raise RuntimeError("no input_size 3")
            return super().forward(input, hx)

    result = _run(Crashes, "forward[basic]")
    assert result.status == "error" and "no input_size 3" in result.message
    assert result.counterexample["case"]["input_size"] == 3  # type: ignore[index]


def test_report_json_schema(tmp_path: object) -> None:
    report = run_checks("torch-gru", device="cpu", checks=["forward[basic]"], seed=5)
    report.checks.append(_run(DropsBhn, "forward[basic]"))
    data = json.loads(report.to_json())
    assert {
        "target",
        "device",
        "dtype",
        "verdict",
        "checks",
        "arithmetic",
        "seed",
        "profile",
    } <= set(data)
    assert data["verdict"] == "fail" and data["device"] == "cpu" and data["dtype"] == "float32"
    assert data["arithmetic"].startswith("float32 (u = 5.96e-08)")
    for c in data["checks"]:
        assert {"name", "status", "message"} <= set(c)
        assert c["status"] in ("passed", "failed", "skipped", "error")
        assert ("counterexample" in c) == (c["status"] == "failed")
    failed = data["checks"][-1]
    assert (
        failed["counterexample"]["reproduce"] == ""
        or "gruverify check" in failed["counterexample"]["reproduce"]
    )
    assert failed["counterexample"]["case"]["hidden_size"] >= 1


def test_report_text_explains_the_first_failure() -> None:
    result = _run(DropsBhn, "forward[basic]")
    report = Report(
        "x:DropsBhn", ["cpu"], "float32", {"cpu": "float32 (u = 5.96e-08)"}, "ci", 0, [result]
    )
    text = report.render()
    assert "FAIL" in text and "forward equivalence violated" in text
    assert "minimal configuration:" in text and "verdict: FAIL" in text


def test_seed_fixes_the_draw() -> None:
    a = _run(DropsBhn, "forward[multilayer]").counterexample
    b = _run(DropsBhn, "forward[multilayer]").counterexample
    assert a == b


def test_tf32_arithmetic_is_reported_for_cuda_float32() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device: TF32 applies to CUDA float32 only")
    report = run_checks("torch-gru", device="cuda", checks=["forward[basic]"])
    assert ("tf32" in report.arithmetic["cuda"]) == bool(torch.backends.cudnn.allow_tf32)
    assert report.verdict == "pass", report.render()


def test_problem_data_has_nonzero_biases() -> None:
    from gruverify.conformance.cases import CheckCase
    from gruverify.strategies import Config

    p = CheckCase(Config(2, 1, 2, 3), "ordinary", "ordinary", 0).problem()
    assert np.all(p.params.cell(0).b_hn != 0)
