"""Layout converters: exact round trips, torch numerics, the course (Ng) notation.

Laws checked here (no optional library needed; Keras, ONNX and Flax numerics live in
tests/test_layouts_{keras,onnx,flax}.py):

- Round trips are bit-exact (``np.array_equal``) on random parameters whose twelve biases are all
  nonzero and different per gate: ``from_X(to_X(p)) == canonical_form_X(p)`` and
  ``to_X(from_X(w)) == w``. ``canonical_form_X`` is ``p`` itself where the layout has all twelve
  parameters (torch, ONNX, Keras ``reset_after=True``), else ``p`` with the hidden biases that act
  as one sum moved into ``b_i*`` (Keras ``reset_after=False``, Flax, the course notation).
- Folding is a law, not a convention: the folded parameters compute the same GRU (float64, max abs
  <= 1e-14) in the variant the layout computes, and a different one (> 1e-2) in the other.
- torch.nn.GRU / nn.GRUCell loaded with converted weights reproduce the float64 reference: max abs
  <= 1e-12 in float64, <= 1e-5 in float32.
- The course's equations (``ng_gru_forward``) with converted weights reproduce the reference's
  reset-before variant in float64 (<= 1e-12); ``Gamma_u == 1 - z``.
- Planted converter bugs (r/z swapped, the course's sign flip omitted) give errors > 1e-2.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from gruverify.core.params import GRUCellParams, GRUParams, StackParams, Variant, random_gru_params
from gruverify.layouts import (
    LayoutError,
    NgGRUParams,
    UnsupportedParameterError,
    flax_canonical_form,
    gru_cell_from_flax_linen,
    gru_cell_from_flax_nnx,
    gru_cell_from_keras,
    gru_cell_from_ng,
    gru_cell_to_flax_linen,
    gru_cell_to_flax_nnx,
    gru_cell_to_keras,
    gru_cell_to_ng,
    gru_from_keras,
    gru_from_onnx,
    gru_to_keras,
    gru_to_onnx,
    keras_canonical_form,
    ng_canonical_form,
    ng_gru_forward,
)
from gruverify.layouts.torch_layout import (
    gru_cell_from_torch,
    gru_cell_to_torch,
    gru_from_torch,
    gru_to_torch,
)
from gruverify.reference.numpy_reference import gru_forward, sigmoid

F64_TOL = 1e-12  # float64 library vs float64 reference; measured 1e-16 (measurements.md)
# float32 library vs float64 reference at these sizes (T <= 6, H <= 5, outputs in (-1, 1)):
# docs/measurements.md measured 1e-7 to 7e-7 for torch, ONNX Runtime, Keras and Flax;
# 1e-5 leaves rounding headroom and is still 1000x below a gate mistake (>= 1e-2 below).
F32_TOL = 1e-5
BUG_MIN = 1e-2  # a planted converter bug must produce at least this error

SIZES = [(3, 5), (6, 2)]  # (input_size, hidden_size), unequal on purpose (pytorch#78945)


def params(I: int, H: int, seed: int, **kw: Any) -> GRUParams:
    """Random parameters with large, per-gate different, all nonzero biases."""
    return random_gru_params(I, H, rng=seed, bias_scale=0.8, **kw)


def one_cell(I: int, H: int, seed: int) -> GRUCellParams[np.ndarray]:
    return params(I, H, seed).cells[0][0]


def stack_of(cell: GRUCellParams[np.ndarray], bias: bool = True) -> GRUParams:
    return StackParams(((cell,),), bias=bias)


T, B = 6, 3  # the sequences the library layout tests run a converted cell on


def cell_data(I: int, H: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``x`` (T, B, I) and ``h0`` (B, H) for one cell, from ``seed``."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((T, B, I)), 0.5 * rng.standard_normal((B, H))


def cell_reference(
    cell: GRUCellParams[np.ndarray], x: np.ndarray, h0: np.ndarray, variant: Variant = "reset_after"
) -> np.ndarray:
    """The float64 reference's output (T, B, H) of one cell from ``h0`` (B, H)."""
    return gru_forward(stack_of(cell), x, h0[None], variant=variant).output


