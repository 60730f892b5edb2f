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


def _half_products(W: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``v @ W.T`` in float16 with the products added one by one in float16 (each product exact
    in float32, each partial sum rounded to float16): a kernel that accumulates in its format."""
    acc = np.zeros((v.shape[0], W.shape[0]), np.float32)
    v32, W32 = v.astype(np.float32), W.astype(np.float32)
    for j in range(W.shape[1]):
        acc = (acc + np.outer(v32[:, j], W32[:, j])).astype(np.float16).astype(np.float32)
    return acc.astype(np.float16)


def sequential_half_forward(problem: Problem) -> Outputs:
    """A one-layer, one-direction reset-after GRU in float16 whose matrix products accumulate in
    float16, one term after another (the worst order for rounding), activations in float32."""

    def sigmoid(a: np.ndarray) -> np.ndarray:
        return (1.0 / (1.0 + np.exp(-a.astype(np.float32)))).astype(np.float16)

    c = problem.params.cell(0, 0)
    g = {k: np.asarray(v).astype(np.float16) for k, v in c.items()}
    h = np.zeros((problem.x.shape[1], c.hidden_size), np.float16)
    if problem.h0 is not None:
        h = problem.h0[0].astype(np.float16)
    out = []
    for x in problem.x.astype(np.float16):
        r = sigmoid(
            _half_products(g["W_ir"], x) + g["b_ir"] + _half_products(g["W_hr"], h) + g["b_hr"]
        )
        z = sigmoid(
            _half_products(g["W_iz"], x) + g["b_iz"] + _half_products(g["W_hz"], h) + g["b_hz"]
        )
        a_n = (
            _half_products(g["W_in"], x)
            + g["b_in"]
            + r * (_half_products(g["W_hn"], h) + g["b_hn"])
        )
        h = ((1 - z) * np.tanh(a_n.astype(np.float32)).astype(np.float16) + z * h).astype(
            np.float16
        )
        out.append(h.astype(np.float64))
    return Outputs(np.stack(out), out[-1][None])


def wrong_declaration_ratios(
    steps: int, batch: int, size: int, seed: int = 0
) -> tuple[float, float]:
    """error / tolerance of ``sequential_half_forward`` on an ordinary problem (input and hidden
    ``size``) judged undeclared and with a (wrong) float32 accumulator: what declaring float32
    for a kernel that sums in float16 costs. ``PYTHONPATH=.:tests python -c 'import
    accumulator_targets as a; print(a.wrong_declaration_ratios(16, 4, 1024))'``"""
    from gruverify.error_model import ARITHMETICS, ErrorModel, arithmetic_for
    from gruverify.strategies import Config, make_case

    problem = make_case(Config(steps, batch, size, size), "ordinary", "ordinary", seed).problem
    got = sequential_half_forward(problem)
    ratios = []
    for arithmetic in (ARITHMETICS["float16"], arithmetic_for("float16")):
        ref, tol = ErrorModel(arithmetic).forward(problem, "reset_after")
        ratios.append(float(max(np.max(np.abs(got.output - ref.output)) / tol.output,
                                np.max(np.abs(got.h_n - ref.h_n)) / tol.h_n)))  # fmt: skip
    return ratios[0], ratios[1]
