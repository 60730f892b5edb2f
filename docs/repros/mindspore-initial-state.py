#!/usr/bin/env python3
"""mindspore: GRU accepts an initial state of shape (1, 2, 1) where (1, 1, 1) is required

Needs only numpy and mindspore; the case inline (its sha256 checked), the GRU's equations in
float64; exit status 1 while mindspore disagrees. By `gruverify reproduce FILE --standalone` (gruverify 0.1.0, 'bad initial state rejected').
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

X = arr([1.3040000451301372], (1, 1, 1))
H0, LENGTHS = None, None
CELLS = {'l0': arr([0.2739233746429086, -0.4604265724722594, -0.9180529521276106, -0.9669447289429418, 0.6265404784005448, 0.8255111545554434, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], (12,))}
assert case_sha256() == "3bb00801ea64a514a2847065e2f12871fba00a5d40b517292859471ee54168d2", "not the case gruverify saved"
X, H0 = rounded(X), rounded(H0)
PARAMS = {c: split(rounded(v), I if c in ("l0", "l0_reverse") else D * H) for c, v in CELLS.items()}
BAD_SHAPE = (1, 2, 1)
GOOD_SHAPE = (1, 1, 1)

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

def main():
    """An initial state of the wrong shape must raise, never be broadcast."""
    bad = np.full(BAD_SHAPE, 0.5)
    try:
        out, h_n = library_forward(X, bad, None)
    except Exception as e:
        print(f"PASS: h0 of shape {BAD_SHAPE} rejected: {type(e).__name__}: {e}"[:300])
        return 0
    print(f"expected: an error for h0 of shape {BAD_SHAPE} (the input needs {GOOD_SHAPE})")
    print(f"got: output {np.shape(out)}, h_n {np.shape(h_n)} (the state was broadcast)")
    print(f"FAIL: mindspore accepted an initial state of the wrong shape")
    return 1

installed = {d.name.lower().replace('_', '-') for d in distributions()}
print(", ".join(f"{d} {version(d)}" for d in ('mindspore',) if d in installed), "| numpy", np.__version__)
sys.exit(main())
