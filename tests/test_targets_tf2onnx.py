"""Keras 3 GRU (TensorFlow backend) converted to ONNX by tf2onnx, run by onnxruntime.

Laws: the ``tf2onnx`` target (both ``reset_after``) computes its variant's forward within the
float32 error model's tolerance over layers, directions, bias=False, batch_first, h0=None and
lengths (the Keras mask as a model input), and is visibly wrong against the other variant; one
conversion serves every weight set, batch size and length of a configuration (dynamic axes); the
weights baked in as initializers give the same numbers, and so does ``tf2onnx.convert.from_keras``
of a ``keras.Model`` (the path users take). Needs tensorflow, tf2onnx and onnxruntime (the
``.venv-tf`` environment) and ``KERAS_BACKEND=tensorflow`` in a process of its own.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import numpy as np
import pytest

pytest.importorskip("tensorflow", reason="tensorflow is an optional dependency")
pytest.importorskip("tf2onnx", reason="tf2onnx is an optional dependency (the .venv-tf env)")
pytest.importorskip("onnxruntime", reason="onnxruntime is an optional dependency")
if os.environ.get("KERAS_BACKEND") != "tensorflow":  # never make keras TensorFlow for the suite
    pytest.skip(
        "run with KERAS_BACKEND=tensorflow in a process of its own (keras picks one backend per "
        "process; the rest of the suite uses torch)",
        allow_module_level=True,
    )

from test_targets_external import assert_computes_its_variant, assert_forward_matches, make_problem

from gruverify.targets.errors import TargetError

CASES = {
    "basic": {},
    "bidirectional-3-layers": {"I": 2, "H": 3, "layers": 3, "bidirectional": True},
    "no-bias-no-h0-batch-first": {"I": 2, "H": 3, "bias": False, "h0": False, "batch_first": True},
    "lengths-bidirectional-2-layers": {"layers": 2, "bidirectional": True, "lengths": [5, 2, 3]},
    "batch-1-T-1": {"B": 1, "T": 1, "seed": 3},
}


@pytest.fixture(scope="module", params=[True, False], ids=["reset-after", "reset-before"])
def tf2onnx_target(request: Any) -> Any:
    from gruverify.targets.tf2onnx_target import Tf2OnnxGRUTarget

    try:
        return Tf2OnnxGRUTarget(request.param)
    except TargetError as e:
        pytest.skip(str(e))


@pytest.mark.parametrize("case", list(CASES))
def test_tf2onnx_computes_its_variant(tf2onnx_target: Any, case: str) -> None:
    assert_computes_its_variant(tf2onnx_target, make_problem(**CASES[case]), gradients=False)


def test_tf2onnx_converts_once_per_configuration(tf2onnx_target: Any) -> None:
    """Batch and time are dynamic axes and the weights inputs: new weights, batch sizes and
    lengths of one configuration reuse its conversion."""
    assert_forward_matches(tf2onnx_target, make_problem(T=4, B=2, seed=40))
    before = tf2onnx_target.conversions
    for seed, (T, B) in enumerate([(4, 2), (7, 1), (2, 5)]):
        assert_forward_matches(tf2onnx_target, make_problem(T=T, B=B, seed=41 + seed))
    assert tf2onnx_target.conversions == before


def test_tf2onnx_constant_weights_agree(tf2onnx_target: Any) -> None:
    from gruverify.targets.tf2onnx_target import Tf2OnnxGRUTarget

    constant = Tf2OnnxGRUTarget(tf2onnx_target.reset_after, weights_as_inputs=False)
    assert_forward_matches(constant, make_problem(layers=2, bidirectional=True, seed=44))
    assert constant.conversions == 1


def test_from_keras_of_a_model_computes_the_same_gru(tf2onnx_target: Any) -> None:
    """``tf2onnx.convert.from_keras`` of a ``keras.Model`` around the same stack (what users call)
    gives the target's numbers; its model holds an ONNX Loop (tf2onnx 1.17.0's GRU rewriters do not
    match Keras 3's loop), so onnxruntime runs the cell as Keras wrote it."""
    import keras
    import onnxruntime
    import tf2onnx

    from gruverify.targets.keras_stack import keras_gru_stack

    problem = make_problem(I=3, H=4, layers=2, bidirectional=True, h0=False, batch_first=True,
                           seed=45)  # fmt: skip
    p = problem.params
    x = keras.Input((None, p.input_size), name="x")
    seq, finals = x, []
    for gru in keras_gru_stack(keras, p, tf2onnx_target.reset_after):
        result = gru(seq)
        seq, finals = result[0], finals + list(result[1:])
    model = keras.Model(x, [seq, *finals])
    from gruverify.targets.keras_tensorflow_target import keras_weights

    model.set_weights(keras_weights(p, tf2onnx_target.reset_after))
    proto, _ = tf2onnx.convert.from_keras(model, opset=17)
    ops = {node.op_type for node in proto.graph.node}
    assert "Loop" in ops and "GRU" not in ops, sorted(ops)
    session = onnxruntime.InferenceSession(proto.SerializeToString())
    got = session.run(None, {session.get_inputs()[0].name: np.asarray(problem.x, np.float32)})
    want = tf2onnx_target.forward(problem)
    np.testing.assert_allclose(got[0], want.output, atol=1e-6)
    np.testing.assert_allclose(np.stack(got[1:]), want.h_n, atol=1e-6)


