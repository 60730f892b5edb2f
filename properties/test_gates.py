"""Gate bounds, box invariance, closed reset gate and the unrolled cell, for both GRU variants.

Laws: gruverify.laws.gates (formulas in its docstring) and the observable box invariance of
gruverify.laws.metamorphic. Gate values come from the float64 numpy reference and from torch
operations in every dtype on every device.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from property_support import DEVICES, LOW_DTYPES, cases_for, run_law

from gruverify.error_model import ARITHMETICS, ErrorModel
from gruverify.laws.gates import (
    close_reset_gate,
    gate_thresholds,
    law_closed_reset_gate,
    law_gate_bounds,
    law_gate_box_invariance,
    law_sequence_equals_unrolled_cell,
    numpy_gates,
    torch_gates,
)
from gruverify.laws.metamorphic import law_box_invariance as law_observable_box
from gruverify.profiles import examples
from gruverify.reference.implementations import NumpyReference, TorchReference
from gruverify.strategies import cases, configs, variants

SMALL = configs(max_steps=40, max_size=17, work=60)


def test_thresholds_match_the_measured_rounding_points() -> None:
    """The computed thresholds sit at or below where torch's kernels actually reach 1.0."""
    import torch

    for dtype in ("float64", "float32"):
        th = gate_thresholds(dtype)
        dt = getattr(torch, dtype)
        below = torch.tensor([th.sigmoid_upper * 0.999], dtype=dt)
        assert float(torch.sigmoid(below)) < 1.0, (dtype, th)
        assert float(torch.tanh(torch.tensor([th.tanh_upper * 0.999], dtype=dt))) < 1.0, th
    assert abs(gate_thresholds("float32").sigmoid_upper - 16.64) < 0.01
    assert abs(gate_thresholds("float64").sigmoid_upper - 36.74) < 0.01


@settings(max_examples=examples(20))
@given(cases(SMALL), variants())
def test_gate_bounds_float64_reference(case, variant) -> None:
    law_gate_bounds(case.problem, variant, numpy_gates, "float64")


@pytest.mark.parametrize("device", DEVICES)
@settings(max_examples=examples(20))
@given(cases(SMALL), variants(), st.sampled_from(("float64", *LOW_DTYPES)))
def test_gate_bounds_torch(device, case, variant, dtype) -> None:
    law_gate_bounds(case.problem, variant, torch_gates(dtype, device), dtype)


@pytest.mark.parametrize("device", DEVICES)
@settings(max_examples=examples(15))
@given(cases(SMALL), variants(), st.sampled_from(("float64", *LOW_DTYPES)))
def test_box_invariance_every_layer(device, case, variant, dtype) -> None:
    law_gate_box_invariance(case.problem, variant, torch_gates(dtype, device), dtype)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", ["float64", *LOW_DTYPES])
@settings(max_examples=examples(8))
@given(data=st.data(), variant=variants())
def test_box_invariance_observed_outputs(device, dtype, data, variant) -> None:
    case = data.draw(cases_for(dtype, max_steps=40, max_size=17, work=60), label="case")
    impl = TorchReference(variant, dtype, device)
    run_law(law_observable_box, impl, case.problem, ErrorModel(ARITHMETICS[dtype]))


@pytest.mark.parametrize("device", DEVICES)
@settings(max_examples=examples(15))
@given(
    cases(configs(max_steps=4, max_size=17)), variants(), st.sampled_from(("float64", *LOW_DTYPES))
)
def test_closed_reset_gate_removes_h(device, case, variant, dtype) -> None:
    """r = 0: the candidate ignores h (exactly), and b_hn too for reset-after."""
    p = case.problem
    params = close_reset_gate(p.params, dtype)
    rng = np.random.default_rng(case.seed)
    gates = numpy_gates if dtype == "float64" and device == "cpu" else torch_gates(dtype, device)
    for layer, row in enumerate(params.cells):
        for cell in row:
            N = 4
            x = rng.standard_normal((N, cell.input_size)) * (1.0 if layer == 0 else 0.5)
            h1 = rng.uniform(-1, 1, (N, cell.hidden_size))
            h2 = rng.uniform(-1, 1, (N, cell.hidden_size)) * 3.0
            from gruverify.core.arithmetic import round_to_dtype

            c = cell.map(lambda v: round_to_dtype(v, dtype))
            law_closed_reset_gate(
                c, round_to_dtype(x, dtype), round_to_dtype(h1, dtype),
                round_to_dtype(h2, dtype), variant, gates, dtype,
            )  # fmt: skip


@settings(max_examples=examples(15))
@given(cases(SMALL), variants())
def test_sequence_equals_unrolled_cell_numpy(case, variant) -> None:
    run_law(law_sequence_equals_unrolled_cell, NumpyReference(variant), case.problem)


@pytest.mark.parametrize("device", DEVICES)
@settings(max_examples=examples(10))
@given(cases(SMALL), variants(), st.sampled_from(("float64", "float32")))
def test_sequence_equals_unrolled_cell_torch(device, case, variant, dtype) -> None:
    run_law(law_sequence_equals_unrolled_cell, TorchReference(variant, dtype, device), case.problem)