def assert_round_trip(
    w: Any,
    from_layout: Callable[[Any], GRUCellParams[Any]],
    to_layout: Callable[[GRUCellParams[Any]], Any],
    canonical: GRUCellParams[Any],
    where: str,
) -> None:
    """A layout's weights ``w = to(p)`` round-trip bit for bit: ``from(w) == canonical`` (``p``'s
    canonical form in that layout) and ``to(from(w)) == w``."""
    back = from_layout(w)
    assert_cells_equal(back, canonical, where)
    assert_arrays_equal(to_layout(back), w, f"{where} weights")


def assert_cells_equal(got: GRUCellParams[Any], want: GRUCellParams[Any], where: str) -> None:
    for name, w in want.items():
        g = getattr(got, name)
        assert np.shape(g) == np.shape(w), f"{where}: {name} shape {np.shape(g)} != {np.shape(w)}"
        assert np.array_equal(g, w), (
            f"{where}: {name} differs, max |diff| = {np.max(np.abs(np.subtract(g, w))):.3g}"
        )


def assert_arrays_equal(got: Any, want: Any, where: str) -> None:
    """Equal nested dicts / lists of arrays, bit for bit."""
    if isinstance(want, dict):
        assert set(got) == set(want), f"{where}: keys {sorted(got)} != {sorted(want)}"
        for k in want:
            assert_arrays_equal(got[k], want[k], f"{where}[{k!r}]")
    elif isinstance(want, (list, tuple)):
        assert len(got) == len(want), f"{where}: length {len(got)} != {len(want)}"
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_arrays_equal(g, w, f"{where}[{i}]")
    else:
        g, w = np.asarray(got), np.asarray(want)
        assert g.shape == w.shape, f"{where}: shape {g.shape} != {w.shape}"
        assert np.array_equal(g, w), f"{where}: max |diff| = {np.max(np.abs(g - w)):.3g}"


def max_abs(a: Any, b: Any) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


# --- the test parameters really are "asymmetric" ------------------------------------------------


def test_test_parameters_have_distinct_nonzero_biases() -> None:
    cell = one_cell(3, 5, 0)
    biases = [getattr(cell, n) for n in ("b_ir", "b_iz", "b_in", "b_hr", "b_hz", "b_hn")]
    assert all(np.all(b != 0) for b in biases)
    for i in range(6):
        for j in range(i + 1, 6):
            assert max_abs(biases[i], biases[j]) > 0.05, f"biases {i} and {j} nearly equal"


# --- exact round trips --------------------------------------------------------------------------


@pytest.mark.parametrize(("I", "H"), SIZES)
def test_torch_round_trip_is_exact(I: int, H: int) -> None:
    p = params(I, H, 1, num_layers=2, bidirectional=True)
    back = gru_from_torch(gru_to_torch(p))
    for layer in range(2):
        for d in range(2):
            assert_cells_equal(back.cells[layer][d], p.cells[layer][d], f"torch l{layer} d{d}")
    sd = gru_to_torch(p)
    assert_arrays_equal(gru_to_torch(gru_from_torch(sd)), sd, "torch state dict")
    c = p.cells[0][0]
    assert_cells_equal(gru_cell_from_torch(gru_cell_to_torch(c)), c, "torch GRUCell")


@pytest.mark.parametrize(("I", "H"), SIZES)
@pytest.mark.parametrize("reset_after", [True, False])
def test_keras_cell_round_trip_is_exact(I: int, H: int, reset_after: bool) -> None:
    c = one_cell(I, H, 2)
    w = gru_cell_to_keras(c, reset_after)
    assert_round_trip(
        w, lambda v: gru_cell_from_keras(v, reset_after), lambda b: gru_cell_to_keras(b, reset_after),
        keras_canonical_form(c, reset_after), "keras",
    )  # fmt: skip
    listed = [w["kernel"], w["recurrent_kernel"], w["bias"]]
    assert_cells_equal(gru_cell_from_keras(listed), gru_cell_from_keras(w), "keras list form")


