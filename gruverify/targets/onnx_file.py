"""The GRUs of an ONNX file: each ``GRU`` node read with its weights and attributes, run alone.

``read_onnx_grus(path)`` finds every ``GRU`` node of the file's main graph, in graph order, and
reads what it computes: ``W``, ``R`` and ``B`` (initialisers or ``Constant`` outputs) converted to
canonical cells by ``gruverify.layouts.onnx_layout.gru_from_onnx`` (exact: slicing only), the
variant from ``linear_before_reset`` (1: reset-after, 0: reset-before), the directions
(``forward``: one cell, ``bidirectional``: forward then reverse) and the ``layout`` (0: time-major,
1: batch-major). What gruverify's reference cannot compute is refused with one line: activations
other than ``Sigmoid, Tanh``, ``clip``, a reverse-only node, weights that are not float32 (the CPU
kernel of onnxruntime runs float32), weights computed in the graph rather than stored.

``OnnxNodeSession`` runs one node *alone*: a model holding only a copy of the node (every
attribute as in the file) and the file's own ``W``, ``R``, ``B`` tensors, its ``X``,
``sequence_lens`` and ``initial_h`` graph inputs with symbolic batch and sequence axes, on a
runtime (``ONNX_RUNTIMES``): onnxruntime's CPU provider (the default), the ONNX specification's
``onnx.reference.ReferenceEvaluator``, or OpenVINO's CPU plugin with its defaults (its default
inference precision and dynamic shapes, as a user running the file gets them; ``openvino-f32``:
in float32). What that leaves out of the whole model (the ops around the node: the
slicing of outputs, a ``Squeeze``, casts, the packing of lengths) is written in docs/model-files.md.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np

from gruverify.core.params import GRUCellParams, Variant
from gruverify.core.problem import Gradients, Outputs, Problem
from gruverify.layouts.errors import LayoutError
from gruverify.layouts.onnx_layout import gru_from_onnx
from gruverify.targets.errors import TargetError
from gruverify.targets.file_gru import OneLayerGRU

__all__ = ["ONNX_RUNTIMES", "OnnxGRU", "OnnxNodeRunner", "OnnxNodeSession", "read_onnx_grus"]

_DEFAULT_ACTIVATIONS = ("sigmoid", "tanh")


@dataclasses.dataclass(frozen=True)
class OnnxGRU(OneLayerGRU):
    """One ``GRU`` node of a file: its name, canonical cells, variant and what the node holds.

    ``tensors`` are the file's ``W``, ``R`` (and ``B``) ``TensorProto``s, as stored."""

    name: str
    index: int
    cells: tuple[GRUCellParams[np.ndarray], ...]
    variant: Variant
    bias: bool
    layout: int
    node: Any  # onnx.NodeProto
    tensors: dict[str, Any]
    opset: int
    ir_version: int


def _load(path: str) -> Any:
    import onnx

    if not os.path.isfile(path):
        raise TargetError(f"{path}: no such file")
    try:
        return onnx.load(path)
    except Exception as e:
        detail = f"{type(e).__name__}: {e}".splitlines()[0]
        raise TargetError(f"{path}: not a readable ONNX model ({detail})") from None


