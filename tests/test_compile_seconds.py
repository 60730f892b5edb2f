"""A target that compiles per input shape declares ``compile_seconds``; the checker's adaptive
per-call limit does not go below it, before or after a hang (gruverify.conformance.runner
.allow_compilation). Without it, a first call that compiles for longer than the 10 s floor was
taken for a hang, and every later call got 1 s (torch-compile, torch-export, onnx-dynamo and
tflite failed every check on a busy machine)."""

from __future__ import annotations

import time

from gruverify.conformance import run_checks
from gruverify.conformance.runner import allow_compilation
from gruverify.core.problem import Outputs, Problem
from gruverify.guard import CallLimits
from gruverify.reference.implementations import NumpyReference


def test_the_floor_rises_to_the_declared_compile_time_but_not_past_the_ceiling() -> None:
    class Compiles:
        compile_seconds = 300.0

    limits = CallLimits(ceiling=60.0)
    allow_compilation(limits, [Compiles()])
    assert limits.limit() == 60.0  # at most --timeout
    limits.record_hang()
    assert limits.limit() == 60.0  # a hang does not shrink it to 1 s
    big = CallLimits(ceiling=500.0)
    allow_compilation(big, [Compiles()])
    assert big.limit() == 300.0


def test_targets_without_it_and_fixed_limits_are_unchanged() -> None:
    limits = CallLimits(ceiling=60.0)
    allow_compilation(limits, [NumpyReference()])
    assert limits.limit() == 10.0
    fixed = CallLimits.fixed(5.0)
    allow_compilation(fixed, [type("C", (), {"compile_seconds": 100.0})()])
    assert fixed.limit() == 5.0


class SlowNewShapes(NumpyReference):
    """The reference, taking 1.5 s on each shape it has not seen (a compiler, planted)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[tuple[int, ...]] = set()

    def forward(self, problem: Problem) -> Outputs:
        if problem.x.shape not in self.seen:
            self.seen.add(problem.x.shape)
            time.sleep(1.5)
        return super().forward(problem)


def _run(target: NumpyReference) -> str:
    limits = CallLimits(ceiling=30.0, floor=1.0, hung_floor=0.5)  # a small floor, for speed
    report = run_checks(target, checks=["determinism"], profile="quick", seed=0, timeout=limits)
    return report.checks[0].status


def test_a_compiling_target_passes_with_its_compile_seconds_and_times_out_without() -> None:
    assert _run(SlowNewShapes()) == "failed"  # 1.5 s > the 1 s floor: taken for a hang
    declared = SlowNewShapes()
    declared.compile_seconds = 3.0  # type: ignore[attr-defined]
    assert _run(declared) == "passed"
