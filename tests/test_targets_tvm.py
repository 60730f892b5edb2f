"""The ``tvm`` row (torch nn.GRU -> ONNX -> Apache TVM's relax ONNX frontend -> llvm).

Finding (apache-tvm 0.27.0.post1): the relax ONNX frontend has no converter for the ``GRU`` op, so
the path stops at the frontend and the target is unavailable with the frontend's own error. The
probe is not what fails: the same frontend converts a model without a GRU node. Without TVM the
factory says what is missing.
"""

from __future__ import annotations

import importlib.util

import pytest

from gruverify.targets.errors import TargetError
from gruverify.targets.library_targets import LIBRARY_TARGETS

HAS_TVM = importlib.util.find_spec("tvm") is not None


@pytest.mark.skipif(HAS_TVM, reason="apache-tvm is installed")
def test_without_tvm_the_target_says_what_is_missing() -> None:
    with pytest.raises(TargetError, match="needs apache-tvm"):
        LIBRARY_TARGETS["tvm"][0]("cpu", None)


def test_finding_the_relax_onnx_frontend_cannot_convert_a_gru() -> None:
    pytest.importorskip("tvm", reason="apache-tvm is an optional dependency")
    with pytest.raises(TargetError) as e:
        LIBRARY_TARGETS["tvm"][0]("cpu", None)
    assert "OpNotImplemented" in str(e.value) and "GRU" in str(e.value), str(e.value)


def test_the_frontend_converts_a_model_without_a_gru() -> None:
    """The probe's refusal is about the GRU node: a Tanh-only model converts."""
    pytest.importorskip("tvm", reason="apache-tvm is an optional dependency")
    from onnx import TensorProto, helper
    from tvm.relax.frontend.onnx import from_onnx

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])
    graph = helper.make_graph([helper.make_node("Tanh", ["x"], ["y"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert from_onnx(model) is not None
