"""ONNX ``GRU`` operator inputs <-> canonical parameters, a one-node model builder and a runner.

One ONNX GRU node is one layer (operator spec, onnx/docs/Operators.md#GRU). Gates are packed in
the order z, r, h (h is the candidate, canonical n); directions stack on axis 0::

    W (dirs, 3H, I) = [W_iz; W_ir; W_in]      R (dirs, 3H, H) = [W_hz; W_hr; W_hn]
    B (dirs, 6H)    = [Wb_z, Wb_r, Wb_h, Rb_z, Rb_r, Rb_h] = [b_iz, b_ir, b_in, b_hz, b_hr, b_hn]

The spec's equations (f = sigmoid, g = tanh)::

    z = f(X Wz^T + H Rz^T + Wbz + Rbz)          r = f(X Wr^T + H Rr^T + Wbr + Rbr)
    h~ = g(X Wh^T + (r . H) Rh^T + Rbh + Wbh)    linear_before_reset = 0 (the default): reset-before
    h~ = g(X Wh^T + r . (H Rh^T + Rbh) + Wbh)    linear_before_reset = 1: reset-after
    H' = (1 - z) . h~ + z . H

Both variants keep all six biases, so the mapping is exact (no arithmetic) for both and
``linear_before_reset`` only selects the variant: 1 <-> ``"reset_after"``, 0 <-> ``"reset_before"``.
Direction ``"forward"`` and ``"reverse"`` hold one cell, ``"bidirectional"`` two (forward, reverse).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from gruverify.core.params import GRUCellParams
from gruverify.layouts.errors import LayoutError

__all__ = [
    "ONNX_GATE_ORDER",
    "Direction",
    "layer_cells",
    "linear_before_reset_for",
    "gru_to_onnx",
    "gru_from_onnx",
    "make_onnx_gru_model",
    "run_onnx_gru",
]

ONNX_GATE_ORDER = ("z", "r", "n")
Direction = Literal["forward", "reverse", "bidirectional"]
_DIRECTIONS = ("forward", "reverse", "bidirectional")


def linear_before_reset_for(variant: str) -> int:
    """The ONNX ``linear_before_reset`` attribute computing ``variant``."""
    if variant == "reset_after":
        return 1
    if variant == "reset_before":
        return 0
    raise ValueError(f"unknown GRU variant {variant!r}; expected 'reset_after' or 'reset_before'")


def layer_cells(
    cells: GRUCellParams[np.ndarray] | Sequence[GRUCellParams[np.ndarray]],
    node: str = "an ONNX GRU node",
) -> list[Any]:
    """A cell, or a layer's (forward, reverse) cells, as a list of one or two: what one GRU node
    (ONNX's, or OpenVINO's GRUSequence, named by ``node`` in the error) holds."""
    out = [cells] if isinstance(cells, GRUCellParams) else list(cells)
    if len(out) not in (1, 2):
        raise LayoutError(f"{node} holds 1 or 2 directions, got {len(out)} cells")
    return out


def gru_to_onnx(
    cells: GRUCellParams[np.ndarray] | Sequence[GRUCellParams[np.ndarray]], bias: bool = True
) -> dict[str, np.ndarray]:
    """``{"W", "R"[, "B"]}`` for one layer: a cell, or (forward, reverse) cells of a layer.

    ``bias=False`` omits ``B`` (the node then uses zero biases) and requires zero biases.
    """
    cs = [c.map(lambda v: np.asarray(v, np.float64)) for c in layer_cells(cells)]
    out = {
        "W": np.stack([np.concatenate([c.W_iz, c.W_ir, c.W_in]) for c in cs]),
        "R": np.stack([np.concatenate([c.W_hz, c.W_hr, c.W_hn]) for c in cs]),
    }
    B = np.stack([np.concatenate([c.b_iz, c.b_ir, c.b_in, c.b_hz, c.b_hr, c.b_hn]) for c in cs])
    if bias:
        out["B"] = B
    elif np.any(B != 0):
        raise LayoutError(
            f"bias=False but the cells have nonzero biases (max |b| = {float(np.abs(B).max()):.3g})"
        )
    return out


def gru_from_onnx(W: Any, R: Any, B: Any = None) -> tuple[GRUCellParams[np.ndarray], ...]:
    """Canonical cells, one per direction (forward, then reverse), from ONNX GRU inputs."""
    W, R = np.array(W, dtype=np.float64), np.array(R, dtype=np.float64)
    if R.ndim != 3 or R.shape[0] not in (1, 2) or R.shape[1] != 3 * R.shape[2]:
        raise LayoutError(f"R has shape {R.shape}, expected (num_directions in 1..2, 3H, H)")
    dirs, _, H = R.shape
    if W.ndim != 3 or W.shape[:2] != (dirs, 3 * H):
        raise LayoutError(f"W has shape {W.shape}, expected ({dirs}, {3 * H}, input_size)")
    if B is None:
        Bv = np.zeros((dirs, 6 * H))
    else:
        Bv = np.array(B, dtype=np.float64)
        if Bv.shape != (dirs, 6 * H):
            raise LayoutError(f"B has shape {Bv.shape}, expected ({dirs}, {6 * H})")
    out = []
    for d in range(dirs):
        blk = {
            name: a[k * H : (k + 1) * H].copy()
            for a, names in (
                (W[d], ("W_iz", "W_ir", "W_in")),
                (R[d], ("W_hz", "W_hr", "W_hn")),
                (Bv[d], ("b_iz", "b_ir", "b_in", "b_hz", "b_hr", "b_hn")),
            )
            for k, name in enumerate(names)
        }
        out.append(GRUCellParams(**blk))
    return tuple(out)


def make_onnx_gru_model(
    cells: GRUCellParams[np.ndarray] | Sequence[GRUCellParams[np.ndarray]],
    *,
    linear_before_reset: int,
    direction: Direction | None = None,
    bias: bool = True,
    initial_h: bool = True,
    sequence_lens: bool = False,
    dtype: Literal["float32", "float64"] = "float32",
    opset: int = 14,
) -> Any:
    """An ``onnx.ModelProto`` with one GRU node whose W, R, B initialisers compute ``cells``.

    Graph inputs: ``X`` (T, batch, I) with symbolic ``seq_len`` and ``batch``; ``sequence_lens``
    (batch,) int32 and ``initial_h`` (dirs, batch, H) when asked for. Outputs ``Y`` (T, dirs, batch, H)
    and ``Y_h`` (dirs, batch, H). ``direction`` defaults to ``"forward"`` for one cell and must be
    ``"bidirectional"`` for two. ``dtype="float64"`` builds a valid model, but onnxruntime 1.32's CPU
    GRU kernel rejects it ("GRU operator does not support double yet").
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    cs = layer_cells(cells)
    dirs = len(cs)
    if direction is None:
        direction = "bidirectional" if dirs == 2 else "forward"
    if direction not in _DIRECTIONS:
        raise ValueError(f"direction must be one of {_DIRECTIONS}, got {direction!r}")
    if (direction == "bidirectional") != (dirs == 2):
        raise LayoutError(
            f"direction {direction!r} needs {2 if dirs == 1 else 1} cells, got {dirs}"
        )
    if linear_before_reset not in (0, 1):
        raise ValueError(f"linear_before_reset must be 0 or 1, got {linear_before_reset!r}")
    np_dtype = {"float32": np.float32, "float64": np.float64}[dtype]
    elem = {"float32": TensorProto.FLOAT, "float64": TensorProto.DOUBLE}[dtype]
    weights = gru_to_onnx(cs, bias=bias)
    I, H = cs[0].input_size, cs[0].hidden_size
    inits = [numpy_helper.from_array(v.astype(np_dtype), name=k) for k, v in weights.items()]
    node_inputs = [
        "X",
        "W",
        "R",
        "B" if bias else "",
        "sequence_lens" if sequence_lens else "",
        "initial_h" if initial_h else "",
    ]
    while node_inputs[-1] == "":
        node_inputs.pop()
    node = helper.make_node(
        "GRU",
        node_inputs,
        ["Y", "Y_h"],
        hidden_size=H,
        direction=direction,
        linear_before_reset=linear_before_reset,
    )
    graph_inputs = [helper.make_tensor_value_info("X", elem, ["seq_len", "batch", I])]
    if sequence_lens:
        graph_inputs.append(
            helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, ["batch"])
        )
    if initial_h:
        graph_inputs.append(helper.make_tensor_value_info("initial_h", elem, [dirs, "batch", H]))
    outputs = [
        helper.make_tensor_value_info("Y", elem, ["seq_len", dirs, "batch", H]),
        helper.make_tensor_value_info("Y_h", elem, [dirs, "batch", H]),
    ]
    graph = helper.make_graph([node], "gruverify_gru", graph_inputs, outputs, initializer=inits)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="gruverify"
    )
    model.ir_version = min(model.ir_version, 10)
    onnx.checker.check_model(model)
    return model