def test_keras_canonical_form_is_the_folded_sum() -> None:
    c = one_cell(3, 5, 3)
    f = keras_canonical_form(c, reset_after=False)
    for bi, bh in (("b_ir", "b_hr"), ("b_iz", "b_hz"), ("b_in", "b_hn")):
        assert np.array_equal(getattr(f, bi), getattr(c, bi) + getattr(c, bh)), bi
        assert np.array_equal(getattr(f, bh), np.zeros_like(getattr(c, bh))), bh
    assert keras_canonical_form(c, reset_after=True) is c


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_keras_stack_round_trip_is_exact(reset_after: bool, bias: bool) -> None:
    p = params(4, 3, 4, num_layers=2, bidirectional=True, bias=bias)
    layers = gru_to_keras(p, reset_after)
    assert [len(w) for w in layers] == [6 if bias else 4] * 2
    back = gru_from_keras(layers, reset_after)
    assert back.bias == bias
    for layer in range(2):
        for d in range(2):
            want = keras_canonical_form(p.cells[layer][d], reset_after)
            assert_cells_equal(back.cells[layer][d], want, f"keras l{layer} d{d}")
    assert_arrays_equal(gru_to_keras(back, reset_after), layers, "keras stack weights")


@pytest.mark.parametrize(("I", "H"), SIZES)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_onnx_round_trip_is_exact(I: int, H: int, bidirectional: bool) -> None:
    p = params(I, H, 5, bidirectional=bidirectional)
    cells = p.cells[0]
    wrb = gru_to_onnx(cells)
    dirs = len(cells)
    assert wrb["W"].shape == (dirs, 3 * H, I)
    assert wrb["R"].shape == (dirs, 3 * H, H)
    assert wrb["B"].shape == (dirs, 6 * H)
    back = gru_from_onnx(**wrb)
    for d in range(dirs):
        assert_cells_equal(back[d], cells[d], f"onnx direction {d}")
    assert_arrays_equal(gru_to_onnx(back), wrb, "onnx W, R, B")


@pytest.mark.parametrize(("I", "H"), SIZES)
def test_flax_linen_round_trip_is_exact(I: int, H: int) -> None:
    c = one_cell(I, H, 6)
    v = gru_cell_to_flax_linen(c)
    assert_round_trip(
        v, gru_cell_from_flax_linen, gru_cell_to_flax_linen, flax_canonical_form(c), "linen"
    )
    assert_cells_equal(gru_cell_from_flax_linen(v["params"]), flax_canonical_form(c), "linen")
    f = flax_canonical_form(c)
    assert np.array_equal(f.b_ir, c.b_ir + c.b_hr) and np.array_equal(f.b_iz, c.b_iz + c.b_hz)
    assert np.array_equal(f.b_in, c.b_in) and np.array_equal(f.b_hn, c.b_hn)


@pytest.mark.parametrize(("I", "H"), SIZES)
def test_flax_nnx_round_trip_is_exact(I: int, H: int) -> None:
    c = one_cell(I, H, 7).replace(b_hn=np.zeros(H))
    d = gru_cell_to_flax_nnx(c)
    assert_round_trip(
        d, gru_cell_from_flax_nnx, gru_cell_to_flax_nnx, flax_canonical_form(c), "nnx"
    )


def test_flax_nnx_refuses_nonzero_b_hn_and_names_it() -> None:
    c = one_cell(3, 4, 8)
    with pytest.raises(UnsupportedParameterError, match=r"b_hn.*max \|b_hn\| = "):
        gru_cell_to_flax_nnx(c)
    dropped = gru_cell_from_flax_nnx(gru_cell_to_flax_nnx(c, drop_b_hn=True))
    assert_cells_equal(dropped, flax_canonical_form(c, drop_b_hn=True), "nnx, b_hn dropped")


@pytest.mark.parametrize(("I", "H"), SIZES)
def test_ng_round_trip_is_exact(I: int, H: int) -> None:
    c = one_cell(I, H, 9)
    ng = gru_cell_to_ng(c)
    assert ng.W_u.shape == (H, H + I) and ng.b_u.shape == (H, 1)
    assert_cells_equal(gru_cell_from_ng(ng), ng_canonical_form(c), "ng")
    again = gru_cell_to_ng(gru_cell_from_ng(ng))
    for name in ("W_u", "W_r", "W_c", "b_u", "b_r", "b_c"):
        assert np.array_equal(getattr(again, name), getattr(ng, name)), name
    # the notation itself: Gamma_u's parameters are minus z's, previous state first
    assert np.array_equal(ng.W_u[:, :H], -c.W_hz) and np.array_equal(ng.W_u[:, H:], -c.W_iz)
    assert np.array_equal(ng.b_u[:, 0], -(c.b_iz + c.b_hz))


