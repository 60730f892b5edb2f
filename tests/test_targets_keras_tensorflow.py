"""Keras 3 GRU on the TensorFlow backend, directly and converted to TFLite (LiteRT interpreter).

Laws: ``keras-tensorflow`` (both ``reset_after``) computes its variant and its gradients within the
float32 error model's tolerance over layers, directions, bias=False, batch_first, h0=None and
lengths (a Keras mask; padded steps zeroed by the adapter); the TFLite conversion of the same
stacks computes the same forward (weights as model inputs, and baked in as constants: both agree
with the reference); each is visibly wrong against the other variant; one conversion serves every
weight set of a shape. Keras picks its backend once per process: these tests skip where keras
already runs another backend (run them with ``KERAS_BACKEND=tensorflow``, in their own process).
"""

from __future__ import annotations

import os
from typing import Any

import pytest

pytest.importorskip("tensorflow", reason="tensorflow is an optional dependency")
if os.environ.get("KERAS_BACKEND") != "tensorflow":  # never make keras TensorFlow for the suite
    pytest.skip(
        "run with KERAS_BACKEND=tensorflow in a process of its own (keras picks one backend per "
        "process; the rest of the suite uses torch)",
        allow_module_level=True,
    )

from test_targets_external import (
    assert_broadcasts_a_batch_1_state,
    assert_computes_its_variant,
    assert_forward_matches,
    make_problem,
)

from gruverify.targets.errors import TargetError

CASES = {
    "basic": {},
    "bidirectional-3-layers": {"I": 2, "H": 3, "layers": 3, "bidirectional": True},
    "no-bias-no-h0-batch-first": {"I": 2, "H": 3, "bias": False, "h0": False, "batch_first": True},
    "lengths-bidirectional-2-layers": {"layers": 2, "bidirectional": True, "lengths": [5, 2, 3]},
    "batch-1-T-1": {"B": 1, "T": 1, "seed": 3},
}


def _build(make: Any) -> Any:
    try:
        return make()
    except TargetError as e:
        pytest.skip(str(e))


@pytest.fixture(scope="module", params=[True, False], ids=["reset-after", "reset-before"])
def keras_tf(request: Any) -> Any:
    from gruverify.targets.keras_tensorflow_target import KerasTensorFlowGRUTarget

    return _build(lambda: KerasTensorFlowGRUTarget(request.param))


@pytest.fixture(scope="module", params=[True, False], ids=["reset-after", "reset-before"])
def tflite(request: Any) -> Any:
    pytest.importorskip("ai_edge_litert", reason="ai-edge-litert is an optional dependency")
    from gruverify.targets.tflite_target import TFLiteGRUTarget

    return _build(lambda: TFLiteGRUTarget(request.param))


@pytest.mark.parametrize("case", list(CASES))
def test_keras_tensorflow_computes_its_variant(keras_tf: Any, case: str) -> None:
    assert_computes_its_variant(keras_tf, make_problem(**CASES[case]))


@pytest.mark.parametrize("case", list(CASES))
def test_tflite_computes_its_variant(tflite: Any, case: str) -> None:
    assert_computes_its_variant(tflite, make_problem(**CASES[case]), gradients=False)


def test_tflite_converts_once_per_shape_and_constant_weights_agree(tflite: Any) -> None:
    from gruverify.targets.tflite_target import TFLiteGRUTarget

    before = tflite.conversions
    for seed in range(3):
        assert_forward_matches(tflite, make_problem(T=4, B=2, seed=40 + seed))
    assert tflite.conversions - before <= 1
    constant = TFLiteGRUTarget(tflite.reset_after, weights_as_inputs=False)
    assert_forward_matches(constant, make_problem(layers=2, bidirectional=True, seed=44))


def test_finding_a_batch_1_initial_state_is_broadcast(keras_tf: Any) -> None:
    """The checker's "bad initial state rejected" on keras-tensorflow (the matrix's warning): an
    initial state of batch 1 serves a batch of 2 instead of raising, as on the torch backend
    (keras-team/keras#21183); it computes what the state repeated over the batch gives."""
    assert_broadcasts_a_batch_1_state(keras_tf)
