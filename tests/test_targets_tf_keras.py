"""Keras 2's GRU (``tf_keras.layers.GRU``, the ``tf-keras`` package) on TensorFlow.

Laws: the ``tf-keras`` target (both ``reset_after``) computes its variant and its gradients within
the float32 error model's tolerance over layers, directions, bias=False, batch_first, h0=None and
lengths (a Keras mask; padded steps zeroed by the adapter), and is visibly wrong against the other
variant; unlike Keras 3 it refuses an initial state of the wrong batch. Keras 2 does not read
``KERAS_BACKEND``, so these tests run in any process that has tensorflow and tf-keras (the
``.venv-tf`` environment) and skip elsewhere.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

pytest.importorskip("tensorflow", reason="tensorflow is an optional dependency")
pytest.importorskip("tf_keras", reason="tf-keras is an optional dependency (the .venv-tf env)")

from test_targets_external import assert_computes_its_variant, make_problem

from gruverify.targets.errors import TargetError

CASES = {
    "basic": {},
    "bidirectional-3-layers": {"I": 2, "H": 3, "layers": 3, "bidirectional": True},
    "no-bias-no-h0-batch-first": {"I": 2, "H": 3, "bias": False, "h0": False, "batch_first": True},
    "lengths-bidirectional-2-layers": {"layers": 2, "bidirectional": True, "lengths": [5, 2, 3]},
    "batch-1-T-1": {"B": 1, "T": 1, "seed": 3},
}


@pytest.fixture(scope="module", params=[True, False], ids=["reset-after", "reset-before"])
def tf_keras_target(request: Any) -> Any:
    from gruverify.targets.tf_keras_target import TfKerasGRUTarget

    try:
        return TfKerasGRUTarget(request.param)
    except TargetError as e:
        pytest.skip(str(e))


@pytest.mark.parametrize("case", list(CASES))
def test_tf_keras_computes_its_variant(tf_keras_target: Any, case: str) -> None:
    assert_computes_its_variant(tf_keras_target, make_problem(**CASES[case]))


def test_tf_keras_is_keras_2(tf_keras_target: Any) -> None:
    """The layers are Keras 2's own (tf_keras), not Keras 3's."""
    import tf_keras

    layer = tf_keras_target._layers(make_problem().params)[0]
    assert type(layer).__module__.startswith("tf_keras."), type(layer).__module__
    assert tf_keras.__version__.startswith("2."), tf_keras.__version__


def test_tf_keras_refuses_an_initial_state_of_the_wrong_batch(tf_keras_target: Any) -> None:
    """Keras 3 broadcasts a batch-1 state (a finding); Keras 2 raises."""
    problem = make_problem(B=2, seed=6)
    assert problem.h0 is not None
    with pytest.raises(ValueError, match="not compatible"):
        tf_keras_target.forward(dataclasses.replace(problem, h0=problem.h0[:, :1]))