# --- folding computes the same GRU in the layout's variant, and only there ------------------------


def test_folded_biases_compute_the_same_gru_in_the_layouts_variant() -> None:
    p = params(3, 5, 10)
    c = p.cells[0][0]
    x = np.random.default_rng(0).standard_normal((6, 2, 3))
    h0 = 0.5 * np.random.default_rng(1).standard_normal((1, 2, 5))
    cases = [
        ("keras reset_before", keras_canonical_form(c, False), "reset_before"),
        ("ng (reset_before)", ng_canonical_form(c), "reset_before"),
        ("flax (reset_after)", flax_canonical_form(c), "reset_after"),
    ]
    for where, folded, variant in cases:
        want = gru_forward(p, x, h0, variant=variant).output
        got = gru_forward(stack_of(folded), x, h0, variant=variant).output
        assert max_abs(got, want) <= 1e-14, f"{where}: {max_abs(got, want):.3g} > 1e-14"
    # folding b_hn into b_in is wrong in the reset-after variant: b_hn sits inside r * (...)
    want = gru_forward(p, x, h0, variant="reset_after").output
    got = gru_forward(stack_of(keras_canonical_form(c, False)), x, h0, variant="reset_after").output
    assert max_abs(got, want) > BUG_MIN, f"reset-after with b_hn folded: {max_abs(got, want):.3g}"


def test_strict_mode_refuses_to_fold() -> None:
    c = one_cell(3, 4, 11)
    with pytest.raises(UnsupportedParameterError, match=r"b_hr.*max \|b_hr\|"):
        gru_cell_to_keras(c, reset_after=False, fold_hidden_biases=False)
    with pytest.raises(UnsupportedParameterError, match="b_hr"):
        gru_cell_to_flax_linen(c, fold_hidden_biases=False)
    with pytest.raises(UnsupportedParameterError, match="b_hr"):
        gru_cell_to_ng(c, fold_hidden_biases=False)
    zero_h = c.replace(b_hr=np.zeros(4), b_hz=np.zeros(4), b_hn=np.zeros(4))
    w = gru_cell_to_keras(zero_h, reset_after=False, fold_hidden_biases=False)
    assert_cells_equal(gru_cell_from_keras(w), zero_h, "keras, zero hidden biases")
    with pytest.raises(UnsupportedParameterError, match="use_bias=False"):
        gru_cell_to_keras(c, use_bias=False)


# --- bad input ----------------------------------------------------------------------------------


def test_bad_layouts_raise_clear_errors() -> None:
    c = one_cell(3, 4, 12)
    w = gru_cell_to_keras(c)
    with pytest.raises(LayoutError, match=r"kernel has shape \(3, 11\)"):
        gru_cell_from_keras({**w, "kernel": w["kernel"][:, :11]})
    with pytest.raises(LayoutError, match=r"bias shape \(12,\) means reset_after=False"):
        gru_cell_from_keras({**w, "bias": w["bias"][0]}, reset_after=True)
    with pytest.raises(LayoutError, match="got keys"):
        gru_cell_from_keras({"kernel": w["kernel"], "recurent_kernel": w["recurrent_kernel"]})
    with pytest.raises(LayoutError, match="layer 0: 5 arrays"):
        gru_from_keras([[w["kernel"]] * 5])
    o = gru_to_onnx(c)
    with pytest.raises(LayoutError, match=r"W has shape \(1, 12, 3\).*\(1, 15, input_size\)"):
        gru_from_onnx(o["W"], np.zeros((1, 15, 5)))
    with pytest.raises(LayoutError, match=r"B has shape \(1, 12\), expected \(1, 24\)"):
        gru_from_onnx(o["W"], o["R"], o["B"][:, :12])
    with pytest.raises(LayoutError, match="1 or 2 directions"):
        gru_to_onnx([c, c, c])
    v = gru_cell_to_flax_linen(c)["params"]
    with pytest.raises(LayoutError, match="modules"):
        gru_cell_from_flax_linen({k: m for k, m in v.items() if k != "hz"})
    with pytest.raises(LayoutError, match=r"\['ir'\]\['kernel'\] has shape \(4, 3\)"):
        gru_cell_from_flax_linen({**v, "ir": {"kernel": v["ir"]["kernel"].T, "bias": c.b_ir}})
    n = gru_cell_to_flax_nnx(c.replace(b_hn=np.zeros(4)))
    with pytest.raises(LayoutError, match=r"dense_i.kernel has shape \(3, 11\)"):
        gru_cell_from_flax_nnx({**n, "dense_i": {**n["dense_i"], "kernel": np.zeros((3, 11))}})
    ng = gru_cell_to_ng(c)
    with pytest.raises(LayoutError, match=r"b_r has shape \(4,\), expected \(4, 1\)"):
        NgGRUParams(ng.W_u, ng.W_r, ng.W_c, ng.b_u, ng.b_r[:, 0], ng.b_c)
    with pytest.raises(LayoutError, match=r"x has shape"):
        ng_gru_forward(ng, np.zeros((4, 2, 5)))


