#!/usr/bin/env python3
"""jittor: GRU accepts an initial state of shape (2, 1, 3) where (2, 2, 3) is required

Needs only numpy and jittor; the case inline (its sha256 checked), the GRU's equations in
float64; exit status 1 while jittor disagrees. By `gruverify reproduce FILE --standalone` (gruverify 0.1.0, 'bad initial state rejected').
"""
import base64, hashlib, sys  # noqa: E401
from importlib.metadata import distributions, version
import numpy as np

# The case in torch.nn.GRU's conventions (x (T, B, I) or batch-first; h0 (L*D, B, H)):
I, H, L, D, BATCH_FIRST, BIAS = 3, 3, 2, 1, False, True
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

X = arr([0.42377135285334727, 0.37122741773625884, 0.3827571602707609, 0.3194142202523809, -0.35891330853862047, -1.9016352983759945, -0.10891472790742324, -0.8037318485206766, 1.0801634125378852, -0.2887665059953775, 0.08347535610700986, -0.8496059556101431], (2, 2, 3))
H0, LENGTHS = arr([0.8876028538841816, -0.7463657954775045, 0.7295565908015482, -0.8810716967993231, -0.23845898337822113, -0.14045187764284672, -0.02230090633307147, 0.9529246438720891, 0.5513823762036567, -0.382285274561478, -0.4603264289983997, 0.7262404083786356], (2, 2, 3)), None
CELLS = {'l0': arr("qGXjH0A+xD96Y1DzUAPRv3JKXYAS9uC/TOjwPFDd4b+agjp8oybXP+r1u2bDgN4/ALczqpqFvz+qe1K7wfXQP3Ch30iYyqk/Ib5dyXsT4D/iQennglfXP094fMS/X+K/TLcO6pdp2j8lWWMH9Tvhv/boez3D+NA/tjLbXyX417/IzB5619baP6CzZEYcg6g/LjkWwliazb/0XUs0mtq2vyAIt9nEbeG/yjYqHgrE279c/5tq9DfJP6xvDTU+wcU/qNR1SdoNwT9+arWdUTHBv/M8pOZCX+I/b+5wdl7E4T/EFTzsZGzLP7wzRzr2PMY/GGSjQE3ayz+cbTjD52rAv17u8d1399q/xPasmEBe0D/gte61svqdP9yttNjrC8y/gPQSIZu/kL+634/hkcjcPzU3izPACeA/os1OraIExb94jo4d+yS1P5otYeT3U8q/qLyxdBrguz+cZCBj/fTHv9SgPCXWBMC/Dg6vHXPX3D8PHzbRzCnUvwBYSlsPNcI/ikdaXdq93r/kfLSFKpXYP7QP1X+AN9U/VdR00MRC079eCE5Ij9LbP/0m6PCjT+C/QCzsQuA4yL9OjK9GOtjZv1CvRCoVXK2/VEg6XAvm1T+Cq9E/4OfTvxf3rWWRjeC/CCa3yfw2vL+awtQYt0fWv+klt49iPt6/eDZVBxy/tz+itwi5x8DNv2itFC3Pa8k/klmZT8A01r8p5gBkFVbgP5LJjXLb78O/7r4VfXsn3b/sThcvGBXDP7bQpAQskd8/", (72,)), 'l1': arr("KJlyIe2fsb97/WhnHMzgPwAgvdN2iR+/xA5cdEgatr+k5gMwi8TBP7el7Q1FS+I/ReKNKrKW4D9wFwzkH5+nvwIYcljfC9M/AHd51idhaL/Qrw4MXVShP7Jr+lOrHtU/aIk7Pl86ub8U7/mlGlTRPzwETKEPNc8/YrDBY/jt3z8inpzT8HTcv7qM9wSm7NA/apj/pUSW3z/LhqXkQUrhPwZ8h72K7uG/vrhB/ZDf2j8Vgk+CxcfhP603jDDk5OA/atiL3+X02b+TJWKvvXbhP3abBUUK0dw//nCfqt3S1z8ANKSenKmXv19wxSEix9O/mmmxeilP1j/q/K17mkzfP2hBO7N9SNG/YCACHK4Epz+IZQkAJuywvzY/QQRA2t8/eyWePXP64L9sdYdOPCXRP6zrcgiR58A/PjbgMlZt4b/CjtSMVTPQP8Gbivph4uG/3onrSRMQ0z/AdT1MEyyOPx5osJQOtt8/2M4dDY8I4L86kaPuPznZP0MtIunPAuC/tEQ48+ACx7/0OeX9mpq0v/sNi8yfOOE/2DmhV1xlsj+cQWWV8tHRv8BgoCkjF9O/6o6nGamu3D84gRGdK0LUv/uLbornvtu/DMLeLPpIz7/A9/nhUHW5P6B+cNqJ+q8/dvK8akzj1j8oy9ETfOCxP0SgjPmNRc+/NDB7kYW/ub8WWElhaILXP5A3N12nssI/K7PYZ4724D/MbFD+X03Dv5BV8NixGq8/sAwCqKnDuz8QmOvRL73ZP5a0py4mM9q/", (72,))}
assert case_sha256() == "d8fa82bcb45901585f9c52b3a90b87dfbc4913b16cd5c900b48b3f1de8fb8d47", "not the case gruverify saved"
X, H0 = rounded(X), rounded(H0)
PARAMS = {c: split(rounded(v), I if c in ("l0", "l0_reverse") else D * H) for c, v in CELLS.items()}
BAD_SHAPE = (2, 1, 3)
GOOD_SHAPE = (2, 2, 3)

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
    print(f"FAIL: jittor accepted an initial state of the wrong shape")
    return 1

installed = {d.name.lower().replace('_', '-') for d in distributions()}
print(", ".join(f"{d} {version(d)}" for d in ('jittor',) if d in installed), "| numpy", np.__version__)
sys.exit(main())
