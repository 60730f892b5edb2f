"""OpenVINO's CPU plugin running ``GRUSequence`` models built with its opset, as ``Implementation`` s.

The model: one ``GRUSequence`` (opset 5) node per layer, weights as constants
(``gruverify.layouts.openvino_layout``: gates z, r, h; ``B`` holds the sums OpenVINO specifies),
``direction`` ``"forward"`` or ``"bidirectional"``, ``linear_before_reset`` True for the reset-after
target (``openvino``), False for the reset-before one; between layers OpenVINO's own ``Transpose``
and ``Reshape`` turn ``Y`` ``(B, D, T, H)`` into the next ``X`` ``(B, T, D * H)``. Inputs are
``X`` ``(B, T, I)``, one initial state ``(B, D, H)`` per layer (zeros for ``h0=None``: the operator
requires one) and ``sequence_lengths`` ``(B,)`` (``T`` for every sequence without lengths). The
model is compiled for the CPU with ``INFERENCE_PRECISION_HINT = f32`` set explicitly, once per
configuration and weight set (a few compiled models are kept).

Measured (openvino 2026.4.1, this machine's CPU):

* **The CPU plugin's default inference precision here is bf16** (``INFERENCE_PRECISION_HINT``
  reads ``bfloat16`` on a CPU with AVX512-BF16/AMX): without the explicit f32 hint a GRU is ~4e-3
  from the reference. ``OpenVinoGRUTarget(precision=None)`` keeps the plugin's default (the
  ``openvino-default`` target) and is judged in the arithmetic that precision runs
  (``arithmetic``: bfloat16, products summed in float32).
* **With dynamic input shapes the CPU plugin ignores ``sequence_lengths``**: every sequence runs
  all ``T`` steps (outputs past a length are not zero, ``Ho`` is the state at ``T``). With static
  shapes the plugin decomposes the sequence into a TensorIterator that honours the lengths
  (openvinotoolkit/openvino#10710 disabled that decomposition for dynamic shapes). The default
  target uses dynamic batch and time axes, as ``openvino.convert_model`` produces, and reports the
  finding; ``OpenVinoGRUTarget(static_shapes=True)`` compiles per input shape and honours lengths.

Missing: ``gradients`` (an inference runtime), ``unbatched`` (the operator's X has a batch axis),
``dropout`` (none). ``batch_first`` is native; time-major problems are transposed at the boundary.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gruverify.core.arithmetic import ARITHMETICS, Arithmetic, arithmetic_for
from gruverify.core.params import GRUParams, Variant
from gruverify.core.problem import Capabilities, Gradients, Outputs, Problem
from gruverify.layouts.onnx_layout import linear_before_reset_for
from gruverify.layouts.openvino_layout import gru_to_openvino
from gruverify.targets.errors import TargetError
from gruverify.targets.recent import Recent

__all__ = ["OPENVINO_MISSING", "OpenVinoGRUTarget", "build_openvino_gru_model"]

GRADIENTS_REASON = "OpenVINO is an inference runtime (no gradients)"
UNBATCHED_REASON = "GRUSequence's X always has a batch axis (B, T, I)"
OPENVINO_MISSING = {
    "gradients": GRADIENTS_REASON,
    "unbatched": UNBATCHED_REASON,
    "dropout": "GRUSequence has no dropout",
}
_MAX_COMPILED = 8
PRECISION_DTYPES = {"bf16": "bfloat16", "f16": "float16"}
"""The plugin's reduced inference precisions and the storage formats they run in."""


def build_openvino_gru_model(
    params: GRUParams, linear_before_reset: bool, shape: tuple[int, int] | None = None
) -> Any:
    """An ``openvino.Model``: inputs ``X`` ``(B, T, I)``, ``h0_{k}`` ``(B, D, H)`` per layer and
    ``lengths`` ``(B,)`` int32; outputs ``Y`` ``(B, T, D * H)`` then ``Ho_{k}`` ``(B, D, H)`` per
    layer. ``shape`` ``(B, T)`` makes the shapes static; None leaves batch and time dynamic."""
    import openvino as ov
    import openvino.opset13 as ops

    B, T = shape if shape is not None else (-1, -1)
    D, H = params.num_directions, params.hidden_size
    x = ops.parameter(ov.PartialShape([B, T, params.input_size]), ov.Type.f32, name="X")
    lengths = ops.parameter(ov.PartialShape([B]), ov.Type.i32, name="lengths")
    inputs, finals = [x], []
    seq: Any = x
    for k, row in enumerate(params.cells):
        h0 = ops.parameter(ov.PartialShape([B, D, H]), ov.Type.f32, name=f"h0_{k}")
        inputs.append(h0)
        w = {n: ops.constant(a.astype(np.float32))
             for n, a in gru_to_openvino(row, linear_before_reset).items()}  # fmt: skip
        node = ops.gru_sequence(
            seq, h0, lengths, w["W"], w["R"], w["B"], H,
            "bidirectional" if D == 2 else "forward", linear_before_reset=linear_before_reset,
        )  # fmt: skip
        y = ops.transpose(node.output(0), ops.constant(np.array([0, 2, 1, 3], np.int64)))
        seq = ops.reshape(y, ops.constant(np.array([0, 0, D * H], np.int64)), special_zero=True)
        finals.append(node.output(1))
    inputs.append(lengths)
    return ov.Model([seq.output(0), *finals], inputs, "gruverify_gru")