# --- torch numerics -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dtype", "tol"), [(torch.float64, F64_TOL), (torch.float32, F32_TOL)], ids=["f64", "f32"]
)
def test_torch_gru_computes_the_reference_from_converted_weights(dtype: Any, tol: float) -> None:
    p = params(3, 5, 13, num_layers=2, bidirectional=True)
    x = np.random.default_rng(2).standard_normal((6, 2, 3))
    h0 = 0.5 * np.random.default_rng(3).standard_normal((4, 2, 5))
    want = gru_forward(p, x, h0)
    gru = torch.nn.GRU(3, 5, num_layers=2, bidirectional=True, dtype=dtype)
    gru.load_state_dict(gru_to_torch(p, as_torch=True, dtype=dtype))
    with torch.no_grad():
        out, h_n = gru(torch.tensor(x, dtype=dtype), torch.tensor(h0, dtype=dtype))
    err = max(max_abs(out, want.output), max_abs(h_n, want.h_n))
    assert err <= tol, f"nn.GRU {dtype}: max abs error {err:.3g} > {tol}"
    # the other direction: a torch-initialised module, read back with gru_from_torch
    torch.manual_seed(0)
    fresh = torch.nn.GRU(3, 5, num_layers=2, bidirectional=True, dtype=dtype)
    with torch.no_grad():
        out, _ = fresh(torch.tensor(x, dtype=dtype))
    got = gru_forward(gru_from_torch(fresh.state_dict()), x).output
    assert max_abs(out, got) <= tol, f"gru_from_torch {dtype}: {max_abs(out, got):.3g} > {tol}"


@pytest.mark.parametrize(
    ("dtype", "tol"), [(torch.float64, F64_TOL), (torch.float32, F32_TOL)], ids=["f64", "f32"]
)
def test_torch_gru_cell_computes_the_reference_from_converted_weights(
    dtype: Any, tol: float
) -> None:
    c = one_cell(6, 2, 14)
    x = np.random.default_rng(4).standard_normal((5, 3, 6))
    h0 = 0.5 * np.random.default_rng(5).standard_normal((3, 2))
    want = gru_forward(stack_of(c), x, h0[None]).output
    cell = torch.nn.GRUCell(6, 2, dtype=dtype)
    cell.load_state_dict(gru_cell_to_torch(c, as_torch=True, dtype=dtype))
    h = torch.tensor(h0, dtype=dtype)
    outs = []
    with torch.no_grad():
        for t in range(5):
            h = cell(torch.tensor(x[t], dtype=dtype), h)
            outs.append(h.double().numpy())
    err = max_abs(np.stack(outs), want)
    assert err <= tol, f"nn.GRUCell {dtype}: max abs error {err:.3g} > {tol}"


def swap_r_z(cell: GRUCellParams[np.ndarray]) -> GRUCellParams[np.ndarray]:
    """A planted converter bug: r and z exchanged (weights and biases)."""
    return cell.replace(
        W_ir=cell.W_iz, W_iz=cell.W_ir, W_hr=cell.W_hz, W_hz=cell.W_hr,
        b_ir=cell.b_iz, b_iz=cell.b_ir, b_hr=cell.b_hz, b_hz=cell.b_hr,
    )  # fmt: skip


