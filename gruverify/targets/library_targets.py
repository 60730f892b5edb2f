"""The conformance matrix's library targets (issue 15), by name, with lazy factories.

Each factory takes ``(device, dtype)`` like the registry's (``dtype`` None: the target's default),
imports its library only when called and raises ``TargetError`` when the library is missing, the
dtype or device is unsupported, or (Keras on TensorFlow) the process already runs another Keras
backend. ``LIBRARY_TARGETS`` maps each name to ``(factory, description)``, the shape of
``gruverify.targets.TARGETS``; ``LIBRARY_OF`` names the distribution each needs.
"""

from __future__ import annotations

from collections.abc import Callable

from gruverify.core.problem import Implementation

__all__ = ["LIBRARY_OF", "LIBRARY_TARGETS"]

Factory = Callable[[str, "str | None"], Implementation]


def _onnx_reference(device: str, dtype: str | None) -> Implementation:
    from gruverify.targets.onnx_reference_target import OnnxReferenceTarget

    return OnnxReferenceTarget("reset_after", dtype=dtype or "float32", device=device)


def _torch_export(device: str, dtype: str | None) -> Implementation:
    from gruverify.targets.torch_graph_targets import make_torch_export_target

    return make_torch_export_target(device, dtype)


def _torch_compile(device: str, dtype: str | None) -> Implementation:
    from gruverify.targets.torch_graph_targets import make_torch_compile_target

    return make_torch_compile_target(device, dtype)


def _onnxruntime_dynamic_int8(device: str, dtype: str | None) -> Implementation:
    from gruverify.targets.onnxruntime_quantized import onnxruntime_dynamic_int8_target

    onnxruntime_dynamic_int8_target(device, dtype)


def _openvino(device: str, dtype: str | None) -> Implementation:
    from gruverify.targets.openvino_target import OpenVinoGRUTarget

    return OpenVinoGRUTarget("reset_after", dtype=dtype or "float32", device=device)


def _openvino_default(device: str, dtype: str | None) -> Implementation:
    from gruverify.targets.openvino_target import OpenVinoGRUTarget

    target = OpenVinoGRUTarget("reset_after", dtype=dtype or "float32", device=device,
                               precision=None)  # fmt: skip
    target.name = "openvino-default"
    return target


def _openvino_nncf_int8(device: str, dtype: str | None) -> Implementation:
    from gruverify.targets.nncf_quantized import openvino_nncf_int8_target

    openvino_nncf_int8_target(device, dtype)


def _keras_tensorflow(device: str, dtype: str | None) -> Implementation:
    from gruverify.targets.keras_tensorflow_target import KerasTensorFlowGRUTarget

    return KerasTensorFlowGRUTarget(True, dtype=dtype or "float32", device=device)


def _tflite(device: str, dtype: str | None) -> Implementation:
    from gruverify.targets.tflite_target import TFLiteGRUTarget

    return TFLiteGRUTarget(True, dtype=dtype or "float32", device=device)


def _tf2onnx(device: str, dtype: str | None) -> Implementation:
    from gruverify.targets.tf2onnx_target import Tf2OnnxGRUTarget

    return Tf2OnnxGRUTarget(True, dtype=dtype or "float32", device=device)


def _tf_keras(device: str, dtype: str | None) -> Implementation:
    from gruverify.targets.tf_keras_target import TfKerasGRUTarget

    return TfKerasGRUTarget(True, dtype=dtype or "float32", device=device)


def _tflite_dynamic_int8(device: str, dtype: str | None) -> Implementation:
    from gruverify.targets.tflite_quantized import TFLiteDynamicInt8Target

    return TFLiteDynamicInt8Target(dtype=dtype or "float32", device=device)


def _mlx(device: str, dtype: str | None) -> Implementation:
    from gruverify.targets.mlx_target import MlxGRUTarget

    return MlxGRUTarget(dtype=dtype or "float32", device=device)


def _equinox(device: str, dtype: str | None) -> Implementation:
    from gruverify.targets.equinox_target import EquinoxGRUCellTarget

    return EquinoxGRUCellTarget(dtype=dtype or "float32", device=device)