TF_KERAS_CASES = {
    "basic": ({}, "GRU"),
    "bidirectional-3-layers": ({"I": 2, "H": 3, "layers": 3, "bidirectional": True}, "GRU"),
    "no-h0": ({"h0": False}, "GRU"),
    "no-bias": ({"I": 2, "H": 3, "bias": False, "h0": False, "batch_first": True}, "Loop"),
    "lengths": ({"layers": 2, "bidirectional": True, "lengths": [5, 2, 3]}, "Loop"),
}


@pytest.mark.parametrize("case", list(TF_KERAS_CASES))
@pytest.mark.parametrize("reset_after", [True, False], ids=["reset-after", "reset-before"])
def test_tf2onnx_of_tf_keras_computes_its_variant(reset_after: bool, case: str) -> None:
    """Keras 2's graphs are the ones tf2onnx's GRU rewriter knows: ``GRU(reset_after=True)`` with
    a bias and no mask becomes ONNX ``GRU`` nodes (``linear_before_reset=1``, gates reordered to
    z, r, h, biases split into Wb/Rb), which compute the right GRU; the rest (reset-before, no bias,
    a mask) stay ``Loop`` s, which do too."""
    pytest.importorskip("tf_keras", reason="tf-keras is an optional dependency (the .venv-tf env)")
    import onnx

    from gruverify.targets.tf2onnx_target import Tf2OnnxGRUTarget

    target = Tf2OnnxGRUTarget(reset_after, weights_as_inputs=False, source="tf-keras")
    kwargs, rewritten_to = TF_KERAS_CASES[case]
    assert_computes_its_variant(target, make_problem(**kwargs), gradients=False)
    ops = {node.op_type for node in onnx.load_from_string(target.last_model).graph.node}
    expected = rewritten_to if reset_after else "Loop"
    assert expected in ops and ({"GRU", "Loop"} - {expected}).isdisjoint(ops), sorted(ops)


def test_optimizers_without_deep_copies_give_the_same_graph(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The target converts with ``TF2ONNX_CATCH_ERRORS`` set (tf2onnx's optimizers then skip their
        per-optimizer deep copies): the graph has the nodes users get (in another topological order),
    inside the Loop bodies too."""
    import onnx
    import tf2onnx

    from gruverify.targets import tf2onnx_target

    problem = make_problem(layers=2, bidirectional=True, lengths=[5, 2, 3], seed=46)
    fast = tf2onnx_target.convert_keras_gru_with_tf2onnx(
        problem.params, True, initial_state=True, mask=True
    )
    monkeypatch.setattr(tf2onnx_target, "_optimizers_uncaught", contextlib.nullcontext)
    assert "TF2ONNX_CATCH_ERRORS" not in os.environ
    plain = tf2onnx_target.convert_keras_gru_with_tf2onnx(
        problem.params, True, initial_state=True, mask=True
    )
    nodes = [sorted(_ops(onnx.load_from_string(m).graph)) for m in (fast, plain)]
    assert nodes[0] == nodes[1], tf2onnx.__version__


def test_a_failing_optimizer_falls_back_to_the_users_conversion(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Planted: a conversion that fails whenever the optimizers run uncaught. The target converts
    again as users run tf2onnx, computes the right GRU, and leaves the environment as it was."""
    import tf2onnx

    from gruverify.targets.tf2onnx_target import Tf2OnnxGRUTarget

    real = tf2onnx.convert.from_function
    calls: list[bool] = []

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls.append("TF2ONNX_CATCH_ERRORS" in os.environ)
        if calls[-1]:
            raise RuntimeError("planted optimizer failure")
        return real(*args, **kwargs)

    monkeypatch.setattr(tf2onnx.convert, "from_function", flaky)
    target = Tf2OnnxGRUTarget(True)
    assert_forward_matches(target, make_problem(seed=47))
    assert calls == [True, False]
    assert "TF2ONNX_CATCH_ERRORS" not in os.environ


def _ops(graph: Any) -> list[tuple[str, int, int]]:
    """(op type, inputs, outputs) of every node of ``graph`` and of its subgraphs."""
    ops = []
    for node in graph.node:
        ops.append((node.op_type, len(node.input), len(node.output)))
        for attribute in node.attribute:
            if attribute.HasField("g"):
                ops.extend(_ops(attribute.g))
    return ops
