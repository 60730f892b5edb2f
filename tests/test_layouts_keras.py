"""Keras 3 GRU (torch backend, float32) with converted weights against the float64 reference.

Laws: ``keras.layers.GRU(reset_after=True)`` loaded with ``gru_cell_to_keras(p, True)`` computes
``gru_forward(p, variant="reset_after")``, and ``reset_after=False`` with ``gru_cell_to_keras(p,
False)`` computes ``gru_forward(p, variant="reset_before")`` (outputs and final state, with and
without an initial state, with and without bias, a two-layer bidirectional stack), max abs error
<= 1e-5 (float32; measured ~1e-7, docs/measurements.md). ``gru_cell_from_keras`` on a
Keras-initialised layer gives parameters with which the reference reproduces Keras. Planted
converter bugs (z/r swapped in the kernels, or in the biases only: keras#8720, #15915) are caught.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras", reason="Keras 3 is an optional dependency (gruverify[keras])")
if keras.backend.backend() != "torch":  # pragma: no cover - depends on the environment
    pytest.skip(
        f"KERAS_BACKEND is {keras.backend.backend()!r}; these tests run Keras on torch",
        allow_module_level=True,
    )

from test_layouts import BUG_MIN, F32_TOL, B, T, max_abs, stack_of  # noqa: E402

from gruverify.core.params import Variant, random_gru_params  # noqa: E402
from gruverify.layouts import gru_cell_from_keras, gru_cell_to_keras, gru_to_keras  # noqa: E402
from gruverify.reference.numpy_reference import gru_forward  # noqa: E402


def variant_of(reset_after: bool) -> Variant:
    return "reset_after" if reset_after else "reset_before"


def keras_gru(
    weights: list[np.ndarray], I: int, H: int, reset_after: bool, use_bias: bool = True
) -> Any:
    layer = keras.layers.GRU(
        H, return_sequences=True, return_state=True, reset_after=reset_after, use_bias=use_bias
    )
    layer.build((B, T, I))
    layer.set_weights([np.asarray(w, np.float32) for w in weights])
    return layer


def run_keras(layer: Any, x: np.ndarray, h0: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """``x`` (T, B, I) time-major as the reference; Keras is batch-major."""
    xb = np.transpose(x, (1, 0, 2)).astype(np.float32)
    init = None if h0 is None else [h0.astype(np.float32)]
    y, h = layer(xb, initial_state=init)
    y = np.transpose(keras.ops.convert_to_numpy(y), (1, 0, 2))
    return y, keras.ops.convert_to_numpy(h)


def keras_list(d: dict[str, np.ndarray]) -> list[np.ndarray]:
    return [d[k] for k in ("kernel", "recurrent_kernel", "bias") if k in d]


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("with_h0", [False, True])
@pytest.mark.parametrize(("I", "H"), [(3, 5), (6, 2)])
def test_keras_gru_computes_the_matching_variant(
    reset_after: bool, with_h0: bool, I: int, H: int
) -> None:
    p = random_gru_params(I, H, rng=20, bias_scale=0.8)
    x = np.random.default_rng(0).standard_normal((T, B, I))
    h0 = 0.5 * np.random.default_rng(1).standard_normal((B, H)) if with_h0 else None
    layer = keras_gru(keras_list(gru_cell_to_keras(p.cells[0][0], reset_after)), I, H, reset_after)
    y, h = run_keras(layer, x, h0)
    want = gru_forward(p, x, None if h0 is None else h0[None], variant=variant_of(reset_after))
    err = max(max_abs(y, want.output), max_abs(h, want.h_n[0]))
    assert err <= F32_TOL, f"Keras reset_after={reset_after}: max abs error {err:.3g} > {F32_TOL}"
    other = gru_forward(p, x, None if h0 is None else h0[None], variant=variant_of(not reset_after))
    assert max_abs(y, other.output) > BUG_MIN, "the two variants should be told apart"


@pytest.mark.parametrize("reset_after", [True, False])
def test_keras_gru_without_bias(reset_after: bool) -> None:
    p = random_gru_params(4, 3, rng=21, bias=False)
    x = np.random.default_rng(2).standard_normal((T, B, 4))
    w = gru_cell_to_keras(p.cells[0][0], reset_after, use_bias=False)
    assert "bias" not in w
    y, _ = run_keras(keras_gru(keras_list(w), 4, 3, reset_after, use_bias=False), x, None)
    err = max_abs(y, gru_forward(p, x, variant=variant_of(reset_after)).output)
    assert err <= F32_TOL, f"Keras use_bias=False: {err:.3g} > {F32_TOL}"


@pytest.mark.parametrize("reset_after", [True, False])
def test_keras_bidirectional_stack(reset_after: bool) -> None:
    p = random_gru_params(3, 4, num_layers=2, bidirectional=True, rng=22, bias_scale=0.8)
    x = np.random.default_rng(3).standard_normal((T, B, 3))
    model = keras.Sequential(
        [keras.Input((T, 3))]
        + [
            keras.layers.Bidirectional(
                keras.layers.GRU(4, return_sequences=True, reset_after=reset_after)
            )
            for _ in range(2)
        ]
    )
    for layer, w in zip(model.layers, gru_to_keras(p, reset_after), strict=True):
        layer.set_weights([np.asarray(a, np.float32) for a in w])
    y = keras.ops.convert_to_numpy(model(np.transpose(x, (1, 0, 2)).astype(np.float32)))
    want = gru_forward(p, x, variant=variant_of(reset_after)).output
    err = max_abs(np.transpose(y, (1, 0, 2)), want)
    assert err <= F32_TOL, f"Keras bidirectional stack: {err:.3g} > {F32_TOL}"


@pytest.mark.parametrize("reset_after", [True, False])
def test_weights_read_from_a_keras_layer_reproduce_it(reset_after: bool) -> None:
    """``from_keras`` direction, independent of ``to_keras``: random arrays set straight into Keras."""
    I, H = 5, 3
    rng = np.random.default_rng(4)
    bias_shape = (2, 3 * H) if reset_after else (3 * H,)
    weights = [rng.uniform(-0.6, 0.6, s) for s in ((I, 3 * H), (H, 3 * H), bias_shape)]
    layer = keras_gru(weights, I, H, reset_after)
    x = rng.standard_normal((T, B, I))
    y, _ = run_keras(layer, x, None)
    cell = gru_cell_from_keras(layer.get_weights(), reset_after)
    err = max_abs(y, gru_forward(stack_of(cell), x, variant=variant_of(reset_after)).output)
    assert err <= F32_TOL, f"gru_cell_from_keras: {err:.3g} > {F32_TOL}"


def _zr_swapped(w: dict[str, np.ndarray], which: tuple[str, ...]) -> dict[str, np.ndarray]:
    """A planted converter bug: the z and r blocks exchanged on the last axis of ``which``."""
    out = dict(w)
    for k in which:
        a = w[k]
        H = a.shape[-1] // 3
        out[k] = np.concatenate([a[..., H : 2 * H], a[..., :H], a[..., 2 * H :]], axis=-1)
    return out


@pytest.mark.parametrize(
    "which", [("kernel", "recurrent_kernel", "bias"), ("bias",)], ids=["weights+bias", "bias-only"]
)
def test_a_planted_gate_swap_in_the_keras_converter_is_caught(which: tuple[str, ...]) -> None:
    p = random_gru_params(3, 5, rng=23, bias_scale=0.8)
    x = np.random.default_rng(5).standard_normal((T, B, 3))
    w = _zr_swapped(gru_cell_to_keras(p.cells[0][0], True), which)
    y, _ = run_keras(keras_gru(keras_list(w), 3, 5, True), x, None)
    err = max_abs(y, gru_forward(p, x).output)
    assert err > BUG_MIN, f"z/r swap ({which}) went unnoticed: error {err:.3g} <= {BUG_MIN}"
