"""``jittor.nn.GRU`` state dicts <-> canonical parameters.

Laws: the converter round-trips exactly (``from(to(p)) == p``, no folding) for stacks with layers,
directions and ``bias=False`` and rejects other keys; with Jittor installed (its CPU build: see
``JITTOR_ENV``), a ``jittor.nn.GRU`` loaded with converted weights computes the reset-after
reference (max abs error <= 1e-5 in float32), weights read from a Jittor-initialised module
reproduce it, and a planted r/z swap is caught.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest
from test_layouts import BUG_MIN, F32_TOL, assert_cells_equal, max_abs, params

from gruverify.core.params import GRUParams
from gruverify.layouts.errors import LayoutError
from gruverify.layouts.jittor_layout import gru_from_jittor, gru_to_jittor
from gruverify.reference.numpy_reference import gru_forward
from gruverify.targets.jittor_target import JITTOR_ENV


@pytest.mark.parametrize(("layers", "bidirectional", "bias"),
                         [(1, False, True), (3, True, True), (2, False, False)])  # fmt: skip
def test_jittor_round_trip_is_exact(layers: int, bidirectional: bool, bias: bool) -> None:
    p = params(3, 4, 120, num_layers=layers, bidirectional=bidirectional, bias=bias)
    sd = gru_to_jittor(p)
    back = gru_from_jittor(sd)
    for layer in range(layers):
        for d in range(len(p.cells[0])):
            assert_cells_equal(back.cells[layer][d], p.cells[layer][d], f"jittor l{layer} d{d}")
    with pytest.raises(LayoutError, match="unexpected key"):
        gru_from_jittor({**sd, "gru.weight_ih_l0": sd["weight_ih_l0"]})


def _jittor() -> Any:
    for key, value in JITTOR_ENV.items():
        os.environ.setdefault(key, value)
    return pytest.importorskip("jittor", reason="jittor is an optional dependency")


def _module(p: GRUParams) -> Any:
    jt = _jittor()
    module = jt.nn.GRU(p.input_size, p.hidden_size, p.num_layers, bidirectional=p.bidirectional)
    module.load_state_dict({k: v.astype(np.float32) for k, v in gru_to_jittor(p).items()})
    return module


def _run(module: Any, x: np.ndarray, h0: np.ndarray) -> np.ndarray:
    import jittor as jt

    out, _ = module(jt.array(x.astype(np.float32)), jt.array(h0.astype(np.float32)))
    return np.asarray(out.numpy())


def test_jittor_gru_with_converted_weights_computes_the_reference() -> None:
    p = params(3, 4, 121, num_layers=2, bidirectional=True)
    rng = np.random.default_rng(0)
    x, h0 = rng.standard_normal((6, 3, 3)), rng.uniform(-1, 1, (4, 3, 4))
    err = max_abs(_run(_module(p), x, h0), gru_forward(p, x, h0).output)
    assert err <= F32_TOL, f"jittor.nn.GRU: {err:.3g} > {F32_TOL}"
    c = p.cells[0][0]
    swapped = p.replace_cell(0, 0, c.replace(W_hr=c.W_hz, W_hz=c.W_hr))
    assert max_abs(_run(_module(swapped), x, h0), gru_forward(p, x, h0).output) > BUG_MIN


def test_weights_read_from_a_jittor_module_reproduce_it() -> None:
    jt = _jittor()
    module = jt.nn.GRU(3, 4, 2, bidirectional=True)
    p = gru_from_jittor(module.state_dict())
    rng = np.random.default_rng(1)
    x, h0 = rng.standard_normal((5, 2, 3)), rng.uniform(-1, 1, (4, 2, 4))
    assert max_abs(_run(module, x, h0), gru_forward(p, x, h0).output) <= F32_TOL