class OpenVinoGRUTarget:
    """GRUSequence stacks on OpenVINO's CPU plugin (module docstring)."""

    def __init__(
        self,
        variant: Variant = "reset_after",
        *,
        dtype: str = "float32",
        device: str = "cpu",
        precision: str | None = "f32",
        static_shapes: bool = False,
    ) -> None:
        if dtype != "float32":
            raise TargetError(f"openvino runs float32 here, not {dtype!r}")
        if device != "cpu":
            raise TargetError(f"openvino runs its CPU plugin, not {device!r}")
        try:
            import openvino
        except ImportError as e:
            raise TargetError(f"the openvino target needs openvino: {e}") from e
        self.core = openvino.Core()
        self.variant: Variant = variant
        self.linear_before_reset = bool(linear_before_reset_for(variant))
        self.dtype = dtype
        self.device = device
        self.precision = precision
        self.static_shapes = static_shapes
        tags = (
            ([] if variant == "reset_after" else ["reset-before"])
            + (["static-shapes"] if static_shapes else [])
            + ([] if precision == "f32" else [f"precision={precision or 'default'}"])
        )
        self.name = "openvino" + (f"[{', '.join(tags)}]" if tags else "")
        self.capabilities = Capabilities(dict(OPENVINO_MISSING))
        self._compiled: Recent[Any] = Recent(_MAX_COMPILED)
        self.inference_precision = (
            precision or self.core.get_property("CPU", "INFERENCE_PRECISION_HINT").get_type_name()
        )  # the plugin's default here: bf16 on a CPU with AVX512-BF16 or AMX

    @property
    def arithmetic(self) -> Arithmetic:
        """The arithmetic the plugin runs in: float32 for ``f32``; for ``bf16`` (``f16``)
        bfloat16 (float16) with float32 accumulation (``arithmetic_for``: the format's products
        summed in float32). Measured: under bf16 the plugin's outputs are bfloat16 numbers
        (``-0.72265625``), so the state is stored in bfloat16, not only the products' operands;
        judged as bfloat16 most drawn problems are inconclusive (the 5% rule; 28 of 30 ordinary
        to large problems, error / tolerance at most 0.15)."""
        if self.inference_precision in PRECISION_DTYPES:
            return arithmetic_for(PRECISION_DTYPES[self.inference_precision], "cpu")
        return ARITHMETICS["float32"]

    def _model(self, problem: Problem, B: int, T: int) -> Any:
        p = problem.params
        digest = p.digest()
        shape = (B, T) if self.static_shapes else None
        key = (p.input_size, p.hidden_size, p.num_layers, p.num_directions, digest, shape)
        config = {} if self.precision is None else {"INFERENCE_PRECISION_HINT": self.precision}
        return self._compiled.get(
            key,
            lambda: self.core.compile_model(
                build_openvino_gru_model(p, self.linear_before_reset, shape), "CPU", config
            ),
        )

    # -- Implementation -----------------------------------------------------------------------

    def forward(self, problem: Problem) -> Outputs:
        if not problem.batched:
            raise ValueError(f"{self.name}: {UNBATCHED_REASON}")
        p = problem.params
        L, D, H = p.num_layers, p.num_directions, p.hidden_size
        x = np.asarray(problem.x, np.float32)
        x = x if problem.batch_first else np.swapaxes(x, 0, 1)  # (B, T, I)
        B, T = x.shape[0], x.shape[1]
        if problem.h0 is None:
            h0 = np.zeros((L * D, B, H), np.float32)
        else:
            h0 = np.asarray(problem.h0, np.float32)
            if h0.shape != (L * D, B, H):
                raise ValueError(f"{self.name}: h0 has shape {h0.shape}, expected {(L * D, B, H)}")
        lengths = np.full(B, T) if problem.lengths is None else np.asarray(problem.lengths)
        feeds = {"X": np.ascontiguousarray(x), "lengths": lengths.astype(np.int32)}
        for k in range(L):
            feeds[f"h0_{k}"] = np.ascontiguousarray(np.swapaxes(h0[k * D : (k + 1) * D], 0, 1))
        compiled = self._model(problem, B, T)
        results = compiled(feeds)
        y = np.asarray(results[compiled.output(0)], np.float64)  # (B, T, D * H)
        finals = [np.asarray(results[compiled.output(1 + k)]) for k in range(L)]  # (B, D, H)
        h_n = np.concatenate([np.swapaxes(f, 0, 1) for f in finals]).astype(np.float64)
        return Outputs(y if problem.batch_first else np.swapaxes(y, 0, 1), h_n)

    def gradients(
        self, problem: Problem, d_output: np.ndarray | None, d_h_n: np.ndarray | None
    ) -> Gradients:
        raise NotImplementedError(f"{self.name}: {GRADIENTS_REASON}")
