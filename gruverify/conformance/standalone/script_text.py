"""The parts of a standalone reproduction that do not depend on the library: the float64 GRU and
the check bodies (one ``main`` per kind of check).

``REFERENCE`` is the GRU written out in float64, the variant's equations and nothing else::

    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
    z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))     reset-after (torch.nn.GRU, cuDNN,
                                                       ONNX linear_before_reset=1, Keras default)
    n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)     reset-before (Cho et al. 2014, Keras
                                                       reset_after=False, ONNX linear_before_reset=0)
    h' = (1 - z) * n + z * h

over layers and directions with torch.nn.GRU's conventions (a sequence ``b`` runs ``t <
lengths[b]``, its reverse direction starts at ``lengths[b] - 1``, outputs past a length are
zero). The mains: ``FORWARD_MAIN`` (output and h_n against the reference, within the tolerance
the counterexample recorded), ``BOX_MAIN`` (``|h_t| <= max(|h_{t-1}|, 1)``, the convex
combination's bound, within the recorded slack), ``BAD_STATE_MAIN`` (a wrong-shaped initial state
must raise), ``GRADIENT_MAIN`` (the library's backward against central differences of the
reference and of the library's own float64 forward), ``NONFINITE_MAIN`` (a NaN or infinite
gradient where the GRU's is finite) and ``CRASH_MAIN`` (the forward call in a child process: the
signal that ended it, else the forward comparison). Each returns the script's exit status:
1 while the library is wrong, 0 once it is right.
"""

from __future__ import annotations

__all__ = [
    "BAD_STATE_MAIN",
    "BOX_MAIN",
    "COMPARE",
    "CRASH_MAIN",
    "FORWARD_MAIN",
    "GRADIENT_HELPERS",
    "GRADIENT_MAIN",
    "NONFINITE_MAIN",
    "REFERENCE",
]

REFERENCE = '''
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
'''
"""The script's float64 GRU (module docstring)."""

COMPARE = """
def compare(name, expected, got, tol):  # prints the worst entry; True when it is within tol
    if np.shape(got) != expected.shape:
        return print(f"{name}: got shape {np.shape(got)}, expected {expected.shape}") or False
    err = np.nan_to_num(np.abs(np.asarray(got, np.float64) - expected), nan=np.inf)
    i = np.unravel_index(np.argmax(err), err.shape)
    print(f"{name}{[int(j) for j in i]}: expected {expected[i]:.10g}, got {got[i]:.10g}, difference {err[i]:.3g}, tolerance {tol:.3g}")
    return bool(err[i] <= tol)
"""
"""The script's comparison: the worst entry, printed."""

FORWARD_MAIN = """
def main():
    expected = reference(X, H0, LENGTHS)
    got = library_forward(X, H0, LENGTHS)
    ok = [compare(name, e, g, TOL) for name, e, g in zip(("output", "h_n"), expected, got)]
    print("PASS" if all(ok) else f"FAIL: {LIBRARY} is not the GRU of its variant ({VARIANT})")
    return 0 if all(ok) else 1
"""
"""Forward checks: output and h_n against the float64 reference, within ``TOL``."""

BOX_MAIN = '''
def main():
    """h_t = (1 - z) n + z h_(t-1), 0 <= z <= 1, |n| <= 1: so |h_t| <= max(|h_(t-1)|, 1)."""
    out, _ = library_forward(X, H0, None)
    y = out[:, None] if out.ndim == 2 else (out.swapaxes(0, 1) if BATCH_FIRST else out)  # (T, B, D*H)
    h0 = np.zeros((L * D, y.shape[1], H)) if H0 is None else H0.reshape(L * D, -1, H)
    first = np.concatenate(list(h0[(L - 1) * D:]), axis=-1)[None]  # the last layer's h0
    fwd, rev = np.concatenate([first, y[:-1]]), np.concatenate([y[1:], first])  # each h_(t-1)
    prev = np.concatenate([fwd[..., :H], rev[..., H:]], axis=-1) if D == 2 else fwd
    bound = np.maximum(np.abs(prev), 1.0)
    excess = np.nan_to_num(np.abs(y) - bound * (1 + SLACK), nan=np.inf)
    i = np.unravel_index(np.argmax(excess), excess.shape)
    print(f"|h{[int(j) for j in i]}| = {abs(y[i]):.10g}, bound max(|h_prev|, 1) = {bound[i]:.10g}, "
          f"difference {abs(y[i]) - bound[i]:.3g}, tolerance {bound[i] * SLACK:.3g} (rounding)")
    ok = excess[i] <= 0
    print("PASS" if ok else f"FAIL: {LIBRARY}'s state leaves [-1, 1]: tanh or a gate overshoots")
    return 0 if ok else 1
'''
"""Box invariance: the bound of the convex combination, within the recorded slack."""

BAD_STATE_MAIN = '''
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
    print(f"FAIL: {LIBRARY} accepted an initial state of the wrong shape")
    return 1
'''
"""Bad initial state: the wrong shape the check saw accepted must raise."""

