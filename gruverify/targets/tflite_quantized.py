"""TFLite's dynamic-range quantization of a Keras GRU as an ``Implementation``:
``tflite-dynamic-int8``.

The ``tflite`` target's model (``convert_keras_gru_to_tflite``) with its weights as constants and
the converter's ``optimizations = [tf.lite.Optimize.DEFAULT]`` and no representative dataset:
what TensorFlow's post-training quantization guide calls dynamic-range quantization. What the
converter makes of a Keras GRU, read from the converted flatbuffer (tensorflow-cpu 2.20,
ai-edge-litert 2.3.0):

* The GRU's ``while`` body computes each step with two ``FULLY_CONNECTED`` ops, ``kernel^T x_t``
  (the input product, one call per step) and ``recurrent_kernel^T h`` (one call per step); both
  weight tensors ``(3H, I)`` and ``(3H, H)`` become **int8, symmetric, one scale per output row**
  (``quantized_dimension`` 0, zero points 0: ``s = max |w_row| / 127``); the biases stay float32.
* Both ops carry ``asymmetric_quantize_inputs = True``: the runtime's hybrid kernel quantizes the
  float operand at every call to int8 **per batch row** with the row's own range
  (``max(v, 0) - min(v, 0)) / 255``, an integer zero point), multiplies in integers and rescales.
  A row's result depends on nothing else in the batch: no batch coupling.
* A weight tensor with fewer than 1024 elements is **not** quantized (the converter's minimum; not
  an option of the Python API): a GRU with ``3 H I < 1024`` keeps a float input product, one with
  ``3 H H < 1024`` a float recurrent one, and the hybrid kernel (and its input quantization) only
  runs where the weights are int8.

The target declares ``TFLITE_DYNAMIC_INT8`` (int8 weights per channel, symmetric; int8
activations per row) and hands over its effective weights (``effective_params``): the int8
tensors of the converted model dequantized (``scale[row] * (q - zero_point)``), each matched to
the Keras weight it replaces by shape and nearness (``effective_keras_weights``); a weight left
in float is found in the model as the float32 constant it was. Where a product stays float the
declared activation quantization over-covers it (a wider tolerance, never a false alarm).
``TFLiteDynamicInt8Target(declare=False)`` declares nothing (judged as plain float32).

Missing: as ``tflite`` (``gradients``, ``unbatched``, ``dropout``). Judged as reset-after (the
Keras default; reset-before splits the recurrent weights into two products, not matched here).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gruverify.core.params import GRUParams
from gruverify.core.problem import Problem
from gruverify.core.quantization import Quantization
from gruverify.layouts.keras_layout import gru_from_keras, gru_to_keras
from gruverify.targets.errors import TargetError
from gruverify.targets.recent import Recent
from gruverify.targets.tflite_target import TFLiteGRUTarget, convert_keras_gru_to_tflite

__all__ = [
    "TFLITE_DYNAMIC_INT8",
    "TFLiteDynamicInt8Target",
    "effective_keras_weights",
    "int8_tensors",
]

TFLITE_DYNAMIC_INT8 = Quantization(
    weights="int8", weight_granularity="channel", symmetric=True,
    activations="int8", activation_granularity="row",
)  # fmt: skip
"""What TFLite's dynamic-range quantization of a Keras GRU does (module docstring)."""

_MAX_EFFECTIVE = 16


def _key(params: GRUParams) -> tuple[Any, ...]:
    """The cache key of a weight set: its digest and its shapes (a digest covers the values
    only: a 1-layer bidirectional stack and a 2-layer one of the same sizes can share it)."""
    p = params
    return (p.digest(), p.input_size, p.hidden_size, p.num_layers, p.num_directions)


def _model(flat: bytes) -> Any:
    from tensorflow.lite.python import schema_py_generated as schema

    return schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(flat, 0))


def _constant(model: Any, tensor: Any, dtype: Any) -> np.ndarray | None:
    data = model.buffers[tensor.buffer].data
    if data is None or len(data) == 0:
        return None
    return np.frombuffer(np.asarray(data, np.uint8).tobytes(), dtype).reshape(tensor.shape)


def int8_tensors(flat: bytes) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Every int8 constant of a TFLite flatbuffer (all subgraphs): ``(name, dequantized float64
    array, per-row scales)``, dequantized as ``scale[c] * (q - zero_point[c])`` along the
    tensor's ``quantized_dimension``."""
    from tensorflow.lite.python import schema_py_generated as schema

    model = _model(flat)
    out = []
    for sub in model.subgraphs:
        for t in sub.tensors:
            if t.type != schema.TensorType.INT8 or t.quantization is None:
                continue
            q = _constant(model, t, np.int8)
            if q is None or t.quantization.scale is None:
                continue
            scale = np.asarray(t.quantization.scale, np.float64)
            zp = np.asarray(t.quantization.zeroPoint, np.float64)
            shape = [1] * q.ndim
            if scale.size > 1:
                shape[t.quantization.quantizedDimension] = scale.size
            w = scale.reshape(shape) * (q.astype(np.float64) - zp.reshape(shape))
            out.append((t.name.decode(), w, scale))
    return out


