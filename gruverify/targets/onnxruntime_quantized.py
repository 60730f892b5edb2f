"""``onnxruntime-dynamic-int8``: ONNX Runtime's dynamic quantization tool on an exported GRU, which
leaves the GRU in float, so the target is unavailable, with the measured reason.

``onnxruntime.quantization.quantize_dynamic`` rewrites the ops its registry names
(``IntegerOpsRegistry``: ``MatMul``, ``Gemm``, ``Conv``, ``Attention``, ``Gather``, ``LSTM`` ->
``DynamicQuantizeLSTM``, ...); ``GRU`` is not among them, and ONNX Runtime has no quantized GRU
kernel (its contrib ops have ``DynamicQuantizeLSTM`` and ``DynamicQuantizeMatMul``, no GRU).
Measured (onnxruntime 1.32.0, onnx 1.23.2, torch 2.13): ``torch.nn.GRU(64, 128, 2)`` exported
with ``torch.onnx.export(dynamo=False)`` and quantized with ``weight_type=QInt8`` (also with
``op_types_to_quantize=["GRU"]``) keeps both GRU nodes and all six weight initialisers in
float32, and its outputs equal the float model's bit for bit: what a user gets is the float GRU,
judged already by ``onnx-torchscript``. A GRU written out as MatMuls (a hand-unrolled cell) would
get its products quantized; that is a model, not ONNX Runtime's GRU.

``onnxruntime_dynamic_int8_target`` checks that on the installed version (export, quantize,
inspect: about 1 s) and raises ``TargetError`` with what it found; if a later version quantizes the
GRU node the error says so (the target is then to be written).
"""

from __future__ import annotations

import os
import tempfile
import warnings
from typing import NoReturn

from gruverify.targets.errors import TargetError

__all__ = ["gru_nodes_after_quantize_dynamic", "onnxruntime_dynamic_int8_target"]


def gru_nodes_after_quantize_dynamic() -> tuple[list[str], list[str], str]:
    """``(op types, float32 initialisers feeding GRU nodes, versions)`` of a small exported
    ``torch.nn.GRU(8, 16)`` after ``quantize_dynamic(weight_type=QInt8)``."""
    import onnx
    import onnxruntime
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    gru = torch.nn.GRU(8, 16)
    with tempfile.TemporaryDirectory() as d:
        src, dst = os.path.join(d, "gru.onnx"), os.path.join(d, "gru.int8.onnx")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(gru, (torch.zeros(2, 1, 8),), src, dynamo=False,
                              input_names=["x"], output_names=["y", "h"])  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_dynamic(src, dst, weight_type=QuantType.QInt8)
        model = onnx.load(dst)
    inits = {i.name: i for i in model.graph.initializer}
    ops = [n.op_type for n in model.graph.node]
    float_weights = [
        name
        for n in model.graph.node
        if n.op_type == "GRU"
        for name in n.input[1:3]
        if name in inits and inits[name].data_type == onnx.TensorProto.FLOAT
    ]
    versions = f"onnxruntime {onnxruntime.__version__}, onnx {onnx.__version__}"
    return ops, float_weights, versions


def onnxruntime_dynamic_int8_target(device: str, dtype: str | None) -> NoReturn:
    """Always a ``TargetError``: why ONNX Runtime's dynamic quantization gives no quantized GRU
    (module docstring), from what ``quantize_dynamic`` does on this installation."""
    try:
        ops, float_weights, versions = gru_nodes_after_quantize_dynamic()
    except ImportError as e:
        raise TargetError(f"onnxruntime-dynamic-int8 needs onnxruntime, onnx and torch: {e}") from e
    if "GRU" in ops and float_weights:
        raise TargetError(
            f"onnxruntime.quantization.quantize_dynamic leaves GRU nodes in float ({versions}: "
            f"W and R stay float32, {len(float_weights)} initialisers; its registry quantizes LSTM "
            "and MatMul, not GRU, and there is no quantized GRU kernel): nothing quantized to judge"
        )
    raise TargetError(
        f"onnxruntime.quantization.quantize_dynamic now rewrites the GRU ({versions}: ops "
        f"{sorted(set(ops))}); no target for it is written yet"
    )
