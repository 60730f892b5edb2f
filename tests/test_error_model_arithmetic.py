"""A declared arithmetic is honoured everywhere a tolerance is made for an implementation.

An implementation may declare the arithmetic it computes in (an ``arithmetic`` attribute, e.g.
cuDNN's float32 GRU: ``CUDNN_FLOAT32``, coarser than float32). ``error_model.arithmetic_of`` reads
it; a site that asked ``arithmetic_for(dtype, device)`` instead would judge such an implementation
by the finer arithmetic of its dtype and raise false alarms. Each test runs a float64 numpy GRU
whose results are off by a relative 1e-9: far outside float64's tolerance, well inside that of
the declared ``u = 2^-20``. It must pass (or be diagnosed) when it declares the coarse arithmetic,
and fail (or go undiagnosed) when it does not -- which is what every site did when it used
``arithmetic_for(impl.dtype, impl.device)``.
"""

from __future__ import annotations

import numpy as np
import pytest

from gruverify.conformance.diagnosis import diagnose_implementation
from gruverify.core.arithmetic import Arithmetic, arithmetic_for
from gruverify.core.params import Variant, random_gru_params
from gruverify.core.problem import Capabilities, Gradients, Outputs, Problem
from gruverify.error_model import arithmetic_of
from gruverify.laws.base import LawViolation
from gruverify.laws.carry_over import law_known_time_scale
from gruverify.laws.gates import law_sequence_equals_unrolled_cell
from gruverify.reference.implementations import NumpyReference

COARSE = Arithmetic("coarse-float64", "float64", 2.0**-20)
NOISE = 1e-9  # relative: ~1e7 float64 roundoffs, ~1e-3 of COARSE's unit roundoff


class Noisy:
    """The float64 numpy reference computing ``computes`` (default: ``variant``, the variant it
    claims; another one is a bug to diagnose), every result times ``1 + NOISE``."""

    dtype = "float64"
    device = "cpu"
    capabilities = Capabilities()

    def __init__(
        self,
        declared: Arithmetic | None,
        variant: Variant = "reset_after",
        computes: Variant | None = None,
    ) -> None:
        self.variant: Variant = variant
        self.name = f"noisy[{declared}]"
        self._reference = NumpyReference(computes or variant)
        if declared is not None:
            self.arithmetic = declared

    def forward(self, problem: Problem) -> Outputs:
        out = self._reference.forward(problem)
        return Outputs(out.output * (1 + NOISE), out.h_n * (1 + NOISE))

    def gradients(
        self, problem: Problem, d_output: np.ndarray | None, d_h_n: np.ndarray | None
    ) -> Gradients:
        g = self._reference.gradients(problem, d_output, d_h_n)
        return Gradients(g.dx * (1 + NOISE), g.dh0 * (1 + NOISE), g.dparams)


def _problem(seed: int = 3) -> Problem:
    rng = np.random.default_rng(seed)
    params = random_gru_params(3, 4, rng=rng)
    return Problem(params, rng.standard_normal((6, 2, 3)), rng.uniform(-1, 1, size=(1, 2, 4)))


def test_arithmetic_of_prefers_the_declared_arithmetic() -> None:
    assert arithmetic_of(Noisy(COARSE)) is COARSE
    assert arithmetic_of(Noisy(None)) == arithmetic_for("float64", "cpu")


@pytest.mark.parametrize("declared", [COARSE, None])
def test_unrolled_cell_law_honours_the_declared_arithmetic(declared: Arithmetic | None) -> None:
    impl, problem = Noisy(declared), _problem()
    if declared is None:
        with pytest.raises(LawViolation, match="unrolled cell"):
            law_sequence_equals_unrolled_cell(impl, problem)
    else:
        law_sequence_equals_unrolled_cell(impl, problem)


@pytest.mark.parametrize("declared", [COARSE, None])
def test_known_time_scale_law_honours_the_declared_arithmetic(
    declared: Arithmetic | None,
) -> None:
    impl = Noisy(declared)
    if declared is None:
        with pytest.raises(LawViolation, match="known time scale"):
            law_known_time_scale(impl, 10.0, 20)
    else:
        law_known_time_scale(impl, 10.0, 20)


@pytest.mark.parametrize("declared", [COARSE, None])
def test_diagnosis_honours_the_declared_arithmetic(declared: Arithmetic | None) -> None:
    """A reset-before GRU claiming reset-after, off by 1e-9: within the coarse arithmetic's
    tolerance of the "other variant" hypothesis, far outside float64's."""
    impl = Noisy(declared, variant="reset_after", computes="reset_before")
    found = diagnose_implementation(impl, _problem())
    if declared is None:
        assert found is None
    else:
        assert found is not None and found.name == "other variant"
