#!/usr/bin/env python3
"""MNN: GRU output differs from the GRU equations by 0.203 (forward[lengths])

Needs only numpy and MNN; the case inline (its sha256 checked), the GRU's equations in
float64; exit status 1 while MNN disagrees. By `gruverify reproduce FILE --standalone` (gruverify 0.1.0, 'forward[lengths]').
"""
import base64, hashlib, sys  # noqa: E401
from importlib.metadata import distributions, version
import numpy as np

# The case in torch.nn.GRU's conventions (x (T, B, I) or batch-first; h0 (L*D, B, H)):
I, H, L, D, BATCH_FIRST, BIAS = 1, 1, 1, 1, False, False
VARIANT, DTYPE = 'reset_after', 'float32'
def arr(data, shape):  # float64 values: a literal list, or base64 of their little-endian bytes
    data = np.frombuffer(base64.b64decode(data), "<f8") if isinstance(data, str) else data
    return np.array(data, dtype=np.float64).reshape(shape)
def split(flat, n_in):  # one layer-direction's 12 parameters, torch.nn.GRU's gates r, z, n
    names = "W_ir W_iz W_in W_hr W_hz W_hn b_ir b_iz b_in b_hr b_hz b_hn".split()
    shapes = [(H, n_in)] * 3 + [(H, H)] * 3 + [(H,)] * 6
    ends = np.cumsum([int(np.prod(s)) for s in shapes])
    return {n: flat[e - int(np.prod(s)):e].reshape(s) for n, s, e in zip(names, shapes, ends)}
def case_sha256():
    parts = [a for a in (X, H0, LENGTHS, *CELLS.values()) if a is not None]
    return hashlib.sha256(b"".join(np.asarray(a, "<f8").tobytes() for a in parts)).hexdigest()
def rounded(a):  # the values the library computes with: rounded to DTYPE, held in float64
    return None if a is None else np.asarray(a).astype(DTYPE).astype(np.float64)

X = arr([1.3040000451301372, 0.9470809631292422, -0.7037352358069926], (3, 1, 1))
H0, LENGTHS = None, [2]
CELLS = {'l0': arr([0.2739233746429086, -0.4604265724722594, -0.9180529521276106, -0.9669447289429418, 0.6265404784005448, 0.8255111545554434, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], (12,))}
assert case_sha256() == "8d4c679b983513a7c6ae6577b6465b63c7bada572e32cb9551ca0521316af10c", "not the case gruverify saved"
X, H0 = rounded(X), rounded(H0)
PARAMS = {c: split(rounded(v), I if c in ("l0", "l0_reverse") else D * H) for c, v in CELLS.items()}
TOL = 5.824305896462434e-07

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

def sigmoid(a):  # = 1 / (1 + exp(-a)), without overflow
    return 0.5 * (1.0 + np.tanh(0.5 * a))

def gru_step(x, h, p):  # one float64 GRU step: the variant's equations
    r = sigmoid(x @ p["W_ir"].T + p["b_ir"] + h @ p["W_hr"].T + p["b_hr"])
    z = sigmoid(x @ p["W_iz"].T + p["b_iz"] + h @ p["W_hz"].T + p["b_hz"])
    if VARIANT == "reset_after":  # torch.nn.GRU: n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        return (1.0 - z) * np.tanh(x @ p["W_in"].T + p["b_in"] + r * (h @ p["W_hn"].T + p["b_hn"])) + z * h
    # reset-before (Cho et al. 2014, Keras reset_after=False): n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)
    return (1.0 - z) * np.tanh(x @ p["W_in"].T + p["b_in"] + (r * h) @ p["W_hn"].T + p["b_hn"]) + z * h

def reference(x, h0, lengths):
    """(output, h_n) in float64, torch.nn.GRU's layouts; sequence b runs t < lengths[b]."""
    seq = x[:, None] if x.ndim == 2 else (x.swapaxes(0, 1) if BATCH_FIRST else x)  # (T, B, n_in)
    Tn, Bn = seq.shape[:2]
    h = np.zeros((L * D, Bn, H)) if h0 is None else h0.reshape(L * D, Bn, H).copy()
    steps = [Tn] * Bn if lengths is None else lengths
    for layer in range(L):
        y = np.zeros((Tn, Bn, D * H))  # zero past each sequence's length
        for d, b in np.ndindex(D, Bn):  # the reverse direction starts at lengths[b] - 1
            k, p = layer * D + d, PARAMS[f"l{layer}" + ("_reverse" if d else "")]
            for t in range(steps[b]) if d == 0 else range(steps[b] - 1, -1, -1):
                h[k, b] = y[t, b, d * H:(d + 1) * H] = gru_step(seq[t, b], h[k, b], p)
        seq = y
    return (seq[:, 0], h[:, 0]) if x.ndim == 2 else (seq.swapaxes(0, 1) if BATCH_FIRST else seq, h)

def compare(name, expected, got, tol):  # prints the worst entry; True when it is within tol
    if np.shape(got) != expected.shape:
        return print(f"{name}: got shape {np.shape(got)}, expected {expected.shape}") or False
    err = np.nan_to_num(np.abs(np.asarray(got, np.float64) - expected), nan=np.inf)
    i = np.unravel_index(np.argmax(err), err.shape)
    print(f"{name}{[int(j) for j in i]}: expected {expected[i]:.10g}, got {got[i]:.10g}, difference {err[i]:.3g}, tolerance {tol:.3g}")
    return bool(err[i] <= tol)

def main():
    expected = reference(X, H0, LENGTHS)
    got = library_forward(X, H0, LENGTHS)
    ok = [compare(name, e, g, TOL) for name, e, g in zip(("output", "h_n"), expected, got)]
    print("PASS" if all(ok) else f"FAIL: MNN is not the GRU of its variant ({VARIANT})")
    return 0 if all(ok) else 1

installed = {d.name.lower().replace('_', '-') for d in distributions()}
print(", ".join(f"{d} {version(d)}" for d in ('mnn', 'onnx') if d in installed), "| numpy", np.__version__)
sys.exit(main())
