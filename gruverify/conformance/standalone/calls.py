"""How a standalone reproduction calls each library: one small template per library.

Each template defines ``library_forward(x, h0, lengths, dtype=DTYPE)``, which returns
``(output, h_n)`` as float64 numpy arrays in torch.nn.GRU's layouts (output ``(T, B, D*H)`` or
``(B, T, D*H)`` with ``BATCH_FIRST``, ``(T, D*H)`` unbatched; h_n ``(L*D, B, H)``), calling the
library the way the gruverify target of that name does; the torch and paddle templates define
``library_gradient(quantity)`` (autograd of ``L = sum(d_out * output) + sum(d_hn * h_n)``).
Weights come from the script's ``PARAMS`` (canonical names, torch's gate order r, z, n), mapped
to the library's layout inline: ONNX and OpenVINO stack gates z, r, h; Keras transposes;
MindSpore and Jittor take torch's names and packing.

``call_for(target, cell)`` picks the template: a built-in name in ``BUILTIN_CALLS``, or a
``module:attr`` with torch.nn.GRU's constructor (``torch.nn.GRUCell``'s when ``cell``), which the
script imports (its code inlined instead when it lives in ``gruverify.zoo``: the script may import
nothing of gruverify). Any other target is a ``StandaloneError`` naming the supported ones.
"""

from __future__ import annotations

import dataclasses

__all__ = ["BUILTIN_CALLS", "Call", "StandaloneError", "call_for", "supported_targets"]


class StandaloneError(Exception):
    """A counterexample that cannot be turned into a standalone script (a usage error)."""


@dataclasses.dataclass(frozen=True)
class Call:
    """A library's call template: what the script imports and the code of ``library_forward``."""

    library: str
    """How the script and the issue name the library (``"onnxruntime"``)."""
    distributions: tuple[str, ...]
    """The distributions whose versions the script prints, those installed (``("onnx",
    "onnxruntime")``; TensorFlow is ``tensorflow`` or ``tensorflow-cpu``)."""
    code: str
    gradients: bool = False
    """Whether the template defines ``library_gradient`` (torch autograd, ``paddle.grad``)."""
    import_line: str = ""
    """The line that binds ``GRU`` (torch templates): ``GRU = torch.nn.GRU``, an import of the
    user's class, or nothing when its source is inlined."""


_TORCH_COMMON = '''
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
${import_line}


def build(dt):
    """The GRU module with the case's parameters (torch.nn.GRU's state-dict names, rows r, z, n)."""
    m = ${construct}.to(dt)
    sd = {}
    for c, p in PARAMS.items():
        for key, kind in (("weight_ih", "W_i"), ("weight_hh", "W_h"), ("bias_ih", "b_i"),
                          ("bias_hh", "b_h")):
            if BIAS or kind[0] == "W":
                sd[key + ${suffix}] = torch.tensor(np.concatenate([p[kind + g] for g in "rzn"]))
    m.load_state_dict({k: v.to(dt) for k, v in sd.items()})
    return m


def tensor(a, dt, grad=False):
    return None if a is None else torch.tensor(a, dtype=dt).requires_grad_(grad)


def library_forward(x, h0, lengths, dtype=DTYPE):
    dt = getattr(torch, dtype)
    with torch.no_grad():
        out, h_n = call(build(dt).eval(), tensor(x, dt), tensor(h0, dt), lengths)
    return out.double().numpy(), h_n.double().numpy()


def library_gradient(quantity):
    """dL/d(quantity) by the library's autograd, L = sum(d_out * output) + sum(d_hn * h_n)."""
    dt = getattr(torch, DTYPE)
    m = build(dt).train()
    x, h0 = tensor(X, dt, True), tensor(H0, dt, True)
    out, h_n = call(m, x, h0, LENGTHS)
    loss = sum((v * tensor(c, dt)).sum() for c, v in ((D_OUT, out), (D_HN, h_n)) if c is not None)
    cell, _, name = quantity.partition(".")
    kind = {"W_i": "weight_ih", "W_h": "weight_hh", "b_i": "bias_ih", "b_h": "bias_hh"}
    if quantity in ("dx", "dh0"):
        leaf = x if quantity == "dx" else h0
    else:
        leaf = dict(m.named_parameters())[kind[name[:3]] + ${suffix_of_cell}]
    g = torch.autograd.grad(loss, leaf, allow_unused=True)[0] if loss.requires_grad else None
    g = torch.zeros_like(leaf) if g is None else g
    if name:  # one gate's rows of the stacked parameter
        k = "rzn".index(name[3])
        g = g[k * H:(k + 1) * H]
    return g.double().numpy()
'''