GRADIENT_HELPERS = '''
def loss(outputs):
    """L = sum(d_out * output) + sum(d_hn * h_n): the loss whose gradient is checked."""
    out, h_n = outputs
    return sum(float(np.sum(c * v)) for c, v in ((D_OUT, out), (D_HN, h_n)) if c is not None)


def central_difference(f, a, eps=1e-6):
    """dL/da, entry by entry: (L(a + eps) - L(a - eps)) / (2 eps), a changed in place."""
    g = np.zeros(a.shape)
    for i in np.ndindex(a.shape):
        keep = a[i]
        a[i] = keep + eps
        up = f()
        a[i] = keep - eps
        g[i] = (up - f()) / (2 * eps)
        a[i] = keep
    return g
'''
"""The gradient scripts' loss and central differences."""

GRADIENT_MAIN = (
    GRADIENT_HELPERS
    + """

def main():
    cell, _, name = QUANTITY.partition(".")
    a = X if QUANTITY == "dx" else H0 if QUANTITY == "dh0" else PARAMS[cell][name]
    expected = central_difference(lambda: loss(reference(X, H0, LENGTHS)), a)
    own = central_difference(lambda: loss(library_forward(X, H0, LENGTHS, "float64")), a)
    got = library_gradient(QUANTITY)
    ok = compare(f"{QUANTITY}, backward vs reference", expected, got, TOL)
    compare(f"{QUANTITY}, backward vs {LIBRARY}'s own float64 forward differenced", own, got, TOL)
    compare(f"{QUANTITY}, {LIBRARY}'s float64 forward differenced vs reference", expected, own, TOL)
    print("PASS" if ok else f"FAIL: {LIBRARY}'s gradient of {QUANTITY} is wrong")
    return 0 if ok else 1
"""
)
"""Gradient checks: the library's backward of one quantity against central differences of the
reference, and of the library's own forward in float64 (so the report does not rest on the
reference alone)."""

NONFINITE_MAIN = (
    GRADIENT_HELPERS
    + '''

def main():
    """The GRU's gradient is finite here: the library's backward must be too."""
    cell, _, name = QUANTITY.partition(".")
    a = X if QUANTITY == "dx" else H0 if QUANTITY == "dh0" else PARAMS[cell][name]
    expected = central_difference(lambda: loss(reference(X, H0, LENGTHS)), a)
    own = central_difference(lambda: loss(library_forward(X, H0, LENGTHS, "float64")), a)
    got = library_gradient(QUANTITY)
    bad = ~np.isfinite(got)
    i = tuple(np.argwhere(bad)[0]) if bad.any() else np.unravel_index(0, got.shape)
    print(f"{QUANTITY}{[int(j) for j in i]}: reference differenced {expected[i]:.10g}, {LIBRARY}'s own "
          f"float64 forward differenced {own[i]:.10g}, {LIBRARY}'s backward {got[i]:.10g}")
    ok = np.isfinite(expected).all() and not bad.any()
    print("PASS" if ok else f"FAIL: {LIBRARY}'s gradient of {QUANTITY} has {int(bad.sum())} "
          f"non-finite of {bad.size} entries where the GRU's is finite")
    return 0 if ok else 1
'''
)
"""Non-finite gradients (the output contract): where the GRU's gradient is finite (central
differences of the reference, and of the library's own float64 forward), the library's backward
must be finite too."""

CRASH_MAIN = """
def main():  # the call runs in a child process (this script with --child): a crash ends only it
    if sys.argv[1:] == ["--child"]:  # the forward comparison
        got = library_forward(X, H0, LENGTHS)
        ok = [compare(name, e, g, TOL) for name, e, g in zip(("output", "h_n"), reference(X, H0, LENGTHS), got)]
        return 0 if all(ok) else 3
    import signal, subprocess  # noqa: E401
    code = ("import runpy, sys; sys.path[:], sys.argv = {!r}, [{!r}, '--child']; sys.modules.update(dict.fromkeys({!r}));"
            " runpy.run_path(sys.argv[0], run_name='__main__')").format(sys.path, __file__, [m for m, v in sys.modules.items() if v is None])
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)  # this process's path, blocked imports
    words = child.stdout.partition("\\n")[2].strip().splitlines()[-16:]  # after its line of versions
    words += child.stderr.strip().splitlines()[-4:] if child.returncode else []
    print("\\n".join(line[:160] for line in words))  # its last words (a crash handler's trace)
    if child.returncode == 0:
        return print("PASS: the call returned, and the GRU's numbers") or 0
    if child.returncode < 0:
        return print(f"FAIL: {LIBRARY}'s GRU call ended the process running it: killed by {signal.Signals(-child.returncode).name}") or 1
    return print(f"FAIL: {LIBRARY}'s GRU call returned, with " + ("wrong numbers" if child.returncode == 3 else f"exit status {child.returncode}")) or 1
"""
"""A call that ended the process (a segmentation fault): the script runs it in a child process and
reports the signal; once the call returns, the child compares output and h_n with the GRU within
``TOL``."""
