"""A target that ignores its sequence lengths fails the two checks about lengths (forward[lengths],
lengths truncation) and passes the forward checks of the features it computes right: those draw
no padding (gruverify.conformance.checks), so one defect is not counted five times (issue 15: the
onnx-reference evaluator ignores sequence_lens)."""

from __future__ import annotations

import dataclasses

import numpy as np

from gruverify.conformance import run_checks
from gruverify.core.problem import Gradients, Outputs, Problem
from gruverify.reference.implementations import NumpyReference


class IgnoresLengths(NumpyReference):
    """The float64 reference, told the lengths and running every sequence all T steps."""

    def forward(self, problem: Problem) -> Outputs:
        return super().forward(dataclasses.replace(problem, lengths=None))

    def gradients(
        self, problem: Problem, d_output: np.ndarray | None, d_h_n: np.ndarray | None
    ) -> Gradients:
        return super().gradients(dataclasses.replace(problem, lengths=None), d_output, d_h_n)


def test_a_lengths_defect_fails_only_the_lengths_checks() -> None:
    names = ["forward[multilayer]", "forward[bidirectional]", "forward[batch_first]",
             "forward[lengths]", "lengths truncation"]  # fmt: skip
    report = run_checks(IgnoresLengths(), checks=names, profile="quick", seed=0)
    status = {c.name: c.status for c in report.checks}
    assert status["forward[lengths]"] == "failed", status
    assert status["lengths truncation"] == "failed", status
    for name in ("forward[multilayer]", "forward[bidirectional]", "forward[batch_first]"):
        assert status[name] == "passed", status


def test_the_reference_itself_passes_the_lengths_checks() -> None:
    report = run_checks(NumpyReference(), checks=["forward[lengths]"], profile="quick", seed=0)
    assert [c.status for c in report.checks] == ["passed"]
