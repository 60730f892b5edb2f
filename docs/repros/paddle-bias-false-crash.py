#!/usr/bin/env python3
"""paddle: the GRU call ends the process (killed by SIGSEGV: a segmentation fault, forward[bias=False])

Needs only numpy and paddle; the case inline (its sha256 checked), the GRU's equations in
float64; exit status 1 while paddle disagrees. By `gruverify reproduce FILE --standalone` (gruverify 0.1.0, 'forward[bias=False]').
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
TOL = 6.898339788286023e-07

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

def main():  # the call runs in a child process (this script with --child): a crash ends only it
    if sys.argv[1:] == ["--child"]:  # the forward comparison
        got = library_forward(X, H0, LENGTHS)
        ok = [compare(name, e, g, TOL) for name, e, g in zip(("output", "h_n"), reference(X, H0, LENGTHS), got)]
        return 0 if all(ok) else 3
    import signal, subprocess  # noqa: E401
    code = ("import runpy, sys; sys.path[:], sys.argv = {!r}, [{!r}, '--child']; sys.modules.update(dict.fromkeys({!r}));"
            " runpy.run_path(sys.argv[0], run_name='__main__')").format(sys.path, __file__, [m for m, v in sys.modules.items() if v is None])
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)  # this process's path, blocked imports
    words = child.stdout.partition("\n")[2].strip().splitlines()[-16:]  # after its line of versions
    words += child.stderr.strip().splitlines()[-4:] if child.returncode else []
    print("\n".join(line[:160] for line in words))  # its last words (a crash handler's trace)
    if child.returncode == 0:
        return print("PASS: the call returned, and the GRU's numbers") or 0
    if child.returncode < 0:
        return print(f"FAIL: paddle's GRU call ended the process running it: killed by {signal.Signals(-child.returncode).name}") or 1
    return print(f"FAIL: paddle's GRU call returned, with " + ("wrong numbers" if child.returncode == 3 else f"exit status {child.returncode}")) or 1

installed = {d.name.lower().replace('_', '-') for d in distributions()}
print(", ".join(f"{d} {version(d)}" for d in ('paddlepaddle',) if d in installed), "| numpy", np.__version__)
sys.exit(main())
