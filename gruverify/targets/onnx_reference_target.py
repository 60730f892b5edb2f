"""The ONNX specification's own Python reference, ``onnx.reference.ReferenceEvaluator``, on GRU nodes.

One GRU node is one layer (``gruverify.layouts.onnx_layout``: gates z, r, h; W (D, 3H, I),
R (D, 3H, H), B (D, 6H) with all six biases, so the mapping copies and never adds). The target
builds, per configuration, a one-node model whose ``W``, ``R`` and ``B`` are graph inputs (so new
weights need no new model) and evaluates it with ``ReferenceEvaluator``; a stack of layers runs one
node per layer, each reading the previous node's ``Y`` reshaped to ``(T, B, D * H)`` (the
reshaping is gruverify's, the recurrences are the evaluator's). Every feature of the node is used:

* the variant by ``linear_before_reset`` (1: reset-after, 0: reset-before; one target for each),
* ``direction`` ``"forward"`` or ``"bidirectional"`` (``"reverse"`` is exercised by the tests),
* ``B`` omitted for ``bias=False``, ``initial_h`` omitted for ``h0=None``,
* ``sequence_lens`` for lengths, ``layout=1`` (batch-major X, Y, initial_h, Y_h) for batch_first.

The spec's update is ``H' = (1 - z) . h~ + z . H``, the canonical one. The evaluator computes in the
dtype of X, so this target runs float32 (the default) or float64.

Measured (onnx 1.23.2, ``onnx/reference/ops/op_gru.py``): the evaluator **ignores
sequence_lens** (its ``_run`` takes the argument and never reads it): every sequence runs all
``T`` steps, ``Y`` past a sequence's length is not zero, ``Y_h`` is the state at step ``T``, and
the reverse direction starts at step ``T - 1`` instead of ``length - 1``. The target passes the
lengths as the spec says and reports what comes back, so ``forward[lengths]`` and
``lengths truncation`` fail on it: that is the finding. Since the checker draws lengths in any case
of a target that supports them, the finding also fails the other forward checks' cases that drew
lengths; ``OnnxReferenceTarget(sequence_lens=False)`` declares ``lengths`` missing (with the finding
as the reason) so that everything else can be judged on its own.

Missing: ``gradients`` (the evaluator runs inference only), ``unbatched`` (the operator's X always
has a batch axis), ``dropout`` (the operator has none).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import numpy as np

from gruverify.core.params import GRUParams, Variant
from gruverify.core.problem import Capabilities, Gradients, Outputs, Problem
from gruverify.layouts.onnx_layout import gru_to_onnx, linear_before_reset_for
from gruverify.targets.errors import TargetError

__all__ = [
    "IGNORES_LENGTHS_REASON",
    "ONNX_REFERENCE_MISSING",
    "OnnxReferenceTarget",
    "make_onnx_gru_node_model",
]

GRADIENTS_REASON = "onnx.reference.ReferenceEvaluator evaluates inference only (no gradients)"
UNBATCHED_REASON = "the ONNX GRU operator's X always has a batch axis ((T, B, I) or (B, T, I))"
DROPOUT_REASON = "the ONNX GRU operator has no dropout"
IGNORES_LENGTHS_REASON = (
    "onnx.reference's GRU ignores sequence_lens (onnx 1.23.2, reference/ops/op_gru.py: _run never "
    "reads it): every sequence runs all T steps"
)
ONNX_REFERENCE_MISSING = {
    "gradients": GRADIENTS_REASON,
    "unbatched": UNBATCHED_REASON,
    "dropout": DROPOUT_REASON,
}
OPSET = 22  # the newest GRU schema (GRU-14 introduced ``layout``; 22 widened its types)

Direction = Literal["forward", "reverse", "bidirectional"]


@dataclasses.dataclass(frozen=True)
class NodeConfig:
    """What one GRU node model depends on (weights are inputs, not part of it)."""

    input_size: int
    hidden_size: int
    direction: Direction
    linear_before_reset: int
    bias: bool
    initial_h: bool
    sequence_lens: bool
    layout: int
    dtype: str


def make_onnx_gru_node_model(config: NodeConfig) -> Any:
    """A one-node GRU ``onnx.ModelProto`` whose inputs are ``X, W, R[, B][, sequence_lens]
    [, initial_h]`` (absent optional inputs are omitted, as the spec allows) and whose outputs are
    ``Y`` and ``Y_h``; shapes follow ``layout`` (0: time-major, 1: batch-major)."""
    import onnx
    from onnx import TensorProto, helper

    c = config
    D = 2 if c.direction == "bidirectional" else 1
    I, H = c.input_size, c.hidden_size
    elem = {"float32": TensorProto.FLOAT, "float64": TensorProto.DOUBLE}[c.dtype]
    x_shape: list[Any] = ["T", "B", I] if c.layout == 0 else ["B", "T", I]
    h_shape: list[Any] = [D, "B", H] if c.layout == 0 else ["B", D, H]
    y_shape: list[Any] = ["T", D, "B", H] if c.layout == 0 else ["B", "T", D, H]
    inputs = [
        helper.make_tensor_value_info("X", elem, x_shape),
        helper.make_tensor_value_info("W", elem, [D, 3 * H, I]),
        helper.make_tensor_value_info("R", elem, [D, 3 * H, H]),
    ]
    names = ["X", "W", "R", "", "", ""]
    if c.bias:
        inputs.append(helper.make_tensor_value_info("B", elem, [D, 6 * H]))
        names[3] = "B"
    if c.sequence_lens:
        inputs.append(helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, ["B"]))
        names[4] = "sequence_lens"
    if c.initial_h:
        inputs.append(helper.make_tensor_value_info("initial_h", elem, h_shape))
        names[5] = "initial_h"
    while names[-1] == "":
        names.pop()
    node = helper.make_node(
        "GRU", names, ["Y", "Y_h"], hidden_size=H, direction=c.direction,
        linear_before_reset=c.linear_before_reset, layout=c.layout,
    )  # fmt: skip
    outputs = [
        helper.make_tensor_value_info("Y", elem, y_shape),
        helper.make_tensor_value_info("Y_h", elem, h_shape),
    ]
    graph = helper.make_graph([node], "gruverify_gru_layer", inputs, outputs)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="gruverify"
    )
    model.ir_version = min(model.ir_version, 10)
    onnx.checker.check_model(model, full_check=True)
    return model


class OnnxReferenceTarget:
    """``onnx.reference.ReferenceEvaluator`` running one GRU node per layer (module docstring)."""

    def __init__(
        self,
        variant: Variant = "reset_after",
        *,
        dtype: str = "float32",
        device: str = "cpu",
        sequence_lens: bool = True,
    ) -> None:
        if dtype not in ("float32", "float64"):
            raise TargetError(f"onnx-reference runs float32 or float64, not {dtype!r}")
        if device != "cpu":
            raise TargetError(f"onnx-reference runs numpy on the cpu, not {device!r}")
        try:
            import onnx.reference  # noqa: F401
        except ImportError as e:
            raise TargetError(f"onnx-reference needs onnx (gruverify[onnx]): {e}") from e
        self.variant: Variant = variant
        self.linear_before_reset = linear_before_reset_for(variant)
        self.dtype = dtype
        self.device = device
        suffix = "" if variant == "reset_after" else "[reset-before]"
        self.name = "onnx-reference" + suffix + ("" if dtype == "float32" else f"[{dtype}]")
        missing = dict(ONNX_REFERENCE_MISSING)
        if not sequence_lens:
            missing["lengths"] = IGNORES_LENGTHS_REASON
            self.name += "[no-lengths]"
        self.capabilities = Capabilities(missing)
        self._evaluators: dict[NodeConfig, Any] = {}

    def _evaluator(self, config: NodeConfig) -> Any:
        from onnx.reference import ReferenceEvaluator

        ev = self._evaluators.get(config)
        if ev is None:
            ev = ReferenceEvaluator(make_onnx_gru_node_model(config))
            self._evaluators[config] = ev
        return ev

    def _layer(
        self, params: GRUParams, layer: int, problem: Problem, seq: np.ndarray, h0: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """One node: ``seq`` in the caller's layout -> (Y as (.., .., D * H), Y_h (D, B, H))."""
        np_dtype = np.float32 if self.dtype == "float32" else np.float64
        D = params.num_directions
        layout = 1 if problem.batch_first else 0
        config = NodeConfig(
            seq.shape[-1], params.hidden_size, "bidirectional" if D == 2 else "forward",
            self.linear_before_reset, params.bias, h0 is not None, problem.lengths is not None,
            layout, self.dtype,
        )  # fmt: skip
        feeds = {
            k: v.astype(np_dtype) for k, v in gru_to_onnx(params.cells[layer], params.bias).items()
        }
        feeds["X"] = seq.astype(np_dtype)
        if h0 is not None:
            h = np.asarray(h0[layer * D : (layer + 1) * D], np_dtype)
            feeds["initial_h"] = np.ascontiguousarray(np.swapaxes(h, 0, 1)) if layout else h
        if problem.lengths is not None:
            feeds["sequence_lens"] = np.asarray(problem.lengths, np.int32)
        with np.errstate(over="ignore"):  # the evaluator's sigmoid 1 / (1 + exp(-x)) overflows to 0
            Y, Y_h = self._evaluator(config).run(None, feeds)
        Y, Y_h = np.asarray(Y), np.asarray(Y_h)
        if layout:  # Y (B, T, D, H), Y_h (B, D, H)
            Y_h = np.swapaxes(Y_h, 0, 1)
            return Y.reshape(Y.shape[0], Y.shape[1], D * params.hidden_size), Y_h
        Y = np.transpose(Y, (0, 2, 1, 3))  # (T, D, B, H) -> (T, B, D, H)
        return Y.reshape(Y.shape[0], Y.shape[1], D * params.hidden_size), Y_h

    # -- Implementation -----------------------------------------------------------------------

    def forward(self, problem: Problem) -> Outputs:
        if not problem.batched:
            raise ValueError(f"{self.name}: {UNBATCHED_REASON}")
        p = problem.params
        D = p.num_directions
        if problem.h0 is not None and np.shape(problem.h0)[0] != p.num_layers * D:
            raise ValueError(
                f"{self.name}: h0 has shape {np.shape(problem.h0)}, expected "
                f"({p.num_layers * D}, batch, {p.hidden_size})"
            )
        seq = np.asarray(problem.x)
        finals = []
        for layer in range(p.num_layers):
            seq, h_n = self._layer(p, layer, problem, seq, problem.h0)
            finals.append(h_n)
        return Outputs(np.asarray(seq, np.float64), np.concatenate(finals).astype(np.float64))

    def gradients(
        self, problem: Problem, d_output: np.ndarray | None, d_h_n: np.ndarray | None
    ) -> Gradients:
        raise NotImplementedError(f"{self.name}: {GRADIENTS_REASON}")
