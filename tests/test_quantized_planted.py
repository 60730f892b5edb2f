"""Planted quantization bugs (gruverify.zoo.quantized) fail the checker; the correct quantized GRU
passes, per tensor and per channel (docs/benchmarks.md, "Quantized GRUs")."""

from __future__ import annotations

from pathlib import Path

import pytest

from gruverify.conformance.checks import CHECKS
from gruverify.conformance.runner import run_check
from gruverify.core.problem import Implementation
from gruverify.zoo.quantized import QuantizedGRU

_BY_NAME = {c.name: c for c in CHECKS}


def _status(impl: Implementation, check: str) -> tuple[str, str]:
    r = run_check(_BY_NAME[check], impl, profile="ci", seed=0)
    return r.status, r.message


@pytest.mark.parametrize("granularity", ["tensor", "channel"])
@pytest.mark.parametrize("check", ["forward[basic]", "forward[saturated]", "batch independence"])
def test_the_correct_quantized_gru_passes(granularity: str, check: str) -> None:
    status, message = _status(QuantizedGRU(granularity=granularity), check)
    assert status == "passed", message


@pytest.mark.parametrize(
    ("bug", "granularity", "law"),
    [
        ("zero_point", "tensor", "effective weights"),
        ("zero_point", "channel", "effective weights"),
        ("gate_scale", "channel", "effective weights"),
        ("saturation", "tensor", "effective weights"),
        ("saturation", "channel", "effective weights"),
        ("stale_scale", "tensor", "forward equivalence"),
    ],
)
def test_each_planted_bug_fails(bug: str, granularity: str, law: str) -> None:
    status, message = _status(QuantizedGRU(granularity=granularity, bug=bug), "forward[basic]")
    assert status == "failed" and message.startswith(f"{law} violated"), message


@pytest.mark.parametrize("bug", ["gate_scale", "saturation", "stale_scale"])
def test_without_effective_weights_the_tolerance_still_sees_them(bug: str) -> None:
    """Declared but not handing over its weights: the three bugs that move weights by many steps
    (or clamp activations) fail the forward comparison itself; a zero point off by one (one step)
    does not, which is what handing over the effective weights is for."""
    impl = QuantizedGRU(granularity="channel", bug=bug, hand_over=False)
    status, message = _status(impl, "forward[basic]")
    assert status == "failed" and message.startswith("forward equivalence violated"), message
    quiet = QuantizedGRU(granularity="channel", bug="zero_point", hand_over=False)
    assert _status(quiet, "forward[basic]")[0] == "passed"


def test_one_scale_per_tensor_has_no_gate_scale_to_confuse() -> None:
    """With one scale per stacked tensor the gates share it: the "gate_scale" bug computes the
    correct GRU, and passes."""
    assert _status(QuantizedGRU(bug="gate_scale"), "forward[basic]")[0] == "passed"


def test_a_kernel_shift_of_many_steps_fails() -> None:
    """W_in moved by 16 weight steps in the kernel only (its effective weights are right): the
    forward comparison flags it (docs/benchmarks.md measures the smallest such shift)."""
    impl = QuantizedGRU(weight_shift=16.0, shift_block="W_in")
    status, message = _status(impl, "forward[basic]")
    assert status == "failed" and message.startswith("forward equivalence violated"), message


def test_a_users_quantized_gru_by_name_isolated_and_reproduced(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The worked example: an adapter factory returning an Implementation that declares its
    quantization and hands over its effective weights, named on the command line, run in a worker
    (the default): the correct one passes with the coupling note; the zero point off by one fails
    on the effective weights, and ``gruverify reproduce`` judges its saved case the same way."""
    from cli_support import run_main

    code, out, err = run_main(capsys, "check", "gruverify.zoo.quantized:correct_quantized_gru",
                              "--check", "forward[basic]", "--check", "batch independence")  # fmt: skip
    assert code == 0 and "judged within the declared quantization tolerance" in out, out + err
    code, out, err = run_main(capsys, "check", "gruverify.zoo.quantized:zero_point_off_by_one",
                              "--check", "forward[basic]", "--artifacts", str(tmp_path))  # fmt: skip
    assert code == 1 and "effective weights violated" in out, out + err
    [saved] = tmp_path.glob("*.json")
    code, out, err = run_main(capsys, "reproduce", str(saved))
    assert out.startswith("FAIL") and "effective weights violated" in out, out + err