def test_a_planted_gate_swap_in_the_torch_converter_is_caught() -> None:
    p = params(3, 5, 15)
    x = np.random.default_rng(6).standard_normal((6, 2, 3))
    want = gru_forward(p, x).output
    gru = torch.nn.GRU(3, 5, dtype=torch.float64)
    bad = p.replace_cell(0, 0, swap_r_z(p.cells[0][0]))
    gru.load_state_dict(gru_to_torch(bad, as_torch=True))
    with torch.no_grad():
        out, _ = gru(torch.tensor(x))
    err = max_abs(out, want)
    assert err > BUG_MIN, f"r/z swap went unnoticed: error {err:.3g} <= {BUG_MIN}"


# --- the course notation ------------------------------------------------------------------------


@pytest.mark.parametrize(("I", "H"), SIZES)
def test_ng_equations_reproduce_the_reference_reset_before(I: int, H: int) -> None:
    """``ng_gru_forward`` (course layout (n_x, m, T_x)) == ``gru_forward(variant="reset_before")``."""
    p = params(I, H, 16)
    x = np.random.default_rng(7).standard_normal((6, 3, I))  # (T, B, I)
    h0 = 0.5 * np.random.default_rng(8).standard_normal((3, H))
    ng = gru_cell_to_ng(p.cells[0][0])
    c = ng_gru_forward(ng, np.transpose(x, (2, 1, 0)), h0.T)  # (n_a, m, T_x)
    want = gru_forward(p, x, h0[None], variant="reset_before")
    err = max_abs(np.transpose(c, (2, 1, 0)), want.output)
    assert err <= F64_TOL, f"course equations vs reset-before reference: {err:.3g} > {F64_TOL}"
    # Gamma_u is the complement of torch's z: check it at the first step against the trace
    gamma_u = sigmoid(ng.W_u @ np.vstack([h0.T, x[0].T]) + ng.b_u)
    z = want.traces[0][0]["z"][0]
    assert max_abs(gamma_u.T, 1.0 - z) <= 1e-15, f"Gamma_u != 1 - z: {max_abs(gamma_u.T, 1 - z)}"
    # and it is not the reset-after GRU (the course's candidate resets before W_c)
    other = gru_forward(p, x, h0[None], variant="reset_after").output
    assert max_abs(np.transpose(c, (2, 1, 0)), other) > BUG_MIN


def test_ng_forward_from_course_parameters_matches_after_conversion() -> None:
    """Start in the course's notation: random W_u, W_r, W_c, b_*; convert to canonical; compare."""
    rng = np.random.default_rng(9)
    n_a, n_x = 4, 3
    ng = NgGRUParams(
        *(rng.uniform(-0.6, 0.6, (n_a, n_a + n_x)) for _ in range(3)),
        *(rng.uniform(-0.8, 0.8, (n_a, 1)) for _ in range(3)),
    )
    x = rng.standard_normal((n_x, 2, 5))
    c = ng_gru_forward(ng, x)
    want = gru_forward(
        stack_of(gru_cell_from_ng(ng)), np.transpose(x, (2, 1, 0)), variant="reset_before"
    )
    err = max_abs(np.transpose(c, (2, 1, 0)), want.output)
    assert err <= F64_TOL, f"from_ng: {err:.3g} > {F64_TOL}"


def test_a_planted_sign_error_in_the_ng_converter_is_caught() -> None:
    p = params(3, 4, 17)
    x = np.random.default_rng(10).standard_normal((6, 2, 3))
    ng = gru_cell_to_ng(p.cells[0][0])
    bad = NgGRUParams(-ng.W_u, ng.W_r, ng.W_c, -ng.b_u, ng.b_r, ng.b_c)  # Gamma_u taken as z
    want = gru_forward(p, x, variant="reset_before").output
    err = max_abs(np.transpose(ng_gru_forward(bad, np.transpose(x, (2, 1, 0))), (2, 1, 0)), want)
    assert err > BUG_MIN, f"missing sign flip went unnoticed: {err:.3g}"
