"""OpenVINO's CPU plugin (GRUSequence stacks built with its opset) against the reference.

Laws: in f32 inference precision both targets compute their variant (``linear_before_reset`` 1:
reset-after, 0: reset-before) within the float32 error model's tolerance over layers, directions,
bias=False, batch_first, h0=None; each fails against the other variant. Findings (openvino
2026.4.1): with dynamic input shapes the CPU plugin ignores ``sequence_lengths`` (the output equals
the run without lengths), with static shapes it honours them; the CPU plugin's default inference
precision is bf16 where the CPU has it (~1e-3 errors without the explicit f32 hint).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

pytest.importorskip("openvino", reason="openvino is an optional dependency")

from test_targets_external import (
    BUG_MIN,
    assert_computes_its_variant,
    assert_forward_matches,
    forward_error,
    make_problem,
)

from gruverify.core.params import VARIANTS
from gruverify.targets.openvino_target import OpenVinoGRUTarget

CASES = {
    "basic": {},
    "bidirectional-3-layers": {"I": 2, "H": 3, "layers": 3, "bidirectional": True},
    "no-bias-no-h0-batch-first": {"I": 2, "H": 3, "bias": False, "h0": False, "batch_first": True},
    "batch-1-T-1": {"B": 1, "T": 1, "seed": 3},
}
LENGTHS = {"layers": 2, "bidirectional": True, "lengths": [5, 2, 3], "seed": 4}


@pytest.fixture(scope="module", params=VARIANTS)
def target(request: Any) -> Any:
    return OpenVinoGRUTarget(request.param)


@pytest.mark.parametrize("case", list(CASES))
def test_openvino_computes_its_variant(target: Any, case: str) -> None:
    assert_computes_its_variant(target, make_problem(**CASES[case]), gradients=False)


def test_static_shapes_honour_sequence_lengths() -> None:
    assert_forward_matches(OpenVinoGRUTarget(static_shapes=True), make_problem(**LENGTHS))


def test_finding_dynamic_shapes_ignore_sequence_lengths(target: Any) -> None:
    problem = make_problem(**LENGTHS)
    with_lengths = target.forward(problem)
    without = target.forward(dataclasses.replace(problem, lengths=None))
    np.testing.assert_array_equal(with_lengths.output, without.output)
    np.testing.assert_array_equal(with_lengths.h_n, without.h_n)
    assert forward_error(target, problem)[0] > BUG_MIN


def test_finding_the_default_inference_precision_is_bf16_where_the_cpu_has_it() -> None:
    import openvino as ov

    default = str(ov.Core().get_property("CPU", "INFERENCE_PRECISION_HINT"))
    err, tol = forward_error(OpenVinoGRUTarget(precision=None), make_problem(seed=5))
    if "bf16" not in default and "bfloat16" not in default:
        assert err <= tol, f"default precision {default}: {err:.3g} > {tol:.3g}"
        pytest.skip(f"this CPU's default inference precision is {default}, not bf16")
    assert err > 1e-4, f"bf16 default precision, yet the error is only {err:.3g}"


def test_gradients_and_unbatched_are_declared_missing(target: Any) -> None:
    for feature in ("gradients", "unbatched", "dropout"):
        assert not target.capabilities.supports(feature)
    with pytest.raises(NotImplementedError, match="inference runtime"):
        target.gradients(make_problem(), None, None)
    with pytest.raises(ValueError, match="batch axis"):
        target.forward(make_problem(batched=False))


def test_the_default_precision_is_judged_in_the_arithmetic_it_runs() -> None:
    """``openvino-default`` (no precision hint): bf16 where the CPU has it, judged as bfloat16
    with float32 accumulation, where it passes forward[basic] (seed 0); judged as float32 it
    fails (its outputs are bfloat16 numbers). The f32 target keeps float32."""
    from gruverify.conformance import run_checks
    from gruverify.core.arithmetic import ARITHMETICS, arithmetic_for
    from gruverify.error_model import ErrorModel, arithmetic_of
    from gruverify.laws.base import LawViolation
    from gruverify.laws.equivalence import law_forward_equivalence
    from gruverify.strategies import Config, make_case

    assert arithmetic_of(OpenVinoGRUTarget()) == ARITHMETICS["float32"]
    default = OpenVinoGRUTarget(precision=None)
    if default.inference_precision != "bf16":
        pytest.skip(f"this CPU's default precision is {default.inference_precision}")
    assert arithmetic_of(default) == arithmetic_for("bfloat16")
    report = run_checks("openvino-default", device="cpu", profile="ci", seed=0,
                        checks=["forward[basic]"], isolate=False)  # fmt: skip
    assert report.checks[0].status == "passed", report.checks[0].message
    p = make_case(Config(steps=5, batch=2, input_size=3, hidden_size=4), "ordinary", "ordinary",
                  0).problem  # fmt: skip
    with pytest.raises(LawViolation):
        law_forward_equivalence(default, p, ErrorModel(ARITHMETICS["float32"]))