_TORCH_MODULE_CALL = '''

def call(m, x, h0, lengths):
    """As torch.nn.GRU is called: a PackedSequence when there are lengths."""
    args = () if h0 is None else (h0,)
    if lengths is None:
        return m(x, *args)
    packed = pack_padded_sequence(x, torch.tensor(lengths), BATCH_FIRST, enforce_sorted=False)
    out, h_n = m(packed, *args)
    T = x.shape[1 if BATCH_FIRST else 0]
    return pad_packed_sequence(out, BATCH_FIRST, total_length=T)[0], h_n
'''

_TORCH_CELL_CALL = '''

def call(m, x, h0, lengths):
    """As torch.nn.GRUCell is run over time: h_t = cell(x_t, h_(t-1)), cell(x_0) without h0."""
    seq = x.transpose(0, 1) if x.dim() == 3 and BATCH_FIRST else x
    h, ys = (None if h0 is None else h0[0]), []
    for t in range(seq.shape[0]):
        h = m(seq[t]) if h is None else m(seq[t], h)
        ys.append(h)
    out = torch.stack(ys)
    return (out.transpose(0, 1) if x.dim() == 3 and BATCH_FIRST else out), h.unsqueeze(0)
'''

TORCH_MODULE = (
    _TORCH_COMMON.replace(
        "${construct}",
        "GRU(I, H, L, bias=BIAS, batch_first=BATCH_FIRST, dropout=0.0, bidirectional=D == 2)",
    )
    .replace("${suffix}", '"_" + c')
    .replace("${suffix_of_cell}", '"_" + cell')
    + _TORCH_MODULE_CALL
)
TORCH_CELL = (
    _TORCH_COMMON.replace("${construct}", "GRU(I, H, bias=BIAS)")
    .replace("${suffix}", '""')
    .replace("${suffix_of_cell}", '""')
    + _TORCH_CELL_CALL
)

_ONNX = '''
from onnx import TensorProto, helper
${runner_import}

def onnx_gru(n_in, dtype, names):  # one GRU node (opset 22, time-major) reading the inputs names
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    shapes = {"X": ["T", "B", n_in], "W": [D, 3 * H, n_in], "R": [D, 3 * H, H], "B": [D, 6 * H],
              "sequence_lens": ["B"], "initial_h": [D, "B", H], "Y": ["T", D, "B", H], "Y_h": [D, "B", H]}
    info = [helper.make_tensor_value_info(n, TensorProto.INT32 if n == "sequence_lens" else elem,
                                          shapes[n]) for n in names if n]
    node = helper.make_node("GRU", names, ["Y", "Y_h"], hidden_size=H, direction="bidirectional"
                            if D == 2 else "forward", linear_before_reset=int(VARIANT == "reset_after"))
    graph = helper.make_graph([node], "gru", info, [helper.make_tensor_value_info(n, elem, shapes[n])
                                                    for n in ("Y", "Y_h")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)], ir_version=10)

def library_forward(x, h0, lengths, dtype=DTYPE):
    """One GRU node per layer; ONNX stacks the gates z, r, h and keeps all six biases."""
    seq, finals = x[:, None] if x.ndim == 2 else (x.swapaxes(0, 1) if BATCH_FIRST else x), []
    h0 = h0.reshape(L * D, -1, H) if h0 is not None and x.ndim == 2 else h0
    for layer in range(L):
        cells = [PARAMS[f"l{layer}" + ("_reverse" if d else "")] for d in range(D)]
        def stack(*kinds):  # per direction, gates z, r, h
            return np.stack([np.concatenate([c[k + g] for k in kinds for g in "zrn"]) for c in cells]).astype(dtype)
        feeds = {"X": seq.astype(dtype), "W": stack("W_i"), "R": stack("W_h"),
                 "B": stack("b_i", "b_h") if BIAS else None,
                 "sequence_lens": None if lengths is None else np.asarray(lengths, np.int32),
                 "initial_h": None if h0 is None else h0[layer * D:(layer + 1) * D].astype(dtype)}
        names = [n if v is not None else "" for n, v in feeds.items()]
        names = names[:max(i for i, n in enumerate(names) if n) + 1]  # no trailing absent inputs
        Y, Y_h = run(onnx_gru(seq.shape[-1], dtype, names), {n: feeds[n] for n in names if n})
        seq = np.asarray(Y).transpose(0, 2, 1, 3).reshape(Y.shape[0], Y.shape[2], D * H)
        finals.append(np.asarray(Y_h))
    out, h_n = seq.astype(np.float64), np.concatenate(finals).astype(np.float64)
    return (out[:, 0], h_n[:, 0]) if x.ndim == 2 else (out.swapaxes(0, 1) if BATCH_FIRST else out, h_n)
'''