def float_tensors(flat: bytes) -> list[np.ndarray]:
    """Every float32 constant of a TFLite flatbuffer (all subgraphs)."""
    from tensorflow.lite.python import schema_py_generated as schema

    model = _model(flat)
    out = []
    for sub in model.subgraphs:
        for t in sub.tensors:
            if t.type == schema.TensorType.FLOAT32:
                v = _constant(model, t, np.float32)
                if v is not None:
                    out.append(v)
    return out


def effective_keras_weights(
    flat: bytes, keras_weights: list[list[np.ndarray]]
) -> list[list[np.ndarray]]:
    """``keras_weights`` (``gru_to_keras``'s per-layer lists) with each kernel and recurrent
    kernel replaced by what the model ``flat`` multiplies by: the int8 tensor of the transposed
    shape nearest to it, dequantized (each int8 tensor used once), or, where none has that shape,
    the weight itself after checking that the model holds it as a float32 constant (a
    ``TargetError`` if it holds neither). Biases are kept (the converter leaves them float)."""
    quantized = int8_tensors(flat)
    floats: list[np.ndarray] | None = None
    used: set[int] = set()
    out = []
    for layer in keras_weights:
        per_dir = 3 if len(layer) in (3, 6) else 2
        new = []
        for k, w in enumerate(layer):
            if k % per_dir == 2:  # the bias, float32 in the model
                new.append(np.asarray(np.asarray(w, np.float32), np.float64))
                continue
            wt = np.asarray(w, np.float64).T
            candidates = [(float(np.max(np.abs(q - wt))), i) for i, (_, q, _) in
                          enumerate(quantized) if i not in used and q.shape == wt.shape]  # fmt: skip
            if candidates:
                _, best = min(candidates)
                used.add(best)
                new.append(quantized[best][1].T)
                continue
            floats = float_tensors(flat) if floats is None else floats
            w32 = np.asarray(w, np.float32)
            if not any(f.shape in (w32.shape, w32.T.shape) and (np.array_equal(f, w32)
                       or np.array_equal(f, w32.T)) for f in floats):  # fmt: skip
                raise TargetError(
                    f"tflite-dynamic-int8: a weight of shape {w32.shape} is in the converted "
                    "model neither as an int8 tensor nor as its float32 constant"
                )
            new.append(np.asarray(w32, np.float64))
        out.append(new)
    return out


class TFLiteDynamicInt8Target(TFLiteGRUTarget):
    """``tflite-dynamic-int8`` (module docstring). ``declare`` False: no declared quantization."""

    def __init__(self, *, dtype: str = "float32", device: str = "cpu", declare: bool = True):
        super().__init__(True, dtype=dtype, device=device, weights_as_inputs=False)
        self.name = "tflite-dynamic-int8" + ("" if declare else "[undeclared]")
        self.quantization: Quantization | None = TFLITE_DYNAMIC_INT8 if declare else None
        self._effective: Recent[GRUParams] = Recent(_MAX_EFFECTIVE)
        self.compile_seconds = 120.0
        """Every call converts (weights are constants: one conversion per weight set and shape,
        ~2 to 5 s on 2 idle cores): a three-layer conversion took over 60 s (``tflite``'s floor)
        on a machine loaded 4 times over, and was taken for a hung call."""

    def _convert(self, problem: Problem, B: int) -> Any:
        flat = self._flatbuffer(problem.params, (B, problem.steps),
                                problem.h0 is not None, problem.lengths is not None)  # fmt: skip
        return self.interpreter_class(model_content=flat).get_signature_runner()

    def _flatbuffer(self, params: GRUParams, shape: tuple[int, int], h0: bool, mask: bool) -> bytes:
        flat = convert_keras_gru_to_tflite(params, True, shape, initial_state=h0, mask=mask,
                                           weights_as_inputs=False, optimize=True)  # fmt: skip
        self.conversions += 1
        self._effective.get(_key(params), lambda: self._read(params, flat))
        return flat

    def _read(self, params: GRUParams, flat: bytes) -> GRUParams:
        keras = [[np.asarray(w) for w in layer] for layer in gru_to_keras(params, True)]
        return gru_from_keras(effective_keras_weights(flat, keras), True)

    def effective_params(self, params: GRUParams) -> GRUParams:
        """The weights the converted model multiplies by (module docstring), in the canonical
        layout, float64; read from the first model converted for ``params`` (a one-step model
        is converted when there is none yet: the quantization does not depend on the shape)."""
        return self._effective.get(
            _key(params),
            lambda: self._read(params, convert_keras_gru_to_tflite(
                params, True, (1, 1), initial_state=False, mask=False,
                weights_as_inputs=False, optimize=True)),
        )  # fmt: skip