def run_onnx_gru(
    model: Any, x: Any, h0: Any = None, lengths: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Run a one-node GRU model with onnxruntime (CPU) and return torch's layout, float64.

    ``x`` (T, batch, I); ``h0`` (dirs, batch, H) or None; ``lengths`` (batch,) or None. Returns
    ``output`` (T, batch, dirs * H) (forward half first) and ``h_n`` (dirs, batch, H).
    """
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = {i.name: i for i in session.get_inputs()}
    np_dtype = np.float64 if names["X"].type == "tensor(double)" else np.float32
    feeds: dict[str, np.ndarray] = {"X": np.asarray(x, dtype=np_dtype)}
    for name, value, cast in (("initial_h", h0, np_dtype), ("sequence_lens", lengths, np.int32)):
        if value is None:
            if name in names:
                raise LayoutError(f"the model has a {name!r} input, but no value was given for it")
            continue
        if name not in names:
            raise LayoutError(f"a value for {name} was given, but the model has no {name!r} input")
        feeds[name] = np.asarray(value, dtype=cast)
    Y, Y_h = session.run(["Y", "Y_h"], feeds)
    T, dirs, batch, H = Y.shape
    output = np.transpose(Y, (0, 2, 1, 3)).reshape(T, batch, dirs * H)
    return output.astype(np.float64), np.asarray(Y_h, dtype=np.float64)