ONNX_REFERENCE = _ONNX.replace(
    "${runner_import}",
    "from onnx.reference import ReferenceEvaluator\n\n"
    "def run(model, feeds):\n"
    '    with np.errstate(over="ignore"):  # its sigmoid 1 / (1 + exp(-x)) overflows to 0\n'
    "        return ReferenceEvaluator(model).run(None, feeds)",
)
ONNXRUNTIME = _ONNX.replace(
    "${runner_import}",
    "import onnxruntime\n\n"
    "def run(model, feeds):\n"
    '    return onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]'
    ").run(None, feeds)",
)

MNN = '''
import os, tempfile  # noqa: E401
import _tools  # MNN's converter: the C++ binding that the MNNConvert command wraps
import MNN
import onnx
from onnx import TensorProto, helper, numpy_helper


def mnn_gru(inputs, weights):  # one ONNX GRU node (opset 22), converted by MNN's converter, run by its runtime
    names = [n if n in inputs or n in weights else "" for n in ("X", "W", "R", "B", "sequence_lens", "initial_h")]
    node = helper.make_node("GRU", names, ["Y", "Y_h"], hidden_size=H, direction="bidirectional"
                            if D == 2 else "forward", linear_before_reset=int(VARIANT == "reset_after"))
    info = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape) for n, v in inputs.items()]
    graph = helper.make_graph([node], "gru", info, [helper.make_tensor_value_info(n, TensorProto.FLOAT, None)
        for n in ("Y", "Y_h")], [numpy_helper.from_array(v, n) for n, v in weights.items()])  # weights constant
    src = os.path.join(tempfile.mkdtemp(), "gru.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)], ir_version=10), src)
    _tools.mnnconvert(["mnnconvert", "-f", "ONNX", "--modelFile", src, "--MNNModel", src + ".mnn"])
    module, F = MNN.nn.load_module_from_file(src + ".mnn", list(inputs), ["Y", "Y_h"]), MNN.expr
    args = [F.const(np.ascontiguousarray(v), list(v.shape), F.NCHW, F.int if v.dtype == np.int32 else F.float)
            for v in inputs.values()]
    out = module.forward(args)
    if len(out) != 2:  # MNN printed why above
        sys.exit(print(f"FAIL: MNN's module returned {len(out)} outputs instead of Y and Y_h") or 1)
    return [np.array(r.read(), np.float64) for r in out]


def library_forward(x, h0, lengths, dtype=DTYPE):
    """One GRU node per layer; ONNX stacks the gates z, r, h and keeps all six biases."""
    seq, finals = x[:, None] if x.ndim == 2 else (x.swapaxes(0, 1) if BATCH_FIRST else x), []
    h0 = h0.reshape(L * D, -1, H) if h0 is not None and x.ndim == 2 else h0
    for layer in range(L):
        cells = [PARAMS[f"l{layer}" + ("_reverse" if d else "")] for d in range(D)]
        def stack(*kinds):  # per direction, gates z, r, h
            return np.stack([np.concatenate([c[k + g] for k in kinds for g in "zrn"]) for c in cells]).astype(dtype)
        inputs = {"X": seq.astype(dtype), "sequence_lens": None if lengths is None else np.asarray(lengths, np.int32),
                  "initial_h": None if h0 is None else h0[layer * D:(layer + 1) * D].astype(dtype)}
        weights = {"W": stack("W_i"), "R": stack("W_h"), **({"B": stack("b_i", "b_h")} if BIAS else {})}
        Y, Y_h = mnn_gru({n: v for n, v in inputs.items() if v is not None}, weights)
        seq, finals = Y.transpose(0, 2, 1, 3).reshape(Y.shape[0], Y.shape[2], D * H), finals + [Y_h]
    out, h_n = seq, np.concatenate(finals)
    return (out[:, 0], h_n[:, 0]) if x.ndim == 2 else (out.swapaxes(0, 1) if BATCH_FIRST else out, h_n)
'''
"""MNN, called as the ``mnn`` target calls it: the ONNX GRU node (weights as initializers, shapes
static) converted by the converter's binding ``_tools.mnnconvert``, never ``MNN.tools`` (whose
import pip-installs a logging SDK and reports each conversion), and run by MNN's runtime."""
MNN_DYNAMIC_TIME = MNN.replace(
    "v.shape) for n, v in inputs.items()]",
    '["T", *v.shape[1:]] if n == "X" else v.shape) for n, v in inputs.items()]  # T dynamic',
)
"""``mnn[dynamic-time]``: the same, the ONNX file's time axis dynamic (torch's ``dynamic_axes``)."""
MNN_ORIGIN_RNN = MNN.replace(
    '"--MNNModel", src + ".mnn"]', '"--MNNModel", src + ".mnn", "--useOriginRNNImpl"]'
)
"""``mnn[origin-rnn]``: the same, converted with ``--useOriginRNNImpl`` (MNN's fused RNN op)."""

