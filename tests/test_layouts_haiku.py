"""``haiku.GRU`` (float32, ``hk.dynamic_unroll``) with converted weights.

Laws: the converter round-trips exactly onto the folded form (``from(to(p)) ==
haiku_canonical_form(p)``, ``to(from(w)) == w``); it maps Haiku's complemented update gate by a sign
flip (``w_i[:, z] == -W_iz^T``, ``b[z] == -(b_iz + b_hz)``); ``haiku.GRU`` with converted weights,
unrolled by ``hk.dynamic_unroll``, computes the *reset-before* reference (max abs error <= 1e-5 in
float32; measured ~1e-7) and is visibly not the reset-after one; weights read from a
Haiku-initialised core reproduce it; converting without the sign flip (Haiku's z taken as the
canonical z) is caught.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="jax is an optional dependency")
hk = pytest.importorskip("haiku", reason="dm-haiku is an optional dependency (gruverify[haiku])")

import jax.numpy as jnp  # noqa: E402
from test_layouts import (  # noqa: E402
    BUG_MIN,
    F32_TOL,
    SIZES,
    B,
    T,
    assert_round_trip,
    cell_data,
    cell_reference,
    max_abs,
    one_cell,
)

from gruverify.layouts.errors import LayoutError, UnsupportedParameterError  # noqa: E402
from gruverify.layouts.haiku_layout import (  # noqa: E402
    gru_cell_from_haiku,
    gru_cell_to_haiku,
    haiku_canonical_form,
)


def unroll(H: int, **core_kw: Any) -> Any:
    def f(x: Any, h0: Any) -> Any:
        out, _ = hk.dynamic_unroll(hk.GRU(H, **core_kw), x, h0)
        return out

    return hk.without_apply_rng(hk.transform(f))


def run(params: dict[str, Any], H: int, x: np.ndarray, h0: np.ndarray) -> np.ndarray:
    tree = {"gru": {k: jnp.asarray(v, jnp.float32) for k, v in params.items()}}
    out = unroll(H).apply(tree, jnp.asarray(x, jnp.float32), jnp.asarray(h0, jnp.float32))
    return np.asarray(out)


@pytest.mark.parametrize(("I", "H"), SIZES)
def test_haiku_round_trip_is_exact_and_flips_the_update_gate(I: int, H: int) -> None:
    c = one_cell(I, H, 70)
    w = gru_cell_to_haiku(c)
    assert w["w_i"].shape == (I, 3 * H) and w["w_h"].shape == (H, 3 * H)
    assert_round_trip(w, gru_cell_from_haiku, gru_cell_to_haiku, haiku_canonical_form(c), "haiku")
    assert np.array_equal(w["w_i"][:, :H], -c.W_iz.T) and np.array_equal(w["w_h"][:, :H], -c.W_hz.T)
    assert np.array_equal(w["b"][:H], -(c.b_iz + c.b_hz))
    assert np.array_equal(w["b"][2 * H :], c.b_in + c.b_hn)


def test_haiku_converter_errors() -> None:
    c = one_cell(3, 4, 71)
    with pytest.raises(UnsupportedParameterError, match="b_hr"):
        gru_cell_to_haiku(c, fold_hidden_biases=False)
    w = gru_cell_to_haiku(c)
    with pytest.raises(LayoutError, match="w_h"):
        gru_cell_from_haiku({**w, "w_h": np.zeros((4, 4))})
    with pytest.raises(LayoutError, match="parameters are"):
        gru_cell_from_haiku({"w_i": w["w_i"]})


@pytest.mark.parametrize(("I", "H"), SIZES)
def test_haiku_gru_computes_the_reset_before_reference(I: int, H: int) -> None:
    c = one_cell(I, H, 72)
    x, h0 = cell_data(I, H, 0)
    y = run(gru_cell_to_haiku(c), H, x, h0)
    want = cell_reference(c, x, h0, "reset_before")
    assert max_abs(y, want) <= F32_TOL, f"haiku.GRU: {max_abs(y, want):.3g} > {F32_TOL}"
    other = cell_reference(c, x, h0, "reset_after")
    assert max_abs(y, other) > BUG_MIN


def test_weights_read_from_a_haiku_core_reproduce_it() -> None:
    I, H = 4, 3
    x, h0 = cell_data(I, H, 1)
    f = unroll(H, b_init=hk.initializers.RandomNormal(0.5))
    params = f.init(jax.random.key(0), jnp.zeros((T, B, I)), jnp.zeros((B, H)))
    y = np.asarray(f.apply(params, jnp.asarray(x, jnp.float32), jnp.asarray(h0, jnp.float32)))
    want = cell_reference(gru_cell_from_haiku(params["gru"]), x, h0, "reset_before")
    assert max_abs(y, want) <= F32_TOL


def test_a_converter_without_the_sign_flip_is_caught() -> None:
    I, H = 3, 5
    c = one_cell(I, H, 73)
    w = gru_cell_to_haiku(c)
    w = {k: v.copy() for k, v in w.items()}
    w["w_i"][:, :H] *= -1
    w["w_h"][:, :H] *= -1
    w["b"][:H] *= -1  # Haiku's z taken as the canonical z
    x, h0 = cell_data(I, H, 2)
    want = cell_reference(c, x, h0, "reset_before")
    err = max_abs(run(w, H, x, h0), want)
    assert err > BUG_MIN, f"the unflipped update gate went unnoticed: error {err:.3g}"
