"""Benchmark: the check's cost model, how time and memory grow with hidden size, steps and batch.

One example of a forward check costs the error model's forward tolerance (the float64 reference
on the rounded problem plus ``draws = 3`` perturbed runs that round every step at random: four
passes of the reference over time) and the target's forward pass; a gradient check costs the
error model's gradient tolerance (four traced forward passes and four backward passes) and the
target's forward and backward passes. This benchmark times each part alone on one problem
(ordinary parameters and inputs, one layer, ``I = H``), varying one dimension at a time from a
base size, and fits ``time ~ dim^p`` (least squares on logs) for each dimension; it also
measures the peak memory of each part (``tracemalloc``, numpy's allocations) and predicts both
at a larger size from the fitted exponents.

Per step the reference does about ``6 B H (I + H)`` multiply-adds, so the arithmetic grows like
``T B H^2``; at small sizes the interpreter's per-step overhead dominates instead (exponents
near 0 in ``H`` and ``B``, 1 in ``T``).
"""

from __future__ import annotations

import dataclasses
import gc
import math
import time
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from benchmarks.common import Table

__all__ = ["BASE", "Size", "fit_exponent", "measure", "run"]


@dataclasses.dataclass(frozen=True)
class Size:
    """One problem size: hidden (= input) size, steps, batch."""

    H: int
    T: int
    B: int

    def __str__(self) -> str:
        return f"H={self.H} T={self.T} B={self.B}"


BASE = Size(64, 64, 8)
GRID: dict[str, Sequence[int]] = {
    "H": (32, 64, 128, 256, 512), "T": (32, 64, 128, 256), "B": (4, 8, 16, 64),
}  # fmt: skip
QUICK_GRID: dict[str, Sequence[int]] = {"H": (16, 64), "T": (16, 64), "B": (2, 8)}
PARTS = ("reference fwd", "tolerance fwd", "tolerance bwd", "target fwd", "target fwd+bwd")


def _problem(size: Size) -> Any:
    from gruverify.strategies import Config, make_case

    cfg = Config(steps=size.T, batch=size.B, input_size=size.H, hidden_size=size.H)
    return make_case(cfg, "ordinary", "ordinary", seed=0).problem


def _parts(size: Size) -> dict[str, Callable[[], Any]]:
    """A callable per part, on one problem of ``size`` (float32 error model, torch.nn.GRU)."""
    import torch

    from gruverify import error_model as em
    from gruverify.laws.gradients import problem_cotangents
    from gruverify.reference import numpy_reference as nr
    from gruverify.targets import build_target

    problem = _problem(size)
    model = em.ErrorModel(em.ARITHMETICS["float32"])
    target = build_target("torch-gru", "cpu", "float32", False, None)
    d_out, d_hn = problem_cotangents(problem, 0)

    def tolerance_fwd() -> Any:
        saved, em.FORWARD_CACHE_ELEMENTS = em.FORWARD_CACHE_ELEMENTS, -1  # time it uncached
        try:
            return model.forward(problem, "reset_after")
        finally:
            em.FORWARD_CACHE_ELEMENTS = saved

    def target_both() -> Any:
        with torch.enable_grad():
            return target.gradients(problem, d_out, d_hn)

    return {
        "reference fwd": lambda: nr.stack_forward(
            nr.gru_step, problem.params, problem.x, problem.h0, "reset_after", False, None,
            traces=False,
        ),
        "tolerance fwd": tolerance_fwd,
        "tolerance bwd": lambda: model.backward(problem, "reset_after", d_out, d_hn),
        "target fwd": lambda: target.forward(problem),
        "target fwd+bwd": target_both,
    }  # fmt: skip


