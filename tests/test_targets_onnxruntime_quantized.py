"""``onnxruntime-dynamic-int8``: ONNX Runtime's ``quantize_dynamic`` leaves a GRU in float, so the
target is unavailable with that reason (gruverify/targets/onnxruntime_quantized.py)."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from gruverify.targets.errors import TargetError
from gruverify.targets.onnxruntime_quantized import (
    gru_nodes_after_quantize_dynamic,
)


def test_quantize_dynamic_leaves_the_gru_node_in_float() -> None:
    ops, float_weights, versions = gru_nodes_after_quantize_dynamic()
    assert "GRU" in ops, (ops, versions)
    assert len(float_weights) == 2, (float_weights, versions)  # W and R
    assert not any("Quant" in op or "Integer" in op for op in ops), (ops, versions)


def test_the_target_is_unavailable_with_the_reason() -> None:
    from gruverify.targets.library_targets import LIBRARY_TARGETS

    factory, _ = LIBRARY_TARGETS["onnxruntime-dynamic-int8"]
    with pytest.raises(TargetError, match="leaves GRU nodes in float"):
        factory("cpu", None)
