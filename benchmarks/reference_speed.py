"""Benchmark 3: speed of the float64 numpy reference against torch's float64 nn.GRU.

One unit of work is a forward pass plus the gradients of ``L = sum(d_out * output) + sum(d_hn *
h_n)`` with respect to the input, the initial state and every parameter:

- numpy: ``gru_backward`` (it runs the forward pass and the analytic BPTT);
- torch: ``torch.nn.GRU`` in float64 on the CPU, forward, then ``torch.autograd.grad``.

Both run in one process, alternately, on the same data; the ratio numpy / torch is taken within
that run. Each thread setting runs in its own process, since OpenBLAS reads
``OPENBLAS_NUM_THREADS`` at import: ``threads = N`` sets it and ``torch.set_num_threads(N)``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmarks.common import Table, median_time

__all__ = ["SIZES", "measure", "measure_in_process", "run"]

SIZES = {"large": (100, 32, 128, 256), "small": (5, 2, 3, 4)}
"""(T, B, I, H): the issue's large configuration and a typical checker case."""


def measure_in_process(T: int, B: int, I: int, H: int, repeats: int = 3) -> dict[str, float]:
    """Median seconds of numpy forward, numpy forward+backward, torch forward, torch fwd+bwd."""
    import numpy as np
    import torch

    from gruverify.core.params import random_gru_params
    from gruverify.layouts.torch_layout import gru_to_torch
    from gruverify.reference.numpy_reference import gru_backward, gru_forward

    rng = np.random.default_rng(0)
    params = random_gru_params(I, H, rng=rng)
    x = rng.standard_normal((T, B, I))
    h0 = rng.uniform(-1, 1, (1, B, H))
    d_out = rng.standard_normal((T, B, H))
    d_hn = rng.standard_normal((1, B, H))

    module = torch.nn.GRU(I, H).double()
    module.load_state_dict({k: torch.as_tensor(v) for k, v in gru_to_torch(params).items()})
    xt = torch.tensor(x, requires_grad=True)
    ht = torch.tensor(h0, requires_grad=True)
    dot, dht = torch.as_tensor(d_out), torch.as_tensor(d_hn)
    leaves = [xt, ht, *module.parameters()]

    def np_fwd() -> None:
        gru_forward(params, x, h0)

    def np_both() -> None:
        gru_backward(params, x, h0, d_out, d_hn)

    def torch_fwd() -> None:
        with torch.no_grad():
            module(xt, ht)

    def torch_both() -> None:
        out, h_n = module(xt, ht)
        torch.autograd.grad((out * dot).sum() + (h_n * dht).sum(), leaves)

    # alternate the two so that load on a shared machine hits both alike
    result: dict[str, list[float]] = {
        k: [] for k in ("np_fwd", "np_both", "torch_fwd", "torch_both")
    }
    fns = {"np_fwd": np_fwd, "np_both": np_both, "torch_fwd": torch_fwd, "torch_both": torch_both}
    for _ in range(repeats):
        for k, fn in fns.items():
            result[k].append(median_time(fn, repeats=1, warmup=1 if not result[k] else 0))
    return {k: float(np.median(v)) for k, v in result.items()}


def measure(threads: int, sizes: Sequence[str], repeats: int = 3) -> dict[str, dict[str, float]]:
    """Run ``measure_in_process`` in a fresh process with ``threads`` BLAS and torch threads."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    code = (
        "import json, sys, torch\n"
        f"torch.set_num_threads({threads})\n"
        "from benchmarks.reference_speed import SIZES, measure_in_process\n"
        f"print(json.dumps({{s: measure_in_process(*SIZES[s], repeats={repeats}) "
        f"for s in {list(sizes)!r}}}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=False, cwd=root)  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"reference speed worker failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def run(quick: bool = False, device: str | None = None) -> list[Table]:
    """Numpy vs torch at 1 and 2 threads, large and small configurations (CPU only)."""
    sizes = list(SIZES)
    rows: list[tuple[int, str, dict[str, float]]] = []
    for threads in (1, 2):
        res = measure(threads, sizes, repeats=2 if quick else 5)
        rows += [(threads, s, res[s]) for s in sizes]
    table = Table(
        "3. reference speed: numpy float64 vs torch float64 nn.GRU (CPU), median seconds",
        ["threads", "(T, B, I, H)", "numpy fwd", "numpy fwd+bwd", "torch fwd", "torch fwd+bwd",
         "numpy / torch (fwd+bwd)", "numpy / torch (fwd)"],
    )  # fmt: skip
    for threads, s, r in rows:
        table.add(threads, str(SIZES[s]), r["np_fwd"], r["np_both"], r["torch_fwd"],
                  r["torch_both"], f"{r['np_both'] / r['torch_both']:.3g}",
                  f"{r['np_fwd'] / r['torch_fwd']:.3g}")  # fmt: skip
    table.notes.append(
        "threads = OPENBLAS_NUM_THREADS and OMP_NUM_THREADS and torch.set_num_threads, one "
        "process per setting; the ratio is within one process (the two alternate)"
    )
    return [table]


def _main() -> None:  # pragma: no cover - manual use
    print(json.dumps(measure_in_process(*SIZES["small"]), indent=1))


if __name__ == "__main__":  # pragma: no cover
    _main()
