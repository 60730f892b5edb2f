"""Targets for a worker environment that has numpy and gruverify only (no torch): the GRU is
gruverify's float64 numpy reference behind the adapter API (docs/adapters.md). Its name says
which Python runs it, so a test can see that the worker ran in the other environment.

Used as ``worker_env_targets:numpy_gru`` and ``worker_env_targets:numpy_gru_segfaults`` with
``gruverify check --python OTHER_PYTHON --dtype float64`` (tests/ is on the path).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from gruverify.interface import Capabilities, Gradients, Outputs, Problem
from gruverify.reference.implementations import NumpyReference


class NumpyGRU:
    """The numpy reference as a target; with ``crash``, a segmentation fault (through ctypes)
    when input_size >= 3."""

    variant = "reset_after"
    dtype = "float64"
    device = "cpu"

    def __init__(self, crash: bool = False) -> None:
        self.name = f"numpy-gru under {sys.prefix}"
        self.crash = crash
        self.reference = NumpyReference()
        self.capabilities: Capabilities = self.reference.capabilities

    def forward(self, problem: Problem) -> Outputs:
        if self.crash and problem.params.input_size >= 3:
            import ctypes

            ctypes.string_at(0)
        return self.reference.forward(problem)

    def gradients(
        self, problem: Problem, d_output: np.ndarray | None, d_h_n: np.ndarray | None
    ) -> Gradients:
        return self.reference.gradients(problem, d_output, d_h_n)


def numpy_gru(device: str = "cpu", dtype: Any = None) -> NumpyGRU:
    return NumpyGRU()


def numpy_gru_segfaults(device: str = "cpu", dtype: Any = None) -> NumpyGRU:
    return NumpyGRU(crash=True)


numpy_gru.gruverify_adapter = True  # type: ignore[attr-defined]
numpy_gru_segfaults.gruverify_adapter = True  # type: ignore[attr-defined]
