"""The MLX target (``mlx.nn.GRU``, CPU, float32) against the float64 reset-after reference.

Laws: forward and gradients within the float32 error model's tolerance over bias=False,
batch_first, unbatched, h0=None (MLX's own first-step path), batch 1 and T 1; visibly wrong against
the reset-before reference; the missing features carry reasons and are refused.
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("mlx.core", reason="mlx is an optional dependency")

from test_targets_external import assert_computes_its_variant, make_problem

from gruverify.targets.mlx_target import MlxGRUTarget

CASES = {
    "basic": {},
    "no-bias-no-h0-batch-first": {"I": 2, "H": 3, "bias": False, "h0": False, "batch_first": True},
    "unbatched": {"I": 2, "H": 3, "batched": False},
    "unbatched-no-h0": {"batched": False, "h0": False},
    "batch-1-T-1": {"B": 1, "T": 1, "seed": 3},
}


@pytest.fixture(scope="module")
def target() -> Any:
    return MlxGRUTarget()


@pytest.mark.parametrize("case", list(CASES))
def test_mlx_computes_the_reset_after_gru(target: Any, case: str) -> None:
    assert target.variant == "reset_after"
    assert_computes_its_variant(target, make_problem(**CASES[case]))


def test_missing_features_are_declared_and_refused(target: Any) -> None:
    for feature in ("multilayer", "bidirectional", "lengths", "dropout"):
        assert target.capabilities.reason(feature)
    for kw in ({"layers": 2}, {"bidirectional": True}, {"lengths": [5, 2, 3]}):
        with pytest.raises(ValueError, match="one layer"):
            target.forward(make_problem(**kw))