def _haiku(device: str, dtype: str | None) -> Implementation:
    from gruverify.targets.haiku_target import HaikuGRUTarget

    return HaikuGRUTarget(dtype=dtype or "float32", device=device)


def _paddle(device: str, dtype: str | None) -> Implementation:
    from gruverify.targets.paddle_target import PaddleGRUTarget

    return PaddleGRUTarget(dtype=dtype or "float32", device=device)


def _onnx2torch(device: str, dtype: str | None) -> Implementation:
    from gruverify.targets.onnx2torch_target import Onnx2TorchGRUTarget

    return Onnx2TorchGRUTarget(dtype=dtype or "float32", device=device)


def _mnn(device: str, dtype: str | None) -> Implementation:
    from gruverify.targets.mnn_target import MnnGRUTarget

    return MnnGRUTarget(dtype=dtype or "float32", device=device)


def _ncnn(device: str, dtype: str | None) -> Implementation:
    from gruverify.targets.ncnn_target import NcnnGRUTarget

    return NcnnGRUTarget(dtype=dtype or "float32", device=device)


def _executorch(device: str, dtype: str | None) -> Implementation:
    from gruverify.targets.executorch_target import ExecuTorchGRUTarget

    return ExecuTorchGRUTarget(dtype=dtype or "float32", device=device)


def _mindspore(device: str, dtype: str | None) -> Implementation:
    from gruverify.targets.mindspore_target import MindSporeGRUTarget

    return MindSporeGRUTarget(dtype=dtype or "float32", device=device)


def _jittor(device: str, dtype: str | None) -> Implementation:
    from gruverify.targets.jittor_target import JittorGRUTarget

    return JittorGRUTarget(dtype=dtype or "float32", device=device)


def _tvm(device: str, dtype: str | None) -> Implementation:
    from gruverify.targets.tvm_target import make_tvm_target

    return make_tvm_target(device, dtype)