def measure(size: Size, repeats: int = 1, memory: bool = False) -> dict[str, dict[str, float]]:
    """Seconds (best of ``repeats`` after one warm-up call) and, with ``memory``, the peak bytes
    numpy allocates, per part."""
    out: dict[str, dict[str, float]] = {}
    for name, fn in _parts(size).items():
        fn()
        best = math.inf
        for _ in range(max(1, repeats)):
            start = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - start)
        row = {"seconds": best}
        if memory:
            gc.collect()
            tracemalloc.start()
            fn()
            row["peak_bytes"] = float(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        out[name] = row
    return out


def fit_exponent(dims: Sequence[int], seconds: Sequence[float]) -> float:
    """The least-squares slope of ``log(seconds)`` against ``log(dims)``."""
    x, y = np.log(np.asarray(dims, float)), np.log(np.asarray(seconds, float))
    return float(np.polyfit(x, y, 1)[0])


def _sweep(grid: dict[str, Sequence[int]], repeats: int) -> dict[str, list[tuple[int, Any]]]:
    sweeps: dict[str, list[tuple[int, Any]]] = {}
    for dim, values in grid.items():
        sweeps[dim] = []
        for v in values:
            size = dataclasses.replace(BASE, **{dim: v})
            sweeps[dim].append((v, measure(size, repeats)))
    return sweeps


def _predict(sweeps: dict[str, list[tuple[int, Any]]], part: str, target: Size) -> float:
    """Seconds at ``target`` from the base measurement and the exponent fitted on the largest
    sizes of each sweep (the arithmetic regime)."""
    seconds = dict(sweeps["T"])[BASE.T][part]["seconds"]
    for dim, points in sweeps.items():
        top = points[-2:]
        p = fit_exponent([v for v, _ in top], [m[part]["seconds"] for _, m in top])
        seconds *= (getattr(target, dim) / getattr(BASE, dim)) ** p
    return float(seconds)


def run(
    quick: bool = False, device: str | None = None, target: Size = Size(1024, 512, 64)
) -> list[Table]:
    """The exponents per part and dimension, the sweeps' seconds, and memory at two sizes."""
    import torch

    threads = torch.get_num_threads()
    grid = QUICK_GRID if quick else GRID
    sweeps = _sweep(grid, repeats=1 if quick else 2)
    fit = Table(
        f"cost model: time ~ dim^p per part (one dimension varied from {BASE}, I = H, float32, "
        "CPU)",
        ["part", *[f"p({d}) over {grid[d][0]}..{grid[d][-1]}" for d in grid],
         *[f"p({d}) top two" for d in grid], f"predicted s at {target}"],
    )  # fmt: skip
    for part in PARTS:
        ps = [fit_exponent([v for v, _ in sweeps[d]], [m[part]["seconds"] for _, m in sweeps[d]])
              for d in grid]  # fmt: skip
        tops = [fit_exponent([v for v, _ in sweeps[d][-2:]],
                             [m[part]["seconds"] for _, m in sweeps[d][-2:]]) for d in grid]  # fmt: skip
        fit.add(part, *[f"{p:.2f}" for p in ps], *[f"{p:.2f}" for p in tops],
                _predict(sweeps, part, target))  # fmt: skip
    fit.notes.append(f"torch threads {threads}; numpy's BLAS as the environment sets it")
    secs = Table("cost model: seconds per part at each size", ["size", *PARTS])
    for dim in grid:
        for v, m in sweeps[dim]:
            secs.add(str(dataclasses.replace(BASE, **{dim: v})), *[m[p]["seconds"] for p in PARTS])
    mem = Table("cost model: peak numpy memory per part (MB)", ["size", "T B H", *PARTS])
    for size in (BASE, Size(256, 256, 32) if not quick else Size(64, 64, 16)):
        m = measure(size, memory=True)
        mem.add(str(size), size.T * size.B * size.H,
                *[m[p].get("peak_bytes", 0.0) / 1e6 for p in PARTS])  # fmt: skip
    mem.notes.append(
        "tracemalloc sees numpy's allocations (torch's own are not traced: the target parts "
        "show only the arrays passed in and out); the tolerance parts grow like T B H (forward: "
        "no traces kept; backward: the traces of one pass)"
    )
    return [fit, secs, mem]
