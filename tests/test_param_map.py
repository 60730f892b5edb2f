"""gruverify.layouts.param_map: the declared parameter map loads weights and reads gradients
exactly, and refuses a map that does not fit with the parameter's name."""

from __future__ import annotations

import numpy as np
import pytest

from gruverify.core.params import GRU_PARAM_NAMES, random_gru_params
from gruverify.layouts.errors import LayoutError
from gruverify.layouts.param_map import (
    gate_order_value,
    param_map_text,
    parse_param_map,
    preset,
)

I, H = 3, 2
CELL = random_gru_params(I, H, rng=4).cell(0)
TORCH = [("weight_ih", (3 * H, I)), ("weight_hh", (3 * H, H)), ("bias_ih", (3 * H,)),
         ("bias_hh", (3 * H,))]  # fmt: skip


def test_the_fused_preset_in_torch_order_is_torchs_layout() -> None:
    from gruverify.layouts.torch_layout import gru_cell_to_torch

    arrays = preset("fused", "rzn", TORCH, I, H).load(CELL, dict(TORCH))
    expected = gru_cell_to_torch(CELL, True)
    for name, value in arrays.items():
        np.testing.assert_array_equal(value, expected[name])


@pytest.mark.parametrize("layout", ["fused", "transposed"])
@pytest.mark.parametrize("order", ["rzn", "zrn", "nzr"])
@pytest.mark.parametrize("update", ["standard", "complement"])
def test_gather_of_load_is_the_identity(layout: str, order: str, update: str) -> None:
    """Loading canonical values and reading them back as if they were gradients gives them back
    (each block's sign flipped twice for the complement convention)."""
    shapes = TORCH if layout == "fused" else [(n, s[::-1]) for n, s in TORCH]
    pmap = preset(layout, order, shapes, I, H)
    back = pmap.gather(pmap.load(CELL, dict(shapes), update), I, H, update)
    for name in GRU_PARAM_NAMES:
        np.testing.assert_array_equal(getattr(back, name), getattr(CELL, name), err_msg=name)


def test_complement_negates_exactly_the_update_gate() -> None:
    pmap = preset("fused", "rzn", TORCH, I, H)
    std, comp = pmap.load(CELL, dict(TORCH)), pmap.load(CELL, dict(TORCH), "complement")
    for name in std:
        np.testing.assert_array_equal(comp[name][H : 2 * H], -std[name][H : 2 * H])
        np.testing.assert_array_equal(comp[name][:H], std[name][:H])


def test_a_folded_bias_holds_the_sum_and_both_terms_get_its_gradient() -> None:
    shapes = [("W", (I, 3 * H)), ("U", (H, 3 * H)), ("b", (3 * H,))]
    pmap = preset("transposed", "zrn", shapes, I, H)
    pmap.check("reset_before")
    b = pmap.load(CELL, dict(shapes))["b"]
    np.testing.assert_array_equal(b[:H], CELL.b_iz + CELL.b_hz)
    np.testing.assert_array_equal(b[2 * H :], CELL.b_in + CELL.b_hn)
    g = pmap.gather({"b": np.arange(3.0 * H)}, I, H)
    np.testing.assert_array_equal(g.b_ir, g.b_hr)
    np.testing.assert_array_equal(g.b_ir, [2.0, 3.0])
    no_bhn = pmap.gather({"b": np.arange(3.0 * H)}, I, H, variant="reset_after_no_bhn")
    assert not np.any(no_bhn.b_hn) and np.any(no_bhn.b_in)
    with pytest.raises(LayoutError, match="reset_after_no_bhn"):
        pmap.check("reset_after")


def test_concat_preset_splits_the_columns() -> None:
    shapes = [(f"{g}.{k}", (H, I + H) if k == "weight" else (H,)) for g in "rzn"
              for k in ("weight", "bias")]  # fmt: skip
    pmap = preset("concat", "rzn", shapes, I, H)
    w = pmap.load(CELL, dict(shapes))["z.weight"]
    np.testing.assert_array_equal(w, np.concatenate([CELL.W_iz, CELL.W_hz], axis=1))


def test_text_round_trip_and_bounds() -> None:
    text = "W_ir=r.weight[:, 0:I]; W_hr=r.weight[:, I:I+H]; b_r=bias[1, 2*H:3*H]; W_iz=k.T[H:2*H]"
    pmap = parse_param_map(text)
    assert parse_param_map(param_map_text(pmap)) == pmap
    slots = pmap.as_dict()
    assert slots["W_iz"].transposed and slots["W_iz"].param == "k"
    assert slots["b_r"].key(I, H) == (1, slice(4, 6))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("W_xx=a", "unknown block 'W_xx'"),
        ("W_ir a", "is not BLOCK=SLOT"),
        ("W_ir=a[0:J]", "only integers, I, H"),
        ("W_ir=a; W_ir=b", "appears twice"),
    ],
)
def test_bad_maps_are_refused_with_the_reason(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_param_map(value).as_dict()["W_ir"].key(I, H)


def test_a_map_that_leaves_or_overlaps_elements_is_refused() -> None:
    entries = dict(preset("fused", "rzn", TORCH, I, H).slots)
    short = {k: v.text() for k, v in entries.items()}
    short["W_ir"] = "weight_ih[0:1]"  # a block of the wrong shape
    with pytest.raises(LayoutError, match=r"W_ir = 'weight_ih\[0:1\]' has shape \(1, 3\)"):
        parse_param_map(short).load(CELL, dict(TORCH))
    twice = {k: v.text() for k, v in entries.items()}
    twice["W_iz"] = twice["W_ir"]
    with pytest.raises(
        LayoutError,
        match=r"weight_ih \(shape \(6, 3\)\): 6 elements never written, 6 written twice",
    ):
        parse_param_map(twice).load(CELL, dict(TORCH))
    missing = {k: v.text() for k, v in entries.items() if k != "b_hn"}
    with pytest.raises(LayoutError, match="no entry for b_hn"):
        parse_param_map(missing).check("reset_after")
    with pytest.raises(LayoutError, match=r"bias_hh .*: 2 elements never written, 0 written"):
        parse_param_map(missing).load(CELL, dict(TORCH))


def test_gate_order_reads_h_as_n_and_refuses_non_permutations() -> None:
    assert gate_order_value("ZRH") == "zrn"
    with pytest.raises(ValueError, match="permutation of r, z, n"):
        gate_order_value("rrz")
