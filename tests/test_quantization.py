"""The declared quantization (gruverify.core.quantization): the declaration, its short forms, and
the grid steps the error model builds on."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gruverify.core.arithmetic import ARITHMETICS, Arithmetic
from gruverify.core.quantization import (
    PRESETS,
    TORCH_MIN_STEP,
    Quantization,
    activation_steps,
    quantization_value,
    weight_error_bound,
    weight_step,
)


def test_presets_and_overrides() -> None:
    q = quantization_value("int8-dynamic")
    assert q == Quantization() and q.batch_coupled and q.activation_levels == 255
    torch_like = quantization_value("int8-dynamic-7bit")
    assert torch_like is not None and torch_like.activation_levels == 127
    assert torch_like.min_step == TORCH_MIN_STEP
    row = quantization_value("int8-dynamic, activation_granularity=row, symmetric=no")
    assert row == Quantization(activation_granularity="row", symmetric=False)
    assert not row.batch_coupled
    weights_only = quantization_value("int8-weights")
    assert weights_only is not None and weights_only.activations is None
    assert not weights_only.batch_coupled
    assert quantization_value("int8-dynamic,activations=none") == dataclasses.replace(
        PRESETS["int8-dynamic"], activations=None
    )
    assert quantization_value("int8-dynamic,min_step=0.001").min_step == 0.001  # type: ignore[union-attr]
    assert quantization_value(None) is None
    assert quantization_value({"weights": "uint8"}) == Quantization(weights="uint8")


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("int9-dynamic", "unknown quantization preset 'int9-dynamic'"),
        ("int8-dynamic,bits=4", "override 'bits=4' is not key=value"),
        ("int8-dynamic,symmetric=maybe", "symmetric must be true or false"),
        ("int8-dynamic,weights=int4", "weights must be one of"),
        ("int8-dynamic,activation_granularity=col", "activation_granularity must be one of"),
        ("int8-dynamic,min_step=big", "min_step must be a number"),
        (3, "must be a preset name"),
        ({"bits": 4}, "quantization:"),
    ],
)
def test_bad_declarations_name_the_problem(value: object, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        quantization_value(value)


def test_weight_steps_per_tensor_and_channel() -> None:
    w = np.array([[0.5, -1.0], [0.25, 0.1]])
    assert np.allclose(weight_step(w, Quantization()), 1.0 / 127)
    assert np.allclose(weight_step(w, Quantization(weight_granularity="channel")).ravel(),
                       [1.0 / 127, 0.25 / 127])  # fmt: skip
    asym = Quantization(symmetric=False)
    assert np.allclose(weight_step(w, asym), 1.5 / 255)
    assert np.allclose(weight_error_bound(w, asym), 1.5 / 255)  # the zero point's nudge too
    assert np.allclose(weight_error_bound(w, Quantization()), 0.5 / 127)


def test_torch_rounding_is_within_the_bound() -> None:
    """torch's symmetric int8 divides by 127.5 (levels -128..127): its rounding, clamp included,
    stays within the declared bound ``max |w| / 254``."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=(12, 7))
    s = np.max(np.abs(w)) / 127.5
    deq = np.clip(np.rint(w / s), -128, 127) * s
    assert np.max(np.abs(deq - w)) <= float(np.max(weight_error_bound(w, Quantization())))


def test_activation_steps() -> None:
    q = Quantization(reduce_range=True, min_step=TORCH_MIN_STEP)
    v = np.array([[0.5, 1.5], [-0.5, 0.0]])
    assert np.allclose(activation_steps(v, q, rows=False), 2.0 / 127)
    assert np.allclose(activation_steps(v, q, rows=True).ravel(), [1.5 / 127, 0.5 / 127])
    # the range always holds 0, and a tiny one is raised to the smallest step
    assert np.allclose(activation_steps(np.array([[2.0, 3.0]]), q, rows=False), 3.0 / 127)
    assert np.allclose(activation_steps(np.array([[1e-6]]), q, rows=False), TORCH_MIN_STEP)
    assert np.allclose(activation_steps(v, Quantization(), rows=False), 2.0 / 255)


def test_arithmetic_carries_the_declaration() -> None:
    a = dataclasses.replace(ARITHMETICS["float32"], quantization=PRESETS["int8-dynamic-7bit"])
    assert "quantized: int8 weights per tensor" in str(a) and "batch-coupled" in str(a)
    # the isolation protocol sends the arithmetic as a dict: it is parsed back
    again = Arithmetic(**dataclasses.asdict(a))
    assert again == a and isinstance(again.quantization, Quantization)
    assert (
        Arithmetic("x", "float32", 1e-7, quantization="int8-weights").quantization
        == PRESETS["int8-weights"]
    )
    assert "quantized" not in str(ARITHMETICS["float32"])
