"""``mlx.nn.GRU`` (float32, CPU) with converted weights.

Laws: the converter round-trips exactly onto the folded form (``from(to(p)) ==
mlx_canonical_form(p)``, ``to(from(w)) == w``), with and without biases; MLX's GRU with
``gru_cell_to_mlx(p)`` computes the reset-after reference (max abs error <= 1e-5 in float32;
measured ~1e-7); weights read from an MLX-initialised layer reproduce it; a planted r/z swap is
caught.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from test_layouts import (
    BUG_MIN,
    F32_TOL,
    SIZES,
    assert_cells_equal,
    assert_round_trip,
    cell_data,
    cell_reference,
    max_abs,
    one_cell,
)

from gruverify.layouts.errors import LayoutError, UnsupportedParameterError
from gruverify.layouts.mlx_layout import gru_cell_from_mlx, gru_cell_to_mlx, mlx_canonical_form


def run(weights: dict[str, Any], I: int, H: int, x: np.ndarray, h0: np.ndarray) -> np.ndarray:
    mx = pytest.importorskip("mlx.core", reason="mlx is an optional dependency")
    import mlx.nn

    layer = mlx.nn.GRU(I, H, bias="b" in weights)
    layer.update({k: mx.array(np.asarray(v, np.float32)) for k, v in weights.items()})
    xs = mx.array(np.swapaxes(x, 0, 1).astype(np.float32))  # (B, T, I)
    return np.swapaxes(np.array(layer(xs, mx.array(h0.astype(np.float32)))), 0, 1)


@pytest.mark.parametrize(("I", "H"), SIZES)
def test_mlx_round_trip_is_exact(I: int, H: int) -> None:
    c = one_cell(I, H, 90)
    w = gru_cell_to_mlx(c)
    assert sorted(w) == ["Wh", "Wx", "b", "bhn"]
    assert_round_trip(w, gru_cell_from_mlx, gru_cell_to_mlx, mlx_canonical_form(c), "mlx")
    zero = c.replace(**{k: np.zeros(H) for k, _ in c.items() if k.startswith("b_")})
    w0 = gru_cell_to_mlx(zero, bias=False)
    assert sorted(w0) == ["Wh", "Wx"]
    assert_cells_equal(gru_cell_from_mlx(w0), zero, "mlx bias=False")


def test_mlx_converter_errors() -> None:
    c = one_cell(3, 4, 91)
    with pytest.raises(UnsupportedParameterError):
        gru_cell_to_mlx(c, bias=False)
    with pytest.raises(LayoutError, match="Wx, Wh"):
        gru_cell_from_mlx({"Wx": np.zeros((12, 3)), "Wh": np.zeros((12, 4)), "b": np.zeros(12)})


@pytest.mark.parametrize(("I", "H"), SIZES)
@pytest.mark.parametrize("bias", [True, False])
def test_mlx_gru_computes_the_reference(I: int, H: int, bias: bool) -> None:
    c = one_cell(I, H, 92)
    if not bias:
        c = c.replace(**{k: np.zeros(H) for k, _ in c.items() if k.startswith("b_")})
    x, h0 = cell_data(I, H, 0)
    err = max_abs(run(gru_cell_to_mlx(c, bias=bias), I, H, x, h0), cell_reference(c, x, h0))
    assert err <= F32_TOL, f"mlx.nn.GRU: max abs error {err:.3g} > {F32_TOL}"


def test_weights_read_from_an_mlx_layer_reproduce_it() -> None:
    pytest.importorskip("mlx.core", reason="mlx is an optional dependency")
    import mlx.nn

    I, H = 4, 3
    layer = mlx.nn.GRU(I, H)  # random b and bhn
    w = {k: np.array(v) for k, v in layer.parameters().items()}
    x, h0 = cell_data(I, H, 1)
    want = cell_reference(gru_cell_from_mlx(w), x, h0)
    assert max_abs(run(w, I, H, x, h0), want) <= F32_TOL


def test_a_planted_gate_swap_in_the_mlx_converter_is_caught() -> None:
    I, H = 3, 5
    c = one_cell(I, H, 93)
    w = gru_cell_to_mlx(c)
    w["Wh"] = np.concatenate([w["Wh"][H : 2 * H], w["Wh"][:H], w["Wh"][2 * H :]])  # r <-> z
    x, h0 = cell_data(I, H, 2)
    err = max_abs(run(w, I, H, x, h0), cell_reference(c, x, h0))
    assert err > BUG_MIN, f"r/z swap went unnoticed: error {err:.3g} <= {BUG_MIN}"
