"""Benchmark: the error model at production size, hidden 1024, 512 steps, batch 64 (issue 13).

For each arithmetic (float32, TF32 emulated on the CPU, float16, bfloat16) a correct GRU in that
arithmetic (the torch reference in that dtype; TF32: ``reference.emulation.Tf32Reference``) runs
problems of that size (one layer, ``I = H``, parameter kinds as named), and the error model
judges its outputs: the figure is ``max |got - ref| / tolerance`` for the outputs and ``h_n`` (a
false alarm is a ratio above 1; the margin is its inverse). The model is the one the checker
applies to torch's kernels (``arithmetic``: TF32, float16 and bfloat16 with their float32
accumulator, ``Arithmetic.accumulator``), or with ``accumulator=False`` the conservative one
(accumulation in the format itself). With ``planted`` the same target also runs the problem with
``weight_hh`` (all three gate blocks) times ``1 + delta`` for each delta, judged by the same tolerance (a
ratio above 1 is flagged). With ``gradients`` the float32 gradient tolerance is judged the same way
on the first problem (dx, dh0, every parameter). Each row gives the seconds of the tolerance and of
the target, and the peak memory of the tolerance (``tracemalloc``: numpy's allocations) and of the
whole process (``ru_maxrss``).

Heavy: about an hour on two loaded cores for the default (two problems, four arithmetics,
float32 gradients); ``quick`` runs the same at hidden 256, 128 steps, batch 16. Run niced. Rows
one by one, e.g. the low-precision forward rows with the planted change::

    python -m benchmarks.scale_calibration --rows tf32 float16 bfloat16 --no-gradients --planted 1e-4 1e-3
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


def arithmetic(arith: str, accumulator: bool = True) -> Any:
    """The error model's arithmetic for a correct GRU in ``arith`` (float32, tf32, float16,
    bfloat16): torch's on the CPU (``core.arithmetic.arithmetic_for``; TF32: ``TORCH_TF32``, as
    on CUDA), which declares a float32 accumulator for TF32, float16 and bfloat16; with
    ``accumulator`` False the undeclared one (``ARITHMETICS[arith]``)."""
    from gruverify.core.arithmetic import ARITHMETICS as ARITH
    from gruverify.core.arithmetic import TORCH_TF32, arithmetic_for

    if not accumulator:
        return ARITH[arith]
    return TORCH_TF32 if arith == "tf32" else arithmetic_for(arith)


def planted_problem(problem: Any, delta: float) -> Any:
    """``problem`` with torch's ``weight_hh`` of layer 0 (W_hr, W_hz, W_hn) times ``1 + delta``."""
    c = problem.params.cell(0, 0)
    cell = c.replace(
        W_hr=c.W_hr * (1 + delta), W_hz=c.W_hz * (1 + delta), W_hn=c.W_hn * (1 + delta)
    )
    return dataclasses.replace(problem, params=problem.params.replace_cell(0, 0, cell))


def _ratio(got: Any, ref: Any, tol: Any) -> float:
    out = float(np.max(np.abs(got.output - ref.output))) / float(tol.output)
    return max(out, float(np.max(np.abs(got.h_n - ref.h_n))) / float(tol.h_n))


def judge_forward(
    arith: str, problem: Any, accumulator: bool = True, planted: Sequence[float] = ()
) -> dict[str, Any]:
    """The forward ratio of a correct GRU in ``arith`` on ``problem`` (the model of
    ``arithmetic(arith, accumulator)``), with costs; ``planted``: for each ``delta`` the ratio
    of the same GRU on ``planted_problem(problem, delta)`` against the same tolerance."""
    from gruverify.error_model import ErrorModel

    model = ErrorModel(arithmetic(arith, accumulator))
    impl = _impl(arith)
    (ref, tol), tol_s, tol_peak = _peak(lambda: model.forward(problem, impl.variant))
    start = time.perf_counter()
    got = impl.forward(problem)
    target_s = time.perf_counter() - start
    bad = [_ratio(impl.forward(planted_problem(problem, d)), ref, tol) for d in planted]
    return {"ratio": _ratio(got, ref, tol), "tol": tol.output, "conditioned": tol.conditioned,
            "scale": tol.output_scale, "tol_s": tol_s, "target_s": target_s,
            "peak_mb": tol_peak / 1e6, "planted": bad}  # fmt: skip


