"""The Jittor target (``jittor.nn.GRU``, CPU, float32) against the float64 reference.

Laws: forward and gradients within the float32 error model's tolerance over layers, directions,
h0=None and bias=False; against the reset-before reference it fails. Findings (jittor 1.3.11,
CPU), reproduced: ``batch_first=True`` returns the output time-major (the target declares
``batch_first`` missing with that reason); an initial state of batch 1 is broadcast over a larger
batch instead of rejected; ``dropout`` between layers is never applied, in training either.
Jittor compiles each new op with g++ on first use: the first run of these tests takes minutes
on 2 cores (cached under ``~/.cache/jittor`` for later runs).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest
from test_targets_external import (
    assert_broadcasts_a_batch_1_state,
    assert_computes_its_variant,
    make_problem,
)

from gruverify.targets.jittor_target import BATCH_FIRST_REASON, JITTOR_ENV, JittorGRUTarget

for _key, _value in JITTOR_ENV.items():
    os.environ.setdefault(_key, _value)
pytest.importorskip("jittor", reason="jittor is an optional dependency")

CASES = {
    "basic": {},
    "bidirectional-2-layers": {"I": 2, "H": 3, "layers": 2, "bidirectional": True},
    "no-h0-no-bias": {"I": 2, "H": 3, "h0": False, "bias": False},
}


@pytest.fixture(scope="module")
def target() -> Any:
    return JittorGRUTarget()


@pytest.mark.parametrize("case", list(CASES))
def test_jittor_computes_the_reset_after_gru(target: Any, case: str) -> None:
    assert target.variant == "reset_after"
    assert_computes_its_variant(target, make_problem(**CASES[case]))


def test_finding_batch_first_output_comes_back_time_major(target: Any) -> None:
    import jittor as jt

    assert "time-major" in target.capabilities.reason("batch_first") == BATCH_FIRST_REASON
    with pytest.raises(ValueError, match="time-major"):
        target.forward(make_problem(batch_first=True))
    gru = jt.nn.GRU(3, 4, batch_first=True)
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype(np.float32)  # (B, T, I)
    out, _ = gru(jt.array(x))
    assert tuple(out.shape) == (5, 2, 4), (
        f"output {tuple(out.shape)}: expected (B, T, H) = (2, 5, 4)"
    )
    # the values are right, in the time-major layout: the same GRU on the transposed input
    ref = jt.nn.GRU(3, 4)
    ref.load_state_dict(gru.state_dict())
    want, _ = ref(jt.array(np.ascontiguousarray(x.transpose(1, 0, 2))))
    np.testing.assert_allclose(out.numpy(), want.numpy(), rtol=0, atol=1e-6)


def test_finding_a_batch_1_initial_state_is_broadcast(target: Any) -> None:
    assert_broadcasts_a_batch_1_state(target)


def test_finding_dropout_between_layers_is_never_applied() -> None:
    import jittor as jt

    gru = jt.nn.GRU(3, 4, 2, dropout=0.9)
    gru.train()
    x = jt.array(np.random.default_rng(1).standard_normal((5, 2, 3)).astype(np.float32))
    a, b = gru(x)[0].numpy(), gru(x)[0].numpy()
    gru.eval()
    c = gru(x)[0].numpy()
    assert np.array_equal(a, b) and np.array_equal(a, c), "dropout=0.9 in training changed nothing"
