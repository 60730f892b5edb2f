"""OpenVINO ``GRUSequence`` inputs (W, R, B) <-> canonical parameters.

Laws: for both ``linear_before_reset`` values the converter round-trips exactly onto the folded
form (``from(to(p)) == openvino_canonical_form(p)``, ``to(from(w)) == w``) for one and two
directions, refuses to fold when told not to, and rejects wrong shapes; a one-layer model built
from converted weights, run by the CPU plugin in f32, computes the reference of the matching
variant (max abs error <= 1e-5; measured ~1e-7); a planted z/r swap is caught.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_layouts import (
    BUG_MIN,
    F32_TOL,
    SIZES,
    assert_arrays_equal,
    assert_cells_equal,
    max_abs,
    params,
)

from gruverify.layouts.errors import LayoutError, UnsupportedParameterError
from gruverify.layouts.openvino_layout import (
    gru_from_openvino,
    gru_to_openvino,
    openvino_canonical_form,
)
from gruverify.reference.numpy_reference import gru_forward


@pytest.mark.parametrize(("I", "H"), SIZES)
@pytest.mark.parametrize("lbr", [True, False])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_openvino_round_trip_is_exact(I: int, H: int, lbr: bool, bidirectional: bool) -> None:
    cells = params(I, H, 80, bidirectional=bidirectional).cells[0]
    w = gru_to_openvino(cells, lbr)
    assert w["B"].shape == (len(cells), (4 if lbr else 3) * H)
    back = gru_from_openvino(w["W"], w["R"], w["B"], lbr)
    for d, c in enumerate(cells):
        assert_cells_equal(back[d], openvino_canonical_form(c, lbr), f"openvino direction {d}")
    assert_arrays_equal(gru_to_openvino(back, lbr), w, "openvino W, R, B")
    c = cells[0]
    assert np.array_equal(w["B"][0, :H], c.b_iz + c.b_hz)
    assert np.array_equal(w["B"][0, 2 * H : 3 * H], c.b_in if lbr else c.b_in + c.b_hn)


def test_openvino_converter_errors() -> None:
    c = params(3, 4, 81).cells[0][0]
    with pytest.raises(UnsupportedParameterError, match="b_hr"):
        gru_to_openvino(c, True, fold_hidden_biases=False)
    w = gru_to_openvino(c, True)
    with pytest.raises(LayoutError, match="linear_before_reset=False"):
        gru_from_openvino(w["W"], w["R"], w["B"], False)
    with pytest.raises(LayoutError, match="R has shape"):
        gru_from_openvino(w["W"], w["R"][0], w["B"], True)
    with pytest.raises(LayoutError, match="a GRUSequence node holds 1 or 2 directions, got 3"):
        gru_to_openvino([c, c, c], True)


@pytest.mark.parametrize("lbr", [True, False])
def test_a_gru_sequence_with_converted_weights_computes_the_reference(lbr: bool) -> None:
    pytest.importorskip("openvino", reason="openvino is an optional dependency")
    import openvino as ov

    from gruverify.targets.openvino_target import build_openvino_gru_model

    p = params(3, 5, 82)
    rng = np.random.default_rng(0)
    x, h0 = rng.standard_normal((4, 6, 3)), rng.uniform(-1, 1, (1, 4, 5))
    compiled = ov.Core().compile_model(
        build_openvino_gru_model(p, lbr), "CPU", {"INFERENCE_PRECISION_HINT": "f32"}
    )
    feeds = {"X": x.astype(np.float32), "h0_0": np.swapaxes(h0, 0, 1).astype(np.float32),
             "lengths": np.full(4, 6, np.int32)}  # fmt: skip
    y = compiled(feeds)[compiled.output(0)]
    variant = "reset_after" if lbr else "reset_before"
    want = gru_forward(p, np.swapaxes(x, 0, 1), h0, variant=variant).output
    err = max_abs(np.swapaxes(y, 0, 1), want)
    assert err <= F32_TOL, f"GRUSequence(linear_before_reset={lbr}): {err:.3g} > {F32_TOL}"
    swapped = p.replace_cell(0, 0, p.cells[0][0].replace(W_iz=p.cells[0][0].W_ir,
                                                        W_ir=p.cells[0][0].W_iz))  # fmt: skip
    y_bug = ov.Core().compile_model(
        build_openvino_gru_model(swapped, lbr), "CPU", {"INFERENCE_PRECISION_HINT": "f32"}
    )(feeds)[0]
    assert max_abs(np.swapaxes(y_bug, 0, 1), want) > BUG_MIN