OPENVINO = '''
import openvino as ov
import openvino.opset13 as ops


def ov_model(n_in):
    """GRUSequence per layer, dynamic batch and time (as openvino.convert_model produces)."""
    lbr = VARIANT == "reset_after"
    x = ops.parameter(ov.PartialShape([-1, -1, n_in]), ov.Type.f32, name="X")
    lengths = ops.parameter(ov.PartialShape([-1]), ov.Type.i32, name="lengths")
    inputs, finals, seq = [x], [], x
    for layer in range(L):
        h0 = ops.parameter(ov.PartialShape([-1, D, H]), ov.Type.f32, name=f"h0_{layer}")
        inputs.append(h0)
        cells = [PARAMS[f"l{layer}" + ("_reverse" if d else "")] for d in range(D)]
        W, R = (np.stack([np.concatenate([c[k + g] for g in "zrn"]) for c in cells])
                for k in ("W_i", "W_h"))
        B = np.stack([np.concatenate([c["b_iz"] + c["b_hz"], c["b_ir"] + c["b_hr"]] + (
            [c["b_in"], c["b_hn"]] if lbr else [c["b_in"] + c["b_hn"]])) for c in cells])
        node = ops.gru_sequence(seq, h0, lengths, *(ops.constant(a.astype(np.float32)) for a in (W, R, B)),
                                H, "bidirectional" if D == 2 else "forward", linear_before_reset=lbr)
        y = ops.transpose(node.output(0), ops.constant(np.array([0, 2, 1, 3])))  # (B, T, D, H)
        seq = ops.reshape(y, ops.constant(np.array([0, 0, D * H])), special_zero=True)
        finals.append(node.output(1))
    return ov.Model([seq.output(0), *finals], [*inputs, lengths], "gru")


def library_forward(x, h0, lengths, dtype=DTYPE):
    xb = x if BATCH_FIRST else x.swapaxes(0, 1)  # (B, T, I)
    Bn, Tn = xb.shape[:2]
    h0 = np.zeros((L * D, Bn, H)) if h0 is None else h0
    # f32 set explicitly: the CPU plugin runs bf16 by default on CPUs with AMX or AVX512-BF16
    compiled = ov.Core().compile_model(ov_model(xb.shape[-1]), "CPU",
                                       {"INFERENCE_PRECISION_HINT": "f32"})
    feeds = {"X": xb.astype(np.float32), "lengths": np.asarray(
        [Tn] * Bn if lengths is None else lengths, np.int32)}
    for k in range(L):
        feeds[f"h0_{k}"] = np.ascontiguousarray(h0[k * D:(k + 1) * D].swapaxes(0, 1), np.float32)
    res = compiled(feeds)
    y = np.asarray(res[compiled.output(0)], np.float64)
    h_n = np.concatenate([np.asarray(res[compiled.output(1 + k)]).swapaxes(0, 1) for k in range(L)])
    return (y if BATCH_FIRST else y.swapaxes(0, 1)), h_n.astype(np.float64)
'''

