"""Measure what the verdict policy of issue 11 rests on (docs/checker.md, "Failures and warnings").

Usage: PYTHONPATH=.:tests python scripts/measure_activations.py [activations] [planted SEEDS]

``activations``: how far real float32 activations leave their closed intervals, and their largest
error against float64, over 4.2 million float32 pre-activations (a 2,000,001-point grid on
[-30, 30], 2,000,000 uniform on [-12, 12], 200,000 log-uniform magnitudes in [1e-8, 10]):
onnxruntime's GRU kernel (one ONNX GRU node, hidden size 1, made to return ``tanh(x)`` or
``sigmoid(x)``), torch's and jax's elementwise ``tanh`` and ``sigmoid`` (whatever is installed).
The box invariance warning band (``gruverify.conformance.checks.BOX_WARNING_UNITS``) is set from
these figures.

``planted SEEDS``: the declared-arithmetic figures: ``activation_targets.planted_times(m)``
(activations off by ``m`` times the declared 1e-4) for m = 1, 2, 3, 5, 10 through eight checks
under the ci profile, seeds ``0 .. SEEDS-1``; prints each check's status.
"""

from __future__ import annotations

import sys

import numpy as np

U = 2.0**-24  # float32 unit roundoff


def _inputs() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.concatenate([
        np.linspace(-30, 30, 2_000_001), rng.uniform(-12, 12, 2_000_000),
        np.sign(rng.uniform(-1, 1, 200_000)) * 10 ** rng.uniform(-8, 1, 200_000),
    ]).astype(np.float32)  # fmt: skip


def _report(name: str, got: np.ndarray, exact: np.ndarray, top: float) -> None:
    rel = np.abs(got - exact) / np.maximum(np.abs(exact), np.finfo(np.float64).tiny)
    absolute = np.abs(got - exact)
    over = float(np.max(np.abs(got)) - top)
    print(f"{name:32} max |y| - {top:g} = {over:.3g} ({over / U:.3g} u), "
          f"{int(np.sum(np.abs(got) > top))} values beyond; max abs error {absolute.max():.3g} "
          f"({absolute.max() / U:.3g} u); max rel error {rel.max():.3g}")  # fmt: skip


def _onnxruntime(xs: np.ndarray) -> None:
    try:
        import onnxruntime as ort
        from onnx import TensorProto, helper
    except ImportError:
        print("onnxruntime: not installed")
        return
    n = xs.size
    names = [("X", [1, n, 1]), ("W", [1, 3, 1]), ("R", [1, 3, 1]), ("B", [1, 6]), ("H0", [1, n, 1])]
    inputs = [helper.make_tensor_value_info(k, TensorProto.FLOAT, s) for k, s in names]
    node = helper.make_node("GRU", ["X", "W", "R", "B", "", "H0"], ["Y"], hidden_size=1,
                            linear_before_reset=1)  # fmt: skip
    out = helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)
    model = helper.make_model(helper.make_graph([node], "g", inputs, [out]),
                              opset_imports=[helper.make_opsetid("", 14)])  # fmt: skip
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    zero, x = np.zeros((1, 3, 1), np.float32), xs.reshape(1, n, 1)
    x64 = xs.astype(np.float64)
    # tanh: the update gate closed by its bias (z = sigmoid(-1000) = 0), h = n = tanh(x)
    w, b = np.array([[[0.0], [0.0], [1.0]]], np.float32), np.zeros((1, 6), np.float32)
    b[0, 0] = -1000.0
    h0 = np.zeros((1, n, 1), np.float32)
    y = session.run(None, {"X": x, "W": w, "R": zero, "B": b, "H0": h0})[0].ravel()
    _report(f"onnxruntime {ort.__version__} GRU tanh", y.astype(np.float64), np.tanh(x64), 1.0)
    # sigmoid: n = tanh(0) = 0 and h0 = 1, so h = z = sigmoid(x)
    w, b, h0 = np.array([[[1.0], [0.0], [0.0]]], np.float32), np.zeros((1, 6), np.float32), h0 + 1
    y = session.run(None, {"X": x, "W": w, "R": zero, "B": b, "H0": h0})[0].ravel()
    _report("onnxruntime GRU sigmoid", y.astype(np.float64), 1 / (1 + np.exp(-x64)), 1.0)


def activations() -> None:
    xs = _inputs()
    x64 = xs.astype(np.float64)
    tanh, sigmoid = np.tanh(x64), 1 / (1 + np.exp(-x64))
    _onnxruntime(xs)
    import torch

    t = torch.from_numpy(xs)
    _report(f"torch {torch.__version__} tanh", torch.tanh(t).double().numpy(), tanh, 1.0)
    _report("torch sigmoid", torch.sigmoid(t).double().numpy(), sigmoid, 1.0)
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        print("jax: not installed")
        return
    j = jnp.asarray(xs)
    _report(f"jax {jax.__version__} tanh", np.asarray(jnp.tanh(j), np.float64), tanh, 1.0)
    _report("jax sigmoid", np.asarray(jax.nn.sigmoid(j), np.float64), sigmoid, 1.0)


def planted(seeds: int) -> None:
    import activation_targets

    from gruverify.conformance import run_checks

    checks = ["forward[basic]", "forward[multilayer]", "forward[saturated]", "gradient[output]",
              "h0=None equals zeros", "box invariance", "carry-over", "chunked continuation"]  # fmt: skip
    for multiple in (1, 2, 3, 5, 10):
        cls = activation_targets.planted_times(multiple)
        setattr(activation_targets, cls.__name__, cls)  # importable in this process
        for seed in range(seeds):
            report = run_checks(f"activation_targets:{cls.__name__}", device="cpu",
                                dtype="float32", profile="ci", seed=seed, checks=checks,
                                isolate=False)  # fmt: skip
            failed = [c.name for c in report.checks if c.status != "passed"]
            print(f"planted {multiple:>2} x declared, seed {seed}: "
                  f"{'all passed' if not failed else 'flagged by ' + ', '.join(failed)}")  # fmt: skip


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "activations"
    if what == "planted":
        planted(int(sys.argv[2]) if len(sys.argv) > 2 else 4)
    else:
        activations()
