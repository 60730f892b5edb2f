"""``mindspore.nn.GRU`` parameters <-> canonical parameters.

Laws: the converter round-trips exactly (``from(to(p)) == p``, no folding: MindSpore keeps all six
biases) for stacks with layers, directions and ``has_bias=False``, reads names carrying a cell path
and rejects other names and duplicates; with MindSpore installed, a ``mindspore.nn.GRU`` given
converted weights computes the reset-after reference (max abs error <= 1e-5 in float32), weights
read from a MindSpore-initialised cell reproduce it, and a planted r/z swap is caught.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from test_layouts import BUG_MIN, F32_TOL, assert_cells_equal, max_abs, params

from gruverify.core.params import GRUParams
from gruverify.layouts.errors import LayoutError
from gruverify.layouts.mindspore_layout import gru_from_mindspore, gru_to_mindspore
from gruverify.reference.numpy_reference import gru_forward


@pytest.mark.parametrize(("layers", "bidirectional", "bias"),
                         [(1, False, True), (3, True, True), (2, False, False)])  # fmt: skip
def test_mindspore_round_trip_is_exact(layers: int, bidirectional: bool, bias: bool) -> None:
    p = params(3, 4, 110, num_layers=layers, bidirectional=bidirectional, bias=bias)
    named = gru_to_mindspore(p)
    assert set(named) == {
        f"{kind}_{m}_l{k}{sfx}"
        for k in range(layers) for sfx in (["", "_reverse"] if bidirectional else [""])
        for kind in (["weight", "bias"] if bias else ["weight"]) for m in ("ih", "hh")
    }  # fmt: skip
    back = gru_from_mindspore(named)
    for layer in range(layers):
        for d in range(len(p.cells[0])):
            assert_cells_equal(back.cells[layer][d], p.cells[layer][d], f"mindspore l{layer} d{d}")
    prefixed = gru_from_mindspore({f"encoder.gru.{k}": v for k, v in named.items()})
    assert_cells_equal(prefixed.cells[0][0], p.cells[0][0], "names with a cell path")
    with pytest.raises(LayoutError, match="unexpected parameter"):
        gru_from_mindspore({**named, "w_ih_list": named["weight_ih_l0"]})
    with pytest.raises(LayoutError, match="twice"):
        gru_from_mindspore({**named, "a.weight_ih_l0": named["weight_ih_l0"]})


def _mindspore() -> Any:
    ms = pytest.importorskip("mindspore", reason="mindspore is an optional dependency")
    ms.set_device("CPU")
    return ms


def _cell(p: GRUParams) -> Any:
    ms = _mindspore()
    cell = ms.nn.GRU(p.input_size, p.hidden_size, p.num_layers, bidirectional=p.bidirectional)
    params = {q.name: q for q in cell.get_parameters()}
    for name, value in gru_to_mindspore(p).items():
        params[name].set_data(ms.Tensor(value.astype(np.float32)))
    return cell


def _run(cell: Any, x: np.ndarray, h0: np.ndarray) -> np.ndarray:
    import mindspore as ms

    out, _ = cell(ms.Tensor(x.astype(np.float32)), ms.Tensor(h0.astype(np.float32)))
    return np.asarray(out.asnumpy())


def test_mindspore_gru_with_converted_weights_computes_the_reference() -> None:
    p = params(3, 4, 111, num_layers=2, bidirectional=True)
    rng = np.random.default_rng(0)
    x, h0 = rng.standard_normal((6, 3, 3)), rng.uniform(-1, 1, (4, 3, 4))
    err = max_abs(_run(_cell(p), x, h0), gru_forward(p, x, h0).output)
    assert err <= F32_TOL, f"mindspore.nn.GRU: {err:.3g} > {F32_TOL}"
    c = p.cells[0][0]
    swapped = p.replace_cell(0, 0, c.replace(W_hr=c.W_hz, W_hz=c.W_hr))
    assert max_abs(_run(_cell(swapped), x, h0), gru_forward(p, x, h0).output) > BUG_MIN


def test_weights_read_from_a_mindspore_cell_reproduce_it() -> None:
    ms = _mindspore()
    cell = ms.nn.GRU(3, 4, 2, bidirectional=True)
    p = gru_from_mindspore({q.name: q for q in cell.get_parameters()})
    rng = np.random.default_rng(1)
    x, h0 = rng.standard_normal((5, 2, 3)), rng.uniform(-1, 1, (4, 2, 4))
    assert max_abs(_run(cell, x, h0), gru_forward(p, x, h0).output) <= F32_TOL
