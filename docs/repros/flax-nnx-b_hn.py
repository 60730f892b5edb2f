#!/usr/bin/env python3
"""flax.nnx: GRU output differs from the GRU equations by 0.00546 (forward[basic])

Needs only numpy and flax.nnx; the case inline (its sha256 checked), the GRU's equations in
float64; exit status 1 while flax.nnx disagrees. By `gruverify reproduce FILE --standalone` (gruverify 0.1.0, 'forward[basic]').
"""
import base64, hashlib, sys  # noqa: E401
from importlib.metadata import distributions, version
import numpy as np

# The case in torch.nn.GRU's conventions (x (T, B, I) or batch-first; h0 (L*D, B, H)):
I, H, L, D, BATCH_FIRST, BIAS = 1, 1, 1, 1, False, True
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

X = arr([-2.3250307746388343], (1, 1, 1))
H0, LENGTHS = None, None
CELLS = {'l0': arr([0.2739233746429086, -0.4604265724722594, -0.9180529521276106, -0.9669447289429418, 0.6265404784005448, 0.8255111545554434, 0.21327155153435973, 0.4589931219679968, 0.08724998293084574, 0.8701448475755365, 0.6317071082430643, -0.9945229996597038], (12,))}
assert case_sha256() == "5b75d0bca70bde3396caaa815967d3b9e9a38cfd45da4ef99259b9a6ca543fe5", "not the case gruverify saved"
X, H0 = rounded(X), rounded(H0)
PARAMS = {c: split(rounded(v), I if c in ("l0", "l0_reverse") else D * H) for c, v in CELLS.items()}
TOL = 5.747212654255707e-07

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
    print("PASS" if all(ok) else f"FAIL: flax.nnx is not the GRU of its variant ({VARIANT})")
    return 0 if all(ok) else 1

installed = {d.name.lower().replace('_', '-') for d in distributions()}
print(", ".join(f"{d} {version(d)}" for d in ('flax', 'jax') if d in installed), "| numpy", np.__version__)
sys.exit(main())
