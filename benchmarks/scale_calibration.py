"""Benchmark: the error model at production size, hidden 1024, 512 steps, batch 64 (issue 13).

For each arithmetic (float32, TF32 emulated on the CPU, float16, bfloat16) a correct GRU in that
arithmetic (the torch reference in that dtype; TF32: ``reference.emulation.Tf32Reference``) runs
problems of that size (one layer, ``I = H``, parameter kinds as named), and the error model
judges its outputs: the figure is ``max |got - ref| / tolerance`` for the outputs and ``h_n`` (a
false alarm is a ratio above 1; the margin is its inverse). With ``gradients`` the float32
gradient tolerance is judged the same way on the first problem (dx, dh0, every parameter). Each
row gives the seconds of the tolerance and of the target, and the peak memory of the tolerance
(``tracemalloc``: numpy's allocations) and of the whole process (``ru_maxrss``).

Heavy: about half an hour on two loaded cores for the default (two problems, four arithmetics,
float32 gradients); ``quick`` runs the same at hidden 256, 128 steps, batch 16. Run niced.
"""

from __future__ import annotations

import dataclasses
import resource
import time
import tracemalloc
from collections.abc import Sequence
from typing import Any

import numpy as np

from benchmarks.common import Table

__all__ = ["FULL", "QUICK", "Scale", "judge_forward", "judge_gradients", "run"]


@dataclasses.dataclass(frozen=True)
class Scale:
    H: int
    T: int
    B: int

    def __str__(self) -> str:
        return f"H={self.H} T={self.T} B={self.B}"


FULL = Scale(1024, 512, 64)
QUICK = Scale(256, 128, 16)
ARITHMETICS = ("float32", "tf32", "float16", "bfloat16")
RUNS = (*((a, "ordinary") for a in ARITHMETICS), ("float32", "chrono"))
"""(arithmetic, parameter kind) of the forward rows: every arithmetic on torch's initialisation,
float32 also on chrono-initialised gates (long memory: rounding carried over all 512 steps)."""


def _problem(scale: Scale, kind: str, seed: int) -> Any:
    from gruverify.strategies import Config, make_case

    cfg = Config(steps=scale.T, batch=scale.B, input_size=scale.H, hidden_size=scale.H)
    return make_case(cfg, kind, "ordinary", seed).problem  # type: ignore[arg-type]


def _impl(arith: str) -> Any:
    from gruverify.reference.emulation import Tf32Reference
    from gruverify.reference.implementations import TorchReference

    return Tf32Reference() if arith == "tf32" else TorchReference(dtype=arith)


def _peak(fn: Any) -> tuple[Any, float, float]:
    """``fn()``, its seconds and the peak bytes numpy allocated meanwhile."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        value = fn()
    finally:
        seconds = time.perf_counter() - start
        peak = float(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    return value, seconds, peak


def judge_forward(arith: str, problem: Any) -> dict[str, Any]:
    """The forward ratio of a correct GRU in ``arith`` on ``problem``, with costs."""
    from gruverify.error_model import ARITHMETICS as ARITH
    from gruverify.error_model import ErrorModel

    model = ErrorModel(ARITH[arith])
    impl = _impl(arith)
    (ref, tol), tol_s, tol_peak = _peak(lambda: model.forward(problem, impl.variant))
    start = time.perf_counter()
    got = impl.forward(problem)
    target_s = time.perf_counter() - start
    ratio = max(
        float(np.max(np.abs(got.output - ref.output))) / tol.output,
        float(np.max(np.abs(got.h_n - ref.h_n))) / tol.h_n,
    )
    return {"ratio": ratio, "tol": tol.output, "conditioned": tol.conditioned,
            "tol_s": tol_s, "target_s": target_s, "peak_mb": tol_peak / 1e6}  # fmt: skip


def judge_gradients(arith: str, problem: Any) -> dict[str, Any]:
    """The largest gradient ratio over dx, dh0 and the parameters, with costs."""
    from gruverify.error_model import ARITHMETICS as ARITH
    from gruverify.error_model import ErrorModel
    from gruverify.laws.gradients import problem_cotangents

    model = ErrorModel(ARITH[arith])
    impl = _impl(arith)
    d_out, d_hn = problem_cotangents(problem, 0)
    (ref, tol), tol_s, tol_peak = _peak(lambda: model.backward(problem, impl.variant, d_out, d_hn))
    start = time.perf_counter()
    got = impl.gradients(problem, d_out, d_hn)
    target_s = time.perf_counter() - start
    gp = dict(got.dparams.named())
    pairs = [("dx", ref.dx, got.dx), ("dh0", ref.dh0, got.dh0)]
    pairs += [(k, v, gp[k]) for k, v in ref.dparams.named()]
    ratio = max(float(np.max(np.abs(np.asarray(b) - a))) / tol.gradients[k] for k, a, b in pairs)
    return {"ratio": ratio, "tol": max(tol.gradients.values()),
            "conditioned": tol.gradients_conditioned, "tol_s": tol_s, "target_s": target_s,
            "peak_mb": tol_peak / 1e6}  # fmt: skip


def run(
    quick: bool = False,
    device: str | None = None,
    runs: Sequence[tuple[str, str]] = RUNS,
    gradients: bool = True,
) -> list[Table]:
    """One row per (arithmetic, parameter kind) of ``runs`` (forward), then the float32 gradient
    row on the first problem."""
    scale = QUICK if quick else FULL
    table = Table(
        f"error model at {scale}: error / tolerance of correct GRUs (a false alarm is > 1)",
        ["arithmetic", "quantity", "params", "error / tol", "margin", "tolerance", "conditioned",
         "tolerance s", "target s", "tolerance peak MB"],
    )  # fmt: skip
    problems = {kind: _problem(scale, kind, seed=0) for kind in dict.fromkeys(k for _, k in runs)}
    rows = [("forward", a, k) for a, k in runs]
    rows += [("gradients", "float32", runs[0][1])] if gradients else []
    for quantity, arith, kind in rows:
        judge = judge_forward if quantity == "forward" else judge_gradients
        r = judge(arith, problems[kind])
        table.add(arith, quantity, kind, r["ratio"], 1.0 / r["ratio"], r["tol"],
                  r["conditioned"], r["tol_s"], r["target_s"], r["peak_mb"])  # fmt: skip
        print(" | ".join(map(str, table.rows[-1])), flush=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    table.notes.append(
        f"one layer, I = H, ordinary inputs, h0 drawn; process peak RSS {rss:.0f} MB (torch and "
        "the targets included); tolerance = the output's (forward) or the largest gradient "
        "quantity's; margin = tolerance / error"
    )
    return [table]