LIBRARY_TARGETS: dict[str, tuple[Factory, str]] = {
    "onnx-reference": (
        _onnx_reference,
        "onnx.reference.ReferenceEvaluator, one GRU node per layer (linear_before_reset=1, layout, "
        "sequence_lens); float32 (float64 by --dtype), forward only",
    ),
    "torch-export": (
        _torch_export,
        "torch.export of nn.GRU, run_decompositions(), run as the exported program (one export per "
        "sequence length); float32 (float64 by --dtype)",
    ),
    "torch-compile": (
        _torch_compile,
        "torch.compile(nn.GRU, fullgraph=True), inductor, allow_rnn; every call checked to run "
        "compiled code; float32 (float64 by --dtype)",
    ),
    "onnxruntime-dynamic-int8": (
        _onnxruntime_dynamic_int8,
        "torch.nn.GRU -> ONNX -> onnxruntime.quantization.quantize_dynamic(QInt8): unavailable, "
        "the tool leaves GRU nodes in float (no quantized GRU op)",
    ),
    "openvino": (
        _openvino,
        "OpenVINO CPU plugin, GRUSequence stacks built with its opset (linear_before_reset=True), "
        "f32 inference precision set explicitly; forward only",
    ),
    "openvino-default": (
        _openvino_default,
        "OpenVINO CPU plugin at its default inference precision (bf16 on a CPU with AVX512-BF16 or "
        "AMX, f32 elsewhere), judged in the arithmetic it runs; forward only",
    ),
    "openvino-nncf-int8": (
        _openvino_nncf_int8,
        "OpenVINO GRUSequence model -> nncf.compress_weights (int8 weight-only): unavailable, NNCF "
        "compresses MatMul, Convolution and embedding weights, not GRUSequence's",
    ),
    "keras-tensorflow": (
        _keras_tensorflow,
        "keras.layers.GRU(reset_after=True) stacks on the TensorFlow backend; float32 (needs a "
        "process whose keras runs TensorFlow)",
    ),
    "tflite": (
        _tflite,
        "Keras GRU (TensorFlow backend) -> TFLite builtins -> LiteRT interpreter; float32, forward "
        "only, converted per (batch, T)",
    ),
    "tf2onnx": (
        _tf2onnx,
        "Keras GRU (TensorFlow backend) -> tf2onnx (opset 17) -> onnxruntime; float32, forward "
        "only, converted per configuration (batch and time dynamic, weights as inputs)",
    ),
    "tf-keras": (
        _tf_keras,
        "Keras 2's tf_keras.layers.GRU(reset_after=True) stacks on TensorFlow; float32",
    ),
    "tflite-dynamic-int8": (
        _tflite_dynamic_int8,
        "Keras GRU -> TFLite with Optimize.DEFAULT (dynamic-range: int8 weights per channel where "
        "a tensor has 1024+ elements, int8 inputs per row), judged under that declared "
        "quantization with its dequantized weights; forward only",
    ),
    "mlx": (_mlx, "mlx.nn.GRU on MLX's CPU backend; float32, one layer, one direction"),
    "equinox": (
        _equinox,
        "equinox.nn.GRUCell under jax.lax.scan (vmapped over the batch); float32, one layer",
    ),
    "haiku": (
        _haiku,
        "haiku.GRU under hk.dynamic_unroll (DeepRNN stacks, reverse unrolls), judged as "
        "reset-before (Haiku's update gate is the complement of the canonical z); float32",
    ),
    "paddle": (
        _paddle,
        "paddle.nn.GRU (layers, bidirect, time_major, sequence_length) on the CPU; float32; "
        "bias=False crashes Paddle (declared missing)",
    ),
    "onnx2torch": (
        _onnx2torch,
        "nn.GRU -> ONNX (onnx-torchscript export) -> onnx2torch -> the converted torch module; "
        "float32",
    ),
    "mnn": (
        _mnn,
        "nn.GRU -> ONNX (onnx-torchscript export, static time axis) -> MNN converter -> MNN "
        "Module runtime; float32, forward only, converted per configuration, T and weights",
    ),
    "ncnn": (
        _ncnn,
        "nn.GRU (TorchScript) -> pnnx -> ncnn .param/.bin -> ncnn runtime (fp16 off); float32, "
        "forward only, one sequence per call (no batch axis, no lengths)",
    ),
    "executorch": (
        _executorch,
        "nn.GRU -> torch.export -> ExecuTorch (XNNPACK partitioner) -> ExecuTorch runtime, as a "
        "one-step streaming program (state fed back); float32, forward only, one direction",
    ),
    "mindspore": (
        _mindspore,
        "mindspore.nn.GRU (layers, bidirectional, batch_first, seq_length, has_bias) on the CPU in "
        "graph mode (compiled per shape); float32",
    ),
    "jittor": (
        _jittor,
        "jittor.nn.GRU (layers, bidirectional, batch_first, bias) on the CPU, ops JIT-compiled "
        "with g++; float32; no lengths",
    ),
    "tvm": (
        _tvm,
        "torch nn.GRU -> ONNX (TorchScript exporter) -> Apache TVM's relax ONNX frontend -> llvm; "
        "unavailable while the frontend has no GRU converter",
    ),
}
"""Name -> (factory, description), to be merged into ``gruverify.targets.TARGETS``."""

LIBRARY_OF: dict[str, str] = {
    "onnx-reference": "onnx",
    "torch-export": "torch",
    "executorch": "executorch",
    "torch-compile": "torch",
    "onnxruntime-dynamic-int8": "onnxruntime",
    "openvino": "openvino",
    "openvino-default": "openvino",
    "openvino-nncf-int8": "nncf",
    "keras-tensorflow": "tensorflow-cpu",
    "tflite": "ai-edge-litert",
    "tf2onnx": "tf2onnx",
    "tf-keras": "tf-keras",
    "tflite-dynamic-int8": "ai-edge-litert",
    "mlx": "mlx",
    "equinox": "equinox",
    "haiku": "dm-haiku",
    "paddle": "paddlepaddle",
    "onnx2torch": "onnx2torch",
    "mnn": "MNN",
    "ncnn": "pnnx",
    "mindspore": "mindspore",
    "jittor": "jittor",
    "tvm": "apache-tvm",
}
"""Name -> the distribution the target needs (for the matrix's ``library`` and ``version``)."""