def judge_gradients(arith: str, problem: Any) -> dict[str, Any]:
    """The largest gradient ratio over dx, dh0 and the parameters, with costs."""
    from gruverify.error_model import ErrorModel
    from gruverify.laws.gradients import problem_cotangents

    model = ErrorModel(arithmetic(arith, accumulator=False))
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
    accumulator: bool = True,
    planted: Sequence[float] = (),
) -> list[Table]:
    """One row per (arithmetic, parameter kind) of ``runs`` (forward), then the float32 gradient
    row on the first problem (``judge_forward``'s ``accumulator`` and ``planted``)."""
    scale = QUICK if quick else FULL
    table = Table(
        f"error model at {scale}: error / tolerance of correct GRUs (a false alarm is > 1)",
        ["arithmetic", "quantity", "params", "error / tol", "margin", "tolerance", "conditioned",
         "output scale", *(f"planted {d:g} / tol" for d in planted), "tolerance s",
         "target s", "tolerance peak MB"],
    )  # fmt: skip
    problems = {kind: _problem(scale, kind, seed=0) for kind in dict.fromkeys(k for _, k in runs)}
    rows = [("forward", a, k) for a, k in runs]
    rows += [("gradients", "float32", runs[0][1])] if gradients else []
    for quantity, arith, kind in rows:
        if quantity == "forward":
            r = judge_forward(arith, problems[kind], accumulator, planted)
        else:
            r = judge_gradients(arith, problems[kind])
        name = str(arithmetic(arith, accumulator and quantity == "forward"))
        table.add(name, quantity, kind, r["ratio"], 1.0 / r["ratio"], r["tol"],
                  r["conditioned"], r.get("scale", ""), *r.get("planted", [""] * len(planted)), r["tol_s"],
                  r["target_s"], r["peak_mb"])  # fmt: skip
        print(" | ".join(map(str, table.rows[-1])), flush=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    table.notes.append(
        f"one layer, I = H, ordinary inputs, h0 drawn; process peak RSS {rss:.0f} MB (torch and "
        "the targets included); tolerance = the output's (forward) or the largest gradient "
        "quantity's; margin = tolerance / error; conditioned: tolerance <= 5% of max(1, output "
        "scale); planted: weight_hh times 1 + delta, flagged when above 1"
    )
    return [table]


def _row(text: str) -> tuple[str, str]:
    """``"tf32"`` -> ``("tf32", "ordinary")``, ``"float32:chrono"`` -> ``("float32", "chrono")``."""
    arith, _, kind = text.partition(":")
    return arith, kind or "ordinary"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m benchmarks.scale_calibration``: chosen rows of ``run``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale_calibration")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK} instead of {FULL}")
    parser.add_argument(
        "--rows",
        nargs="+",
        metavar="ARITH[:KIND]",
        help="forward rows, e.g. tf32 float16 float32:chrono (default: all)",
    )
    parser.add_argument("--no-gradients", action="store_true", help="no float32 gradient row")
    parser.add_argument(
        "--undeclared",
        action="store_true",
        help="judge without the float32 accumulator (accumulation in the format)",
    )
    parser.add_argument(
        "--planted",
        type=float,
        nargs="+",
        default=(),
        metavar="DELTA",
        help="also judge weight_hh times 1 + DELTA (each DELTA)",
    )
    args = parser.parse_args(argv)  # fmt: skip
    runs = RUNS if not args.rows else [_row(r) for r in args.rows]
    for arith, _ in runs:
        if arith not in ARITHMETICS:
            parser.error(f"unknown arithmetic {arith!r}; expected one of {ARITHMETICS}")
    import torch

    torch.set_num_threads(1)
    tables = run(args.quick, None, runs, not args.no_gradients, not args.undeclared, args.planted)
    for t in tables:
        print(t.markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
