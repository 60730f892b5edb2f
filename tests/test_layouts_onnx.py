"""ONNX Runtime running a one-node GRU model built from converted weights, against the reference.

Laws: a GRU node built by ``make_onnx_gru_model`` from canonical cells computes
``gru_forward(variant="reset_after")`` for ``linear_before_reset=1`` and ``"reset_before"`` for 0,
for directions forward / reverse / bidirectional, with and without ``initial_h``, and with
``sequence_lens`` (outputs past a sequence's length zero, the reverse direction starting at its last
valid step): outputs in torch's layout (T, B, dirs * H) and ``Y_h``, max abs error <= 1e-5 (float32;
measured ~1e-7, docs/measurements.md). A reverse-only node equals the reverse half of a
bidirectional reference. The course (Ng) notation, converted to canonical and then to ONNX with
``linear_before_reset=0``, reproduces ``ng_gru_forward``. Planted bugs (torch's r, z, n gate order
given to ONNX; the wrong ``linear_before_reset``: pytorch#189225) are caught.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx", reason="onnx is an optional dependency (gruverify[onnx])")
pytest.importorskip("onnxruntime", reason="onnxruntime is an optional dependency (gruverify[onnx])")

from onnx import numpy_helper
from test_layouts import BUG_MIN, F32_TOL, max_abs, swap_r_z

from gruverify.core.params import VARIANTS, GRUCellParams, StackParams, Variant, random_gru_params
from gruverify.layouts import (
    LayoutError,
    NgGRUParams,
    gru_cell_from_ng,
    gru_to_onnx,
    linear_before_reset_for,
    make_onnx_gru_model,
    ng_gru_forward,
    run_onnx_gru,
)
from gruverify.layouts.onnx_layout import Direction
from gruverify.reference.numpy_reference import gru_forward

T, B, I, H = 6, 3, 4, 5


def reference(
    cells: tuple[GRUCellParams[np.ndarray], ...],
    direction: str,
    x: np.ndarray,
    h0: np.ndarray | None,
    variant: Variant,
    lengths: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The reference output (T, B, dirs * H) and final state (dirs, B, H) of one ONNX node.

    A reverse-only node is the reverse half of a bidirectional reference (its forward half, run on
    the same cell, is discarded), so ``lengths`` are handled the reference's way.
    """
    if direction == "reverse":
        (cell,) = cells
        h0_bi = None if h0 is None else np.concatenate([np.zeros_like(h0), h0])
        r = gru_forward(StackParams(((cell, cell),)), x, h0_bi, variant=variant, lengths=lengths)
        return r.output[..., H:], r.h_n[1:]
    r = gru_forward(StackParams((cells,)), x, h0, variant=variant, lengths=lengths)
    return r.output, r.h_n


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("with_h0", [False, True], ids=["no-h0", "h0"])
def test_onnx_gru_node_computes_the_matching_variant(
    variant: Variant, direction: Direction, with_h0: bool
) -> None:
    p = random_gru_params(I, H, bidirectional=direction == "bidirectional", rng=30, bias_scale=0.8)
    cells = p.cells[0]
    dirs = len(cells)
    x = np.random.default_rng(0).standard_normal((T, B, I))
    h0 = 0.5 * np.random.default_rng(1).standard_normal((dirs, B, H)) if with_h0 else None
    lbr = linear_before_reset_for(variant)
    model = make_onnx_gru_model(
        cells,
        linear_before_reset=lbr,
        direction=direction,
        initial_h=with_h0,
    )
    out, h_n = run_onnx_gru(model, x, h0)
    want_out, want_hn = reference(cells, direction, x, h0, variant)
    assert out.shape == (T, B, dirs * H) and h_n.shape == (dirs, B, H)
    err = max(max_abs(out, want_out), max_abs(h_n, want_hn))
    assert err <= F32_TOL, f"ONNX {direction} lbr={lbr}: max abs error {err:.3g} > {F32_TOL}"
    other = "reset_before" if variant == "reset_after" else "reset_after"
    assert max_abs(out, reference(cells, direction, x, h0, other)[0]) > BUG_MIN


