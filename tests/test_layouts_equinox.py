"""``equinox.nn.GRUCell`` (float32, scanned over time) with converted weights.

Laws: the converter round-trips exactly onto the folded form (``from(to(p)) ==
equinox_canonical_form(p)``, ``to(from(w)) == w``), with and without biases; the cell with
``gru_cell_to_equinox(p)`` weights, scanned with ``jax.lax.scan`` and vmapped over the batch,
computes the reset-after reference (max abs error <= 1e-5 in float32; measured ~1e-7); weights read
from an Equinox-initialised cell reproduce it; a planted r/z swap in the converter is caught.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="jax is an optional dependency")
eqx = pytest.importorskip(
    "equinox", reason="equinox is an optional dependency (gruverify[equinox])"
)

import jax.numpy as jnp  # noqa: E402
from test_layouts import (  # noqa: E402
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

from gruverify.layouts.equinox_layout import (  # noqa: E402
    EQUINOX_FIELDS,
    equinox_canonical_form,
    gru_cell_from_equinox,
    gru_cell_to_equinox,
)
from gruverify.layouts.errors import LayoutError, UnsupportedParameterError  # noqa: E402


def load(cell: Any, fields: dict[str, Any]) -> Any:
    names = [k for k in EQUINOX_FIELDS if fields[k] is not None]
    return eqx.tree_at(
        lambda c: [getattr(c, k) for k in names], cell,
        [jnp.asarray(fields[k], jnp.float32) for k in names],
    )  # fmt: skip


def run(cell: Any, x: np.ndarray, h0: np.ndarray) -> np.ndarray:
    step = jax.vmap(cell)  # (B, I), (B, H) -> (B, H)

    def body(h: Any, x_t: Any) -> tuple[Any, Any]:
        h = step(x_t, h)
        return h, h

    _, ys = jax.lax.scan(body, jnp.asarray(h0, jnp.float32), jnp.asarray(x, jnp.float32))
    return np.asarray(ys)


@pytest.mark.parametrize(("I", "H"), SIZES)
def test_equinox_round_trip_is_exact(I: int, H: int) -> None:
    c = one_cell(I, H, 60)
    w = gru_cell_to_equinox(c)
    f = equinox_canonical_form(c)
    assert_round_trip(w, gru_cell_from_equinox, gru_cell_to_equinox, f, "equinox")
    assert np.array_equal(f.b_ir, c.b_ir + c.b_hr) and np.array_equal(f.b_iz, c.b_iz + c.b_hz)
    assert np.array_equal(w["bias_n"], c.b_hn) and np.array_equal(w["weight_ih"][:H], c.W_ir)


def test_equinox_without_bias_round_trips_and_refuses_biases() -> None:
    c = one_cell(3, 4, 61)
    zero = c.replace(**{k: np.zeros(4) for k in ("b_ir", "b_iz", "b_in", "b_hr", "b_hz", "b_hn")})
    w = gru_cell_to_equinox(zero, use_bias=False)
    assert w["bias"] is None and w["bias_n"] is None
    assert_cells_equal(gru_cell_from_equinox(w), zero, "equinox use_bias=False")
    with pytest.raises(UnsupportedParameterError, match="use_bias=False"):
        gru_cell_to_equinox(c, use_bias=False)
    with pytest.raises(UnsupportedParameterError, match="b_hr"):
        gru_cell_to_equinox(c, fold_hidden_biases=False)
    with pytest.raises(LayoutError, match="weight_hh"):
        gru_cell_from_equinox({**w, "weight_hh": np.zeros((4, 4))})


@pytest.mark.parametrize(("I", "H"), SIZES)
@pytest.mark.parametrize("use_bias", [True, False])
def test_equinox_gru_cell_computes_the_reference(I: int, H: int, use_bias: bool) -> None:
    c = one_cell(I, H, 62)
    if not use_bias:
        c = c.replace(**{k: np.zeros(H) for k, _ in c.items() if k.startswith("b_")})
    x, h0 = cell_data(I, H, 0)
    cell = load(eqx.nn.GRUCell(I, H, use_bias=use_bias, key=jax.random.key(0)),
                gru_cell_to_equinox(c, use_bias=use_bias))  # fmt: skip
    err = max_abs(run(cell, x, h0), cell_reference(c, x, h0))
    assert err <= F32_TOL, f"equinox.nn.GRUCell: max abs error {err:.3g} > {F32_TOL}"


def test_weights_read_from_an_equinox_cell_reproduce_it() -> None:
    I, H = 4, 3
    cell = eqx.nn.GRUCell(I, H, key=jax.random.key(1))  # random nonzero bias and bias_n
    x, h0 = cell_data(I, H, 1)
    want = cell_reference(gru_cell_from_equinox(cell), x, h0)
    assert max_abs(run(cell, x, h0), want) <= F32_TOL


def test_a_planted_gate_swap_in_the_equinox_converter_is_caught() -> None:
    I, H = 3, 5
    c = one_cell(I, H, 63)
    w = gru_cell_to_equinox(c)
    w_ih = w["weight_ih"]
    assert w_ih is not None
    w["weight_ih"] = np.concatenate([w_ih[H : 2 * H], w_ih[:H], w_ih[2 * H :]])  # r <-> z
    x, h0 = cell_data(I, H, 2)
    cell = load(eqx.nn.GRUCell(I, H, key=jax.random.key(0)), w)
    err = max_abs(run(cell, x, h0), cell_reference(c, x, h0))
    assert err > BUG_MIN, f"r/z swap went unnoticed: error {err:.3g} <= {BUG_MIN}"
