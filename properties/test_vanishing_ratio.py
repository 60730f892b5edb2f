"""The vanishing-gradient ratio (gruverify.laws.vanishing_ratio, docs/gru-math.md section 4).

- the tanh RNN obeys ||dh_T/dh_0|| <= sigma_max(W)^T for any weights and inputs;
- a GRU with b_iz from construct_update_bias keeps ||dh_T/dh_0|| >= prod (1 - d_t) > sigma^T, so
  the ratio GRU / RNN exceeds ((1 + sigma) / (2 sigma))^T, exponential in T;
- at default initialisation the median over 20 seeds of log10 ||dh_T/dh_0|| is larger for the GRU
  than for the RNN (T >= 20).
The GRU trajectory and gates come from torch (float64) on each device.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from property_support import DEVICES

from gruverify.core.params import random_gru_params, random_rnn_params
from gruverify.laws.gates import torch_gates
from gruverify.laws.vanishing_ratio import (
    construct_update_bias,
    law_gru_vanishes_slower,
    law_rnn_gradient_bound,
    law_vanishing_ratio,
)
from gruverify.profiles import examples
from gruverify.strategies import seeds, sizes, variants


@settings(max_examples=examples(20))
@given(
    steps=st.integers(1, 130),
    hidden=sizes(17),
    inputs=sizes(9),
    batch=st.integers(1, 3),
    scale=st.sampled_from([None, 0.5, 2.0]),
    x_scale=st.sampled_from([0.0, 1.0, 100.0]),
    seed=seeds(),
)
def test_rnn_gradient_bound(steps, hidden, inputs, batch, scale, x_scale, seed) -> None:
    rng = np.random.default_rng(seed)
    cell = random_rnn_params(inputs, hidden, rng=rng, scale=scale).cell(0)
    x = rng.standard_normal((steps, batch, inputs)) * x_scale
    law_rnn_gradient_bound(cell, x, rng.uniform(-1, 1, (batch, hidden)))


@pytest.mark.parametrize("device", DEVICES)
@settings(max_examples=examples(15))
@given(
    steps=st.integers(1, 130),
    hidden=sizes(12),
    inputs=sizes(9),
    sigma=st.sampled_from([0.5, 0.9, 0.99]) | st.floats(0.3, 0.95),
    variant=variants(),
    seed=seeds(),
)
def test_constructed_gru_beats_rnn(device, steps, hidden, inputs, sigma, variant, seed) -> None:
    rng = np.random.default_rng(seed)
    rnn = random_rnn_params(inputs, hidden, rng=rng, sigma_max=sigma, orthogonal=True).cell(0)
    x = rng.standard_normal((steps, 2, inputs))
    h0 = rng.uniform(-1, 1, (2, hidden))
    gru = random_gru_params(inputs, hidden, rng=rng).cell(0)
    gru = construct_update_bias(gru, sigma, float(np.max(np.abs(x))), variant)
    ratio = law_vanishing_ratio(gru, rnn, x, h0, variant, gates=torch_gates("float64", device))
    assert ratio >= ((1 + sigma) / (2 * sigma)) ** steps * (1 - 1e-9)


@pytest.mark.parametrize("steps", [20, 50])
@pytest.mark.parametrize("variant", ["reset_after", "reset_before"])
def test_gru_vanishes_slower_at_default_init(steps, variant) -> None:
    gru, rnn = law_gru_vanishes_slower(
        steps, range(20), hidden_size=32, input_size=8, variant=variant
    )
    assert gru > rnn
