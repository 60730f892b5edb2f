"""Flax linen and nnx GRUCell (float32, stepped over a sequence) with converted weights.

Laws: ``flax.linen.GRUCell`` with ``gru_cell_to_flax_linen(p)`` computes the reference's reset-after
GRU, with any biases (b_hr, b_hz folded into b_ir, b_iz); ``flax.nnx.GRUCell`` with
``gru_cell_to_flax_nnx(p)`` computes it whenever ``b_hn = 0``; max abs error <= 1e-5 (float32;
measured ~1e-7, docs/measurements.md). With ``b_hn != 0`` the nnx converter raises
``UnsupportedParameterError`` (nnx has no b_hn, google/flax#5594), and dropping it explicitly gives a
visibly different GRU. Weights read from Flax-initialised cells (random biases) reproduce Flax.
A planted converter bug (the linen ``ir``/``iz`` modules exchanged) is caught.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="jax is an optional dependency (gruverify[flax])")
nn = pytest.importorskip("flax.linen", reason="flax is an optional dependency (gruverify[flax])")
nnx = pytest.importorskip("flax.nnx", reason="flax.nnx needs flax >= 0.8 (gruverify[flax])")

import jax.numpy as jnp  # noqa: E402
from test_layouts import (  # noqa: E402
    BUG_MIN,
    F32_TOL,
    B,
    cell_data,
    cell_reference,
    max_abs,
)

from gruverify.core.params import random_gru_params  # noqa: E402
from gruverify.layouts import (  # noqa: E402
    UnsupportedParameterError,
    gru_cell_from_flax_linen,
    gru_cell_from_flax_nnx,
    gru_cell_to_flax_linen,
    gru_cell_to_flax_nnx,
)
from gruverify.reference.numpy_reference import gru_forward  # noqa: E402


def f32(tree: Any) -> Any:
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float32), tree)


def run_linen(variables: Any, H: int, x: np.ndarray, h0: np.ndarray) -> np.ndarray:
    cell = nn.GRUCell(features=H)
    h = jnp.asarray(h0, jnp.float32)
    outs = []
    for t in range(x.shape[0]):
        h, y = cell.apply(variables, h, jnp.asarray(x[t], jnp.float32))
        outs.append(np.asarray(y))
    return np.stack(outs)


def load_nnx(cell: Any, pure: Any) -> None:
    state = nnx.state(cell, nnx.Param)
    nnx.replace_by_pure_dict(state, f32(pure))
    nnx.update(cell, state)


def run_nnx(cell: Any, x: np.ndarray, h0: np.ndarray) -> np.ndarray:
    h = jnp.asarray(h0, jnp.float32)
    outs = []
    for t in range(x.shape[0]):
        h, y = cell(h, jnp.asarray(x[t], jnp.float32))
        outs.append(np.asarray(y))
    return np.stack(outs)


@pytest.mark.parametrize(("I", "H"), [(3, 5), (6, 2)])
def test_flax_linen_gru_cell_computes_the_reference(I: int, H: int) -> None:
    p = random_gru_params(I, H, rng=40, bias_scale=0.8)
    x, h0 = cell_data(I, H, 0)
    y = run_linen(f32(gru_cell_to_flax_linen(p.cells[0][0])), H, x, h0)
    err = max_abs(y, gru_forward(p, x, h0[None]).output)
    assert err <= F32_TOL, f"flax.linen.GRUCell: max abs error {err:.3g} > {F32_TOL}"


@pytest.mark.parametrize(("I", "H"), [(3, 5), (6, 2)])
def test_flax_nnx_gru_cell_computes_the_reference_when_b_hn_is_zero(I: int, H: int) -> None:
    p = random_gru_params(I, H, rng=41, bias_scale=0.8)
    cell = p.cells[0][0].replace(b_hn=np.zeros(H))
    x, h0 = cell_data(I, H, 1)
    module = nnx.GRUCell(I, H, rngs=nnx.Rngs(0))
    load_nnx(module, gru_cell_to_flax_nnx(cell))
    err = max_abs(run_nnx(module, x, h0), cell_reference(cell, x, h0))
    assert err <= F32_TOL, f"flax.nnx.GRUCell: max abs error {err:.3g} > {F32_TOL}"


def test_flax_nnx_converter_refuses_b_hn_and_dropping_it_changes_the_gru() -> None:
    I, H = 3, 5
    p = random_gru_params(I, H, rng=42, bias_scale=0.8)
    with pytest.raises(UnsupportedParameterError, match=r"b_hn.*max \|b_hn\| = 0\.\d+"):
        gru_cell_to_flax_nnx(p.cells[0][0])
    x, h0 = cell_data(I, H, 2)
    module = nnx.GRUCell(I, H, rngs=nnx.Rngs(0))
    load_nnx(module, gru_cell_to_flax_nnx(p.cells[0][0], drop_b_hn=True))
    err = max_abs(run_nnx(module, x, h0), gru_forward(p, x, h0[None]).output)
    assert err > BUG_MIN, f"dropping b_hn should change the outputs visibly, got {err:.3g}"


def test_weights_read_from_flax_cells_reproduce_them() -> None:
    """``from_flax_*`` direction, independent of ``to_flax_*``: Flax-initialised random biases."""
    I, H = 4, 3
    x, h0 = cell_data(I, H, 3)
    bias_init = nn.initializers.normal(0.5)
    linen = nn.GRUCell(features=H, bias_init=bias_init)
    variables = linen.init(jax.random.key(0), jnp.zeros((B, H)), jnp.zeros((B, I)))
    y = run_linen(variables, H, x, h0)
    want = cell_reference(gru_cell_from_flax_linen(variables), x, h0)
    assert max_abs(y, want) <= F32_TOL, f"from linen: {max_abs(y, want):.3g} > {F32_TOL}"
    module = nnx.GRUCell(I, H, bias_init=bias_init, rngs=nnx.Rngs(1))
    pure = nnx.to_pure_dict(nnx.state(module, nnx.Param))
    y = run_nnx(module, x, h0)
    want = cell_reference(gru_cell_from_flax_nnx(pure), x, h0)
    assert max_abs(y, want) <= F32_TOL, f"from nnx: {max_abs(y, want):.3g} > {F32_TOL}"


def test_a_planted_module_swap_in_the_linen_converter_is_caught() -> None:
    I, H = 3, 5
    p = random_gru_params(I, H, rng=43, bias_scale=0.8)
    v = gru_cell_to_flax_linen(p.cells[0][0])
    v["params"]["ir"], v["params"]["iz"] = v["params"]["iz"], v["params"]["ir"]
    x, h0 = cell_data(I, H, 4)
    err = max_abs(run_linen(f32(v), H, x, h0), gru_forward(p, x, h0[None]).output)
    assert err > BUG_MIN, f"ir/iz swap went unnoticed: error {err:.3g} <= {BUG_MIN}"