KERAS = '''
import os

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras  # noqa: E402


def keras_weights(c):
    """Keras' layout: kernels transposed, gates z, r, h; reset_after=False folds the biases."""
    w = [np.concatenate([c[k + g] for g in "zrn"]).T for k in ("W_i", "W_h")]
    bi, bh = (np.concatenate([c[k + g] for g in "zrn"]) for k in ("b_i", "b_h"))
    return w + ([np.stack([bi, bh]) if VARIANT == "reset_after" else bi + bh] if BIAS else [])


def library_forward(x, h0, lengths, dtype=DTYPE):
    seq = x if BATCH_FIRST else x.swapaxes(0, 1)  # Keras is batch-major (B, T, I)
    mask = None if lengths is None else np.arange(seq.shape[1]) < np.asarray(lengths)[:, None]
    finals = []
    for layer in range(L):
        gru = keras.layers.GRU(H, return_sequences=True, return_state=True, use_bias=BIAS,
                               reset_after=VARIANT == "reset_after", dtype=dtype)
        if D == 2:
            gru = keras.layers.Bidirectional(gru, merge_mode="concat", dtype=dtype)
        gru.build((None, None, seq.shape[-1]))
        gru.set_weights([w.astype(dtype) for d in range(D)
                         for w in keras_weights(PARAMS[f"l{layer}" + ("_reverse" if d else "")])])
        init = None if h0 is None else [np.asarray(h0[layer * D + d], dtype) for d in range(D)]
        result = gru(seq.astype(dtype), initial_state=init, mask=mask)
        seq = keras.ops.convert_to_numpy(result[0]).astype(np.float64)
        finals += [keras.ops.convert_to_numpy(s).astype(np.float64) for s in result[1:1 + D]]
    if mask is not None:  # Keras repeats the last valid output where torch has zeros
        seq = seq * mask[:, :, None]
    return (seq if BATCH_FIRST else seq.swapaxes(0, 1)), np.stack(finals)
'''

FLAX_NNX = '''
import jax.numpy as jnp
from flax import nnx


def library_forward(x, h0, lengths, dtype=DTYPE):
    """flax.nnx.GRUCell stepped over time: (h_t, y_t) = cell(h_(t-1), x_t)."""
    c = PARAMS["l0"]
    cell = nnx.GRUCell(I, H, rngs=nnx.Rngs(0), param_dtype=dtype)
    cell.dense_i.kernel.value = jnp.asarray(np.concatenate([c["W_i" + g] for g in "rzn"]).T, dtype)
    cell.dense_i.bias.value = jnp.asarray(np.concatenate(
        [c["b_ir"] + c["b_hr"], c["b_iz"] + c["b_hz"], c["b_in"]]), dtype)  # b_hr, b_hz fold in
    cell.dense_h.kernel.value = jnp.asarray(np.concatenate([c["W_h" + g] for g in "rzn"]).T, dtype)
    # b_hn has no place: nnx.GRUCell's dense_h has no bias, and b_hn sits inside r * (W_hn h + b_hn)
    seq = x if x.ndim == 2 or not BATCH_FIRST else x.swapaxes(0, 1)  # time-major
    h = jnp.zeros((*seq.shape[1:-1], H), dtype) if h0 is None else jnp.asarray(h0[0], dtype)
    ys = []
    for t in range(seq.shape[0]):
        h, _ = cell(h, jnp.asarray(seq[t], dtype))
        ys.append(np.asarray(h, np.float64))
    out = np.stack(ys)
    return (out.swapaxes(0, 1) if x.ndim == 3 and BATCH_FIRST else out), np.asarray(h)[None]
'''