def _stored(model: Any) -> dict[str, Any]:
    """Every tensor the graph stores by name: initialisers and ``Constant`` nodes' values."""
    stored = {t.name: t for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.output:
            for attr in node.attribute:
                if attr.name == "value":
                    stored[node.output[0]] = attr.t
    return stored


def _attributes(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _refusal(name: str, attrs: dict[str, Any]) -> str | None:
    """Why gruverify cannot check the node (an attribute its reference does not compute)."""
    acts = [a.decode() if isinstance(a, bytes) else str(a) for a in attrs.get("activations", [])]
    if acts and any(a.lower() != _DEFAULT_ACTIVATIONS[i % 2] for i, a in enumerate(acts)):
        return f"activations {acts} (gruverify's reference computes Sigmoid and Tanh only)"
    if "clip" in attrs:
        return f"clip={attrs['clip']} (gruverify's reference does not clip pre-activations)"
    if attrs.get("activation_alpha") or attrs.get("activation_beta"):
        return "activation_alpha/beta (parameterised activations are not computed by the reference)"
    direction = attrs.get("direction", b"forward")
    direction = direction.decode() if isinstance(direction, bytes) else str(direction)
    if direction == "reverse":
        return "direction='reverse' (a reverse-only GRU is not a torch.nn.GRU configuration)"
    return None


def _tensor(stored: dict[str, Any], node: Any, slot: int, what: str, name: str) -> Any:
    """The stored tensor feeding input ``slot`` of ``node`` (None for an absent optional one)."""
    from onnx import TensorProto

    if slot >= len(node.input) or not node.input[slot]:
        return None
    key = node.input[slot]
    if key not in stored:
        raise TargetError(
            f"GRU {name!r}: its {what} input {key!r} is computed in the graph, not stored: "
            "its weights cannot be read, so it cannot be checked alone"
        )
    tensor = stored[key]
    if tensor.data_type != TensorProto.FLOAT:
        kind = TensorProto.DataType.Name(tensor.data_type).lower()
        raise TargetError(
            f"GRU {name!r}: {what} is {kind}; onnxruntime's CPU GRU kernel runs float32 only"
        )
    return tensor


def _read_node(node: Any, index: int, stored: dict[str, Any], model: Any) -> OnnxGRU:
    from onnx import numpy_helper

    name = node.name or f"GRU_{index}"
    attrs = _attributes(node)
    why = _refusal(name, attrs)
    if why is not None:
        raise TargetError(f"GRU {name!r}: unsupported {why}")
    tensors = {
        k: t for k, t in (
            (k, _tensor(stored, node, slot, k, name)) for slot, k in ((1, "W"), (2, "R"), (3, "B"))
        ) if t is not None
    }  # fmt: skip
    if "W" not in tensors or "R" not in tensors:
        raise TargetError(f"GRU {name!r}: no W or R input")
    arrays = {k: numpy_helper.to_array(t) for k, t in tensors.items()}
    try:
        cells = gru_from_onnx(arrays["W"], arrays["R"], arrays.get("B"))
    except LayoutError as e:
        raise TargetError(f"GRU {name!r}: {e}") from None
    if attrs.get("hidden_size", cells[0].hidden_size) != cells[0].hidden_size:
        raise TargetError(
            f"GRU {name!r}: hidden_size={attrs['hidden_size']} but R holds "
            f"{cells[0].hidden_size} units"
        )
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 14)
    return OnnxGRU(
        name, index, cells, "reset_after" if attrs.get("linear_before_reset", 0) else "reset_before",
        "B" in tensors, int(attrs.get("layout", 0)), node, tensors, opset, model.ir_version,
    )  # fmt: skip


def read_onnx_grus(path: str) -> list[OnnxGRU]:
    """Every ``GRU`` node of the ONNX file at ``path``, in graph order; ``TargetError`` (one line)
    for a missing or corrupt file, a file without a GRU and a GRU gruverify cannot check."""
    model = _load(path)
    stored = _stored(model)
    nodes = [n for n in model.graph.node if n.op_type == "GRU"]
    if not nodes:
        ops = sorted({n.op_type for n in model.graph.node})
        listed = ", ".join(ops[:12]) + (", ..." if len(ops) > 12 else "")
        raise TargetError(f"{path}: no ONNX GRU node in the file (its ops: {listed or 'none'})")
    grus = [_read_node(n, i, stored, model) for i, n in enumerate(nodes)]
    names = [g.name for g in grus]
    if len(set(names)) != len(names):
        grus = [dataclasses.replace(g, name=f"{g.name}#{g.index}") for g in grus]
    return grus


def _onnxruntime(model: Any) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 4  # errors reach the caller as exceptions; no log lines
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return lambda feeds: session.run(["Y", "Y_h"], feeds)


def _onnx_reference(model: Any) -> Any:
    from onnx.reference import ReferenceEvaluator

    evaluator = ReferenceEvaluator(model)
    return lambda feeds: evaluator.run(["Y", "Y_h"], feeds)


def _openvino(model: Any, config: dict[str, str] | None = None) -> Any:
    """The node compiled by OpenVINO for the CPU with the plugin's defaults (its default
    inference precision included: what a user of the file gets) or ``config``."""
    import openvino

    core = openvino.Core()
    compiled = core.compile_model(
        core.read_model(model.SerializeToString(), b""), "CPU", config or {}
    )

    def run(feeds: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        out = compiled(feeds)
        return out[compiled.output("Y")], out[compiled.output("Y_h")]

    return run


def _openvino_f32(model: Any) -> Any:
    """The node compiled by OpenVINO for the CPU in float32 (``INFERENCE_PRECISION_HINT``)."""
    return _openvino(model, {"INFERENCE_PRECISION_HINT": "f32"})


_RUNTIMES = {
    "onnxruntime": _onnxruntime,
    "onnx-reference": _onnx_reference,
    "openvino": _openvino,
    "openvino-f32": _openvino_f32,
}
ONNX_RUNTIMES = tuple(_RUNTIMES)
"""The runtimes a file's ONNX GRU can run alone on (``Declaration.runtime``); the first is the
default."""


class OnnxNodeSession:
    """One GRU node of a file run alone on onnxruntime (module docstring): ``run(x, h0,
    lengths)`` takes and returns torch's layout (time-major ``x``, ``h0`` ``(D, B, H)``)."""

    def __init__(self, gru: OnnxGRU, runtime: str = "onnxruntime") -> None:
        if runtime not in _RUNTIMES:
            raise TargetError(f"unknown ONNX runtime {runtime!r}; expected one of {ONNX_RUNTIMES}")
        self.gru = gru
        self.runtime = runtime
        self._sessions: dict[tuple[bool, bool], Any] = {}

    def _model(self, lengths: bool, h0: bool) -> Any:
        from onnx import TensorProto, helper

        g = self.gru
        D, I, H = g.directions, g.input_size, g.hidden_size
        node = helper.make_node(
            "GRU", ["X", "W", "R", "B" if g.bias else "", "sequence_lens" if lengths else "",
                    "initial_h" if h0 else ""], ["Y", "Y_h"], name=g.name,
        )  # fmt: skip
        while node.input and not node.input[-1]:
            node.input.pop()
        node.attribute.extend(g.node.attribute)
        inits = []
        for k, t in g.tensors.items():
            copy = TensorProto()
            copy.CopyFrom(t)
            copy.name = k
            inits.append(copy)
        batch_major = g.layout == 1
        tm: list[str | int] = ["T", "B"] if not batch_major else ["B", "T"]
        state: list[str | int] = [D, "B", H] if not batch_major else ["B", D, H]
        f = TensorProto.FLOAT
        inputs = [helper.make_tensor_value_info("X", f, [*tm, I])]
        if lengths:
            inputs.append(helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, ["B"]))
        if h0:
            inputs.append(helper.make_tensor_value_info("initial_h", f, state))
        y: list[str | int] = [*tm[:1], D, *tm[1:], H] if not batch_major else ["B", "T", D, H]
        outputs = [
            helper.make_tensor_value_info("Y", f, y),
            helper.make_tensor_value_info("Y_h", f, state),
        ]
        graph = helper.make_graph([node], "gru_alone", inputs, outputs, initializer=inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", g.opset)])
        model.ir_version = g.ir_version
        return model

    def session(self, lengths: bool, h0: bool) -> Any:
        """A function ``feeds -> (Y, Y_h)`` running the node alone, with or without
        ``sequence_lens`` and ``initial_h`` inputs, on the runtime; ``TargetError`` when the
        runtime cannot run it."""
        key = (lengths, h0)
        if key not in self._sessions:
            try:
                self._sessions[key] = _RUNTIMES[self.runtime](self._model(lengths, h0))
            except Exception as e:
                detail = f"{type(e).__name__}: {e}".splitlines()[0]
                raise TargetError(
                    f"GRU {self.gru.name!r}: {self.runtime} cannot run it alone ({detail})"
                ) from None
        return self._sessions[key]

    def run(
        self, x: np.ndarray, h0: np.ndarray | None, lengths: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``output`` ``(T, B, D * H)`` and ``h_n`` ``(D, B, H)`` (float64) for time-major
        batched ``x``, ``h0`` ``(D, B, H)`` or None and ``lengths`` ``(B,)`` or None."""
        batch_major = self.gru.layout == 1
        session = self.session(lengths is not None, h0 is not None)
        feeds: dict[str, np.ndarray] = {
            "X": np.ascontiguousarray(np.swapaxes(x, 0, 1) if batch_major else x, np.float32)
        }
        if lengths is not None:
            feeds["sequence_lens"] = np.asarray(lengths, np.int32)
        if h0 is not None:
            feeds["initial_h"] = np.ascontiguousarray(
                np.swapaxes(h0, 0, 1) if batch_major else h0, np.float32
            )
        Y, Y_h = session(feeds)
        if batch_major:  # (B, T, D, H) and (B, D, H)
            Y, Y_h = np.transpose(Y, (1, 2, 0, 3)), np.swapaxes(Y_h, 0, 1)
        T, D, B, H = Y.shape
        output = np.transpose(Y, (0, 2, 1, 3)).reshape(T, B, D * H)
        return output.astype(np.float64), np.asarray(Y_h, np.float64)


GRADIENTS_REASON = "an ONNX inference runtime: forward only"


class OnnxNodeRunner:
    """A file's GRU node alone on onnxruntime as the model-file target calls it: ``forward`` of
    a time-major batched problem, and the features the node run so lacks (``missing``)."""

    def __init__(self, gru: OnnxGRU, runtime: str = "onnxruntime") -> None:
        self.gru = gru
        self.session = OnnxNodeSession(gru, runtime)
        self.session.session(False, True)  # TargetError now if the runtime cannot run it
        layout = "batch-major (layout=1)" if gru.layout else "time-major (layout=0)"
        as_stored = f"the node runs as the file stores it, {layout}"
        self.missing = {
            "gradients": GRADIENTS_REASON,
            "batch_first": as_stored,
            "unbatched": as_stored,
            "dropout": "an inference graph has no dropout",
        }

    def forward(self, problem: Problem) -> Outputs:
        if problem.batch_first or not problem.batched:
            raise ValueError(f"GRU {self.gru.name!r} takes time-major batched input (T, B, I)")
        h0 = None if problem.h0 is None else np.asarray(problem.h0)
        output, h_n = self.session.run(np.asarray(problem.x), h0, problem.lengths)
        return Outputs(output, h_n)

    def gradients(
        self, problem: Problem, d_output: np.ndarray | None, d_h_n: np.ndarray | None
    ) -> Gradients:
        raise NotImplementedError(f"GRU {self.gru.name!r}: {GRADIENTS_REASON}")
