"""Carry-over: as the update gate saturates the state is carried and the step Jacobian tends to I.

Laws: gruverify.laws.carry_over (bounds of docs/gru-math.md section 3, and the exact
known-time-scale case in both update-gate conventions). The bounds are checked along the float64
reference trajectory with the new state and gates computed by torch on each device; the known time
scale on the references in every dtype and device, through their gradients.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from property_support import DEVICES, LOW_DTYPES

from gruverify.laws.carry_over import law_carry_over_bounds, law_known_time_scale
from gruverify.laws.gates import numpy_gates, torch_gates
from gruverify.profiles import examples
from gruverify.reference.implementations import NumpyReference, TorchReference
from gruverify.strategies import carry_cases, configs, variants

CONFIG = configs(max_steps=60, max_size=12, max_batch=3, work=60)


@settings(max_examples=examples(20))
@given(carry_cases(CONFIG), variants())
def test_carry_over_bounds_reference(case, variant) -> None:
    law_carry_over_bounds(case.problem, variant, numpy_gates)


@pytest.mark.parametrize("device", DEVICES)
@settings(max_examples=examples(8))
@given(carry_cases(CONFIG), variants())
def test_carry_over_bounds_torch_float64(device, case, variant) -> None:
    law_carry_over_bounds(case.problem, variant, torch_gates("float64", device))


@given(
    time_scale=st.sampled_from([2.0, 5.0, 50.0, 1000.0]) | st.floats(1.5, 500.0),
    steps=st.integers(1, 130),
    convention=st.sampled_from(["torch", "course"]),
    seed=st.integers(0, 2**16),
)
@settings(max_examples=examples(10))
def test_known_time_scale_numpy(time_scale, steps, convention, seed) -> None:
    law_known_time_scale(NumpyReference(), time_scale, steps, convention=convention, seed=seed)


@pytest.mark.parametrize("device", DEVICES)
@given(
    time_scale=st.sampled_from([2.0, 5.0, 50.0, 1000.0]) | st.floats(1.5, 500.0),
    steps=st.integers(1, 130),
    convention=st.sampled_from(["torch", "course"]),
    variant=variants(),
    dtype=st.sampled_from(("float64", *LOW_DTYPES)),
    hidden=st.sampled_from([1, 3, 5]),
)
@settings(max_examples=examples(10))
def test_known_time_scale_torch(
    device, time_scale, steps, convention, variant, dtype, hidden
) -> None:
    law_known_time_scale(
        TorchReference(variant, dtype, device), time_scale, steps, convention=convention,
        hidden_size=hidden,
    )  # fmt: skip


def test_known_time_scale_figure() -> None:
    """T_c = T = 50: dh_T/dh_0 = 0.364170 I (docs/gru-math.md section 3)."""
    from gruverify.laws.carry_over import state_jacobian, time_scale_problem

    J = state_jacobian(NumpyReference(), time_scale_problem(50.0, 50))
    assert abs(J[0, 0, 0] - 0.364170) < 1e-6, J[0, 0, 0]
