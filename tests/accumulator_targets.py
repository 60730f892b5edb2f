"""GRUs that declare their accumulator, for tests/test_error_model_accumulator.py (``accumulator_targets:NAME``
targets; tests/ is on the path).

``DeclaresBoth``: the zoo's correct explicit GRU declaring a float32 accumulator and an activation
error, to follow both declarations through ``resolve_target`` and the isolation protocol.
``AccumulatesInStorage``: the same GRU declaring that its products accumulate in float16 (a torch
module summing in its own format would say so, opting out of torch's float32 default).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from gruverify.core.params import Variant
from gruverify.core.problem import Capabilities, Gradients, Outputs, Problem
from gruverify.reference.implementations import TorchReference
from gruverify.zoo.base import ZooGRU


class DeclaresBoth(ZooGRU):
    """Correct; declares ``gruverify_accumulator = "float32"`` and an activation error."""

    gruverify_accumulator: ClassVar[str] = "float32"
    gruverify_activation_error: ClassVar[float] = 1e-5


class AccumulatesInStorage(ZooGRU):
    """Correct; declares ``gruverify_accumulator = "float16"``."""

    gruverify_accumulator: ClassVar[str] = "float16"


class DeclaresNonsense(ZooGRU):
    """Declares an accumulator that is no format."""

    gruverify_accumulator: ClassVar[str] = "float24"


class HalfLibrary:
    """A float16 GRU of a library the checker knows nothing of (the adapter API, no arithmetic
    declared): torch's ops on the CPU, whose products accumulate in float32 (``TorchReference``
    behind it, its arithmetic not passed on). Correct: ``gruverify check --accumulator float32``
    judges it by its real arithmetic, undeclared by float16 accumulation.

    ``planted``: every recurrent weight (``W_hr``, ``W_hz``, ``W_hn`` of every cell) times it, on
    problems whose input and hidden sizes are both at least ``PLANTED_FROM`` (a kernel path taken
    at large sizes only): dot products of k >= 202 terms, where a float16 accumulation's tolerance
    (``u sqrt(k)``) hides a few percent (3%: error / tolerance 0.4 to 0.6 at 128 x 128, ordinary
    weights, 1 to 16 steps; 1.2 to 1.5 with the float32 accumulator). With one of them small a 3%
    change shows undeclared too (1.1 to 1.7 at input 1, hidden 128)."""

    gruverify_adapter: ClassVar[bool] = True
    capabilities: ClassVar[Capabilities] = Capabilities()
    variant: ClassVar[Variant] = "reset_after"
    planted: ClassVar[float] = 1.0
    PLANTED_FROM: ClassVar[int] = 100

    def __init__(self, device: str = "cpu", dtype: str = "float16") -> None:
        self.device, self.dtype, self.name = device, dtype, type(self).__name__
        self._torch = TorchReference(self.variant, dtype, device)

    def _planted(self, problem: Problem) -> Problem:
        c = problem.params.cell(0, 0)
        if self.planted == 1.0 or min(c.input_size, c.hidden_size) < self.PLANTED_FROM:
            return problem
        cells = tuple(
            tuple(c.replace(W_hr=c.W_hr * self.planted, W_hz=c.W_hz * self.planted,
                            W_hn=c.W_hn * self.planted) for c in row)
            for row in problem.params.cells
        )  # fmt: skip
        return dataclasses.replace(problem, params=dataclasses.replace(problem.params, cells=cells))

    def forward(self, problem: Problem) -> Outputs:
        return self._torch.forward(self._planted(problem))

    def gradients(
        self, problem: Problem, d_output: np.ndarray | None, d_h_n: np.ndarray | None
    ) -> Gradients:
        return self._torch.gradients(self._planted(problem), d_output, d_h_n)


class HalfLibraryPlanted(HalfLibrary):
    """``HalfLibrary`` with its recurrent weights 3% too large at input and hidden sizes of 100
    and more."""

    planted: ClassVar[float] = 1.03