PADDLE = '''
import paddle

KIND = {"W_i": "weight_ih", "W_h": "weight_hh", "b_i": "bias_ih", "b_h": "bias_hh"}


def build(dt):
    """paddle.nn.GRU with the case's parameters: torch's names and packing (gates r, z, c)."""
    paddle.set_device("cpu")
    keep, no_bias = paddle.get_default_dtype(), {} if BIAS else {"bias_ih_attr": False, "bias_hh_attr": False}
    paddle.set_default_dtype(dt)  # Layer.to(dtype=...) leaves the RNN's flat weight buffer behind
    m = paddle.nn.GRU(I, H, L, direction="bidirect" if D == 2 else "forward", time_major=not BATCH_FIRST, **no_bias)
    paddle.set_default_dtype(keep)
    [getattr(m, f"{key}_{c}").set_value(np.concatenate([p[k + g] for g in "rzn"]).astype(dt))
     for c, p in PARAMS.items() for k, key in KIND.items() if BIAS or k[0] == "W"]
    return m


def tensor(a, dt, grad=False):
    return None if a is None else paddle.to_tensor(np.asarray(a, dt), stop_gradient=not grad)


def call(m, x, h0, lengths):  # sequence_length as the paddle target passes it (int64)
    return m(x, h0, None if lengths is None else paddle.to_tensor(np.asarray(lengths, np.int64)))


def library_forward(x, h0, lengths, dtype=DTYPE):
    m = build(dtype)
    m.eval()
    with paddle.no_grad():
        out, h_n = call(m, tensor(x, dtype), tensor(h0, dtype), lengths)
    return out.numpy().astype(np.float64), h_n.numpy().astype(np.float64)


def library_gradient(quantity):
    """dL/d(quantity) by paddle.grad, L = sum(d_out * output) + sum(d_hn * h_n)."""
    m = build(DTYPE)
    m.train()
    x, h0 = tensor(X, DTYPE, True), tensor(H0, DTYPE, True)
    out, h_n = call(m, x, h0, LENGTHS)
    loss = sum((v * tensor(c, DTYPE)).sum() for c, v in ((D_OUT, out), (D_HN, h_n)) if c is not None)
    cell, _, name = quantity.partition(".")
    # every leaf at once: paddle.grad of only some of them fails in RnnGradNode (a nullptr)
    leaves = {k: v for k, v in {"dx": x, "dh0": h0, **dict(m.named_parameters())}.items() if v is not None}
    grads = dict(zip(leaves, paddle.grad([loss], list(leaves.values()), allow_unused=True)))
    key = quantity if quantity in ("dx", "dh0") else f"{KIND[name[:3]]}_{cell}"
    g = grads[key]
    g = np.zeros(leaves[key].shape) if g is None else g.numpy().astype(np.float64)
    k = "rzn".index(name[3]) if name else 0  # one gate's rows of the stacked parameter
    return g[k * H:(k + 1) * H] if name else g
'''

KERAS_TF = KERAS.replace(
    'os.environ.setdefault("KERAS_BACKEND", "torch")', 'os.environ["KERAS_BACKEND"] = "tensorflow"'
)
"""Keras on TensorFlow: the same calls, the backend set before keras is imported."""

MINDSPORE = '''
import mindspore

mindspore.set_device("CPU")
mindspore.set_context(mode=mindspore.GRAPH_MODE)  # as gruverify's target; PyNative runs the same CPU kernels


def library_forward(x, h0, lengths, dtype=DTYPE):
    """mindspore.nn.GRU: torch's parameter names and gates r, z, n; seq_length for lengths."""
    m = mindspore.nn.GRU(I, H, L, has_bias=BIAS, batch_first=BATCH_FIRST, bidirectional=D == 2)
    m.set_train(False)
    weights = {q.name.rsplit(".", 1)[-1]: q for q in m.get_parameters()}
    for c, p in PARAMS.items():
        for key, kind in (("weight_ih", "W_i"), ("weight_hh", "W_h"), ("bias_ih", "b_i"), ("bias_hh", "b_h")):
            if BIAS or kind[0] == "W":
                weights[f"{key}_{c}"].set_data(mindspore.Tensor(np.concatenate([p[kind + g] for g in "rzn"]).astype(dtype)))
    def tensor(a, dt=dtype):
        return None if a is None else mindspore.Tensor(np.asarray(a, dt))
    out, h_n = m(tensor(x), tensor(h0), tensor(lengths, np.int32))
    return out.asnumpy().astype(np.float64), h_n.asnumpy().astype(np.float64)
'''
"""MindSpore, called as the ``mindspore`` target calls it: ``mindspore.nn.GRU`` on the CPU in
``GRAPH_MODE`` (3-D input only), weights written with ``Parameter.set_data``."""