@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_onnx_gru_node_with_sequence_lens(direction: Direction) -> None:
    p = random_gru_params(I, H, bidirectional=direction == "bidirectional", rng=31, bias_scale=0.8)
    cells = p.cells[0]
    x = np.random.default_rng(2).standard_normal((T, B, I))
    lengths = np.array([T, 2, 4])
    model = make_onnx_gru_model(
        cells,
        linear_before_reset=1,
        direction=direction,
        initial_h=False,
        sequence_lens=True,
    )
    out, h_n = run_onnx_gru(model, x, lengths=lengths)
    want_out, want_hn = reference(cells, direction, x, None, "reset_after", lengths)
    err = max(max_abs(out, want_out), max_abs(h_n, want_hn))
    assert err <= F32_TOL, f"ONNX {direction} with sequence_lens: {err:.3g} > {F32_TOL}"


def test_onnx_model_shape_and_inputs() -> None:
    p = random_gru_params(I, H, bidirectional=True, rng=32)
    model = make_onnx_gru_model(p.cells[0], linear_before_reset=1)
    x_dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert x_dims == ["seq_len", "batch", I]
    assert [i.name for i in model.graph.input] == ["X", "initial_h"]
    (node,) = model.graph.node
    attrs = {a.name: a for a in node.attribute}
    assert attrs["direction"].s == b"bidirectional" and attrs["linear_before_reset"].i == 1
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for k, v in gru_to_onnx(p.cells[0]).items():
        assert inits[k].dtype == np.float32
        assert np.array_equal(inits[k], v.astype(np.float32)), k
    with pytest.raises(LayoutError, match="no value was given"):
        run_onnx_gru(model, np.zeros((T, B, I)))
    with pytest.raises(LayoutError, match="needs 1 cells"):
        make_onnx_gru_model(p.cells[0], linear_before_reset=1, direction="forward")


def test_ng_notation_runs_in_onnx_reset_before() -> None:
    """Course parameters -> canonical -> ONNX (linear_before_reset=0) == the course's equations."""
    rng = np.random.default_rng(3)
    n_a, n_x = H, I
    ng = NgGRUParams(
        *(rng.uniform(-0.6, 0.6, (n_a, n_a + n_x)) for _ in range(3)),
        *(rng.uniform(-0.8, 0.8, (n_a, 1)) for _ in range(3)),
    )
    x = rng.standard_normal((T, B, I))
    c0 = 0.5 * rng.standard_normal((B, H))
    course = np.transpose(ng_gru_forward(ng, np.transpose(x, (2, 1, 0)), c0.T), (2, 1, 0))
    model = make_onnx_gru_model(gru_cell_from_ng(ng), linear_before_reset=0)
    out, _ = run_onnx_gru(model, x, c0[None])
    err = max_abs(out, course)
    assert err <= F32_TOL, f"ONNX lbr=0 vs the course's equations: {err:.3g} > {F32_TOL}"


@pytest.mark.parametrize("bug", ["gate-order", "linear_before_reset"])
def test_planted_onnx_converter_bugs_are_caught(bug: str) -> None:
    p = random_gru_params(I, H, rng=33, bias_scale=0.8)
    cell = p.cells[0][0]
    x = np.random.default_rng(4).standard_normal((T, B, I))
    if bug == "gate-order":  # torch's r, z, n order written where ONNX expects z, r, h
        model = make_onnx_gru_model(swap_r_z(cell), linear_before_reset=1, initial_h=False)
    else:
        model = make_onnx_gru_model(cell, linear_before_reset=0, initial_h=False)
    out, _ = run_onnx_gru(model, x)
    err = max_abs(out, gru_forward(p, x, variant="reset_after").output)
    assert err > BUG_MIN, f"planted {bug} bug went unnoticed: error {err:.3g} <= {BUG_MIN}"
