"""``paddle.nn.GRU`` state dicts <-> canonical parameters.

Laws: the converter round-trips exactly (``from(to(p)) == p``, no folding: Paddle keeps all six
biases) for stacks with layers, directions and ``bias=False``, ignores the cell aliases Paddle's
``state_dict()`` also holds and rejects other keys; with Paddle installed, a ``paddle.nn.GRU``
loaded with converted weights computes the reset-after reference (max abs error <= 1e-5 in float32;
measured ~1e-7), weights read from a Paddle-initialised layer reproduce it, and a planted r/z swap is
caught.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from test_layouts import BUG_MIN, F32_TOL, assert_cells_equal, max_abs, params

from gruverify.core.params import GRUParams
from gruverify.layouts.errors import LayoutError
from gruverify.layouts.paddle_layout import gru_from_paddle, gru_to_paddle, paddle_direction
from gruverify.reference.numpy_reference import gru_forward


@pytest.mark.parametrize(("layers", "bidirectional", "bias"),
                         [(1, False, True), (3, True, True), (2, False, False)])  # fmt: skip
def test_paddle_round_trip_is_exact(layers: int, bidirectional: bool, bias: bool) -> None:
    p = params(3, 4, 100, num_layers=layers, bidirectional=bidirectional, bias=bias)
    sd = gru_to_paddle(p)
    back = gru_from_paddle(sd)
    for layer in range(layers):
        for d in range(len(p.cells[0])):
            assert_cells_equal(back.cells[layer][d], p.cells[layer][d], f"paddle l{layer} d{d}")
    aliases = {f"0.cell_fw.{k.split('_l0')[0]}": v for k, v in sd.items() if k.endswith("_l0")}
    assert_cells_equal(gru_from_paddle({**sd, **aliases}).cells[0][0], p.cells[0][0], "aliases")
    with pytest.raises(LayoutError, match="unexpected key"):
        gru_from_paddle({**sd, "weight_ih": sd["weight_ih_l0"]})


def _paddle_gru(p: GRUParams) -> Any:
    paddle = pytest.importorskip("paddle", reason="paddlepaddle is an optional dependency")
    paddle.set_device("cpu")
    layer = paddle.nn.GRU(p.input_size, p.hidden_size, p.num_layers,
                          direction=paddle_direction(p.bidirectional), time_major=True)  # fmt: skip
    layer.set_state_dict({k: paddle.to_tensor(v.astype(np.float32))
                          for k, v in gru_to_paddle(p).items()})  # fmt: skip
    return layer


def _run(layer: Any, x: np.ndarray, h0: np.ndarray) -> np.ndarray:
    import paddle

    out, _ = layer(paddle.to_tensor(x.astype(np.float32)), paddle.to_tensor(h0.astype(np.float32)))
    return np.asarray(out.numpy())


def test_paddle_gru_with_converted_weights_computes_the_reference() -> None:
    p = params(3, 4, 101, num_layers=2, bidirectional=True)
    rng = np.random.default_rng(0)
    x, h0 = rng.standard_normal((6, 3, 3)), rng.uniform(-1, 1, (4, 3, 4))
    err = max_abs(_run(_paddle_gru(p), x, h0), gru_forward(p, x, h0).output)
    assert err <= F32_TOL, f"paddle.nn.GRU: {err:.3g} > {F32_TOL}"
    c = p.cells[0][0]
    swapped = p.replace_cell(0, 0, c.replace(W_hr=c.W_hz, W_hz=c.W_hr))
    assert max_abs(_run(_paddle_gru(swapped), x, h0), gru_forward(p, x, h0).output) > BUG_MIN


def test_weights_read_from_a_paddle_layer_reproduce_it() -> None:
    paddle = pytest.importorskip("paddle", reason="paddlepaddle is an optional dependency")
    paddle.set_device("cpu")
    layer = paddle.nn.GRU(3, 4, 2, direction="bidirect", time_major=True)
    p = gru_from_paddle(layer.state_dict())
    rng = np.random.default_rng(1)
    x, h0 = rng.standard_normal((5, 2, 3)), rng.uniform(-1, 1, (4, 2, 4))
    assert max_abs(_run(layer, x, h0), gru_forward(p, x, h0).output) <= F32_TOL