JITTOR = '''
import os

for key, value in {"nvcc_path": "", "use_mkl": "0", "log_silent": "1"}.items():
    os.environ.setdefault(key, value)  # CPU only; use_mkl=0: no oneDNN download at import
import jittor  # noqa: E402

jittor.flags.use_cuda = 0


def library_forward(x, h0, lengths, dtype=DTYPE):
    """jittor.nn.GRU: torch's state-dict names and gates r, z, n; time-major, no lengths."""
    assert lengths is None and not BATCH_FIRST, "jittor.nn.GRU takes neither lengths nor batch_first"
    m = jittor.nn.GRU(I, H, L, bias=BIAS, bidirectional=D == 2)
    m.load_state_dict({f"{key}_{c}": np.concatenate([p[kind + g] for g in "rzn"]).astype(dtype)
                       for c, p in PARAMS.items() for key, kind in (("weight_ih", "W_i"), ("weight_hh", "W_h"),
                       ("bias_ih", "b_i"), ("bias_hh", "b_h")) if BIAS or kind[0] == "W"})
    m.eval()
    with jittor.no_grad():
        out, h_n = m(jittor.array(x.astype(dtype)), None if h0 is None else jittor.array(h0.astype(dtype)))
        return out.numpy().astype(np.float64), h_n.numpy().astype(np.float64)
'''
"""Jittor, called as the ``jittor`` target calls it: ``jittor.nn.GRU`` on the CPU, time-major,
the environment set before the import as the target sets it (``JITTOR_ENV``)."""

BUILTIN_CALLS: dict[str, Call] = {
    "torch-gru": Call("torch", ("torch",), TORCH_MODULE, True, "GRU = torch.nn.GRU"),
    "torch-grucell": Call("torch", ("torch",), TORCH_CELL, True, "GRU = torch.nn.GRUCell"),
    "onnx-reference": Call("onnx.reference", ("onnx",), ONNX_REFERENCE),
    "onnx-torchscript": Call("onnxruntime", ("onnx", "onnxruntime"), ONNXRUNTIME),
    "onnx-dynamo": Call("onnxruntime", ("onnx", "onnxruntime"), ONNXRUNTIME),
    "openvino": Call("openvino", ("openvino",), OPENVINO),
    "keras-reset-after": Call("keras", ("keras", "torch"), KERAS),
    "keras-reset-before": Call("keras", ("keras", "torch"), KERAS),
    "keras-tensorflow": Call(
        "keras (TensorFlow backend)", ("keras", "tensorflow", "tensorflow-cpu"), KERAS_TF
    ),
    "flax-nnx": Call("flax.nnx", ("flax", "jax"), FLAX_NNX),
    "paddle": Call("paddle", ("paddlepaddle",), PADDLE, True),
    "mnn": Call("MNN", ("mnn", "onnx"), MNN),
    "mnn[dynamic-time]": Call("MNN", ("mnn", "onnx"), MNN_DYNAMIC_TIME),
    "mnn[origin-rnn]": Call("MNN", ("mnn", "onnx"), MNN_ORIGIN_RNN),
    "mindspore": Call("mindspore", ("mindspore",), MINDSPORE),
    "jittor": Call("jittor", ("jittor",), JITTOR),
}
"""The built-in targets that have a template (the onnxruntime targets export torch.nn.GRU; the
script builds the ONNX GRU node itself, which runs the same onnxruntime kernel)."""


def supported_targets() -> str:
    """The targets ``call_for`` accepts, for error messages."""
    return ", ".join(BUILTIN_CALLS) + ", and module:attr classes with torch.nn.GRU's constructor"


def call_for(target: str, cell: bool) -> Call:
    """The call template for ``target`` (module docstring); ``StandaloneError`` when none fits."""
    if target in BUILTIN_CALLS:
        return BUILTIN_CALLS[target]
    module, sep, attr = target.partition(":")
    if not sep or not module or not attr:
        raise StandaloneError(
            f"no standalone template for target {target!r}; supported: {supported_targets()}"
        )
    code = TORCH_CELL if cell else TORCH_MODULE
    if module.startswith("gruverify.zoo"):
        return Call(target, ("torch",), code, True, f"GRU = {attr}")
    head, _, rest = attr.partition(".")
    line = f"from {module} import {head}" + (f"\nGRU = {attr}" if rest else " as GRU")
    return Call(module, ("torch",), code, True, line)
