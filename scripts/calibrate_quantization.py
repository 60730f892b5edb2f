"""Calibrate the declared quantization: error / tolerance of torch.ao's dynamic int8 GRU.

Usage: PYTHONPATH=. python scripts/calibrate_quantization.py [N_CASES] [SEED]

Draws N_CASES problems with gruverify.strategies.make_case (every parameter and input kind; T up to
33, up to 2 layers, both directions, padded batches; biases always, as torch.ao's from_float needs
them) and runs the ``torch-dynamic-int8`` target (its quantization declared, its effective weights
handed over). For each it prints nothing; at the end, over the problems the checker would judge
(``Tolerance.conditioned``), the worst and median error / tolerance of ``output`` and ``h_n`` (a
false alarm is above 1) and how many were chaotic (inconclusive). Then the same problems judged
without the declaration (plain float32): how many a checker would fail, the worst ratio. Then a
planted error: every weight of ``weight_hh``'s update-gate block (W_hz) of layer 0 moved by ``k``
weight quantization steps (``s = max |weight_hh| / 127.5``) in the target's effective weights only
(the reference keeps the correct ones): the smallest ``k`` flagged on each observable problem.
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
import time

import numpy as np

from gruverify.core.params import StackParams
from gruverify.core.problem import Problem
from gruverify.error_model import ErrorModel, compare, default_model
from gruverify.strategies import INPUT_KINDS, PARAM_KINDS, Config, make_case
from gruverify.targets.torch_quantized import TorchDynamicInt8Target

PLANTED_STEPS = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


def random_config(rng: np.random.Generator) -> Config:
    T = int(rng.choice([1, 2, 5, 17, 33]))
    batched = True
    B = int(rng.integers(1, 6))
    return Config(
        steps=T, batch=B if batched else None, input_size=int(rng.choice([1, 3, 7, 9, 17, 33])),
        hidden_size=int(rng.choice([1, 2, 5, 8, 15, 33])), num_layers=int(rng.integers(1, 3)),
        bidirectional=bool(rng.integers(2)), bias=True, batch_first=bool(rng.integers(2)),
        initial_state=bool(rng.integers(2)), padded=bool(rng.integers(2)),
    )  # fmt: skip


def ratio(model: ErrorModel, problem: Problem, got: object) -> tuple[float, bool]:
    """The larger of output's and h_n's error / tolerance, and whether the problem is judged."""
    ref, tol = model.forward(problem, "reset_after")
    r = max(
        compare("output", ref.output, got.output, tol.output).error / tol.output,  # type: ignore[attr-defined]
        compare("h_n", ref.h_n, got.h_n, tol.h_n).error / tol.h_n,  # type: ignore[attr-defined]
    )
    return r, tol.conditioned


def planted_target(target: TorchDynamicInt8Target, steps: float) -> ErrorModel:
    """The declared model of ``target`` whose reference runs on the correct effective weights,
    for a target whose own W_hz (layer 0) is ``steps`` weight steps off (``shifted``)."""
    return default_model(target)


def shifted(params: StackParams, eff: StackParams, steps: float) -> StackParams:
    """``eff`` with layer 0's W_hz moved by ``steps`` steps of weight_hh's per-tensor grid."""
    c, e = params.cell(0, 0), eff.cell(0, 0)
    s = max(float(np.max(np.abs(getattr(c, n)))) for n in ("W_hr", "W_hz", "W_hn")) / 127.5
    return eff.replace_cell(0, 0, e.replace(W_hz=e.W_hz + steps * s))


def smallest_flagged(target: TorchDynamicInt8Target, model: ErrorModel, problem: Problem) -> float:
    """The smallest planted shift (in weight steps) whose run is flagged, inf if none is."""
    from gruverify.reference import numpy_reference as nr

    eff = target.effective_params(problem.params)
    ref, tol = model.forward(problem, "reset_after")
    exact = model.reference_problem(problem)
    base = nr.stack_forward(nr.gru_step, exact.params, exact.x, exact.h0, "reset_after",
                            exact.batch_first, exact.lengths, traces=False)  # fmt: skip
    got = target.forward(problem)
    drift = np.max(np.abs(np.asarray(got.output) - base.output), initial=0.0)
    for k in PLANTED_STEPS:
        bad = nr.stack_forward(
            nr.gru_step,
            shifted(problem.params, eff, k),
            exact.x,
            exact.h0,
            "reset_after",
            exact.batch_first,
            exact.lengths,
            traces=False,
        )
        # the target's own quantization error on top of the planted change
        moved = np.asarray(bad.output) + (np.asarray(got.output) - base.output)
        if compare("output", ref.output, moved, tol.output).error > tol.output:
            return k
    del drift
    return float("inf")


def main(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    declared, plain = TorchDynamicInt8Target(), TorchDynamicInt8Target(declare=False)
    m_decl, m_plain = default_model(declared), default_model(plain)
    judged, chaotic, failed_plain, worst_plain, flagged = [], 0, 0, 0.0, []
    start = time.monotonic()
    for i in range(n):
        case = make_case(
            random_config(rng),
            str(rng.choice(PARAM_KINDS)),  # type: ignore[arg-type]
            str(rng.choice(INPUT_KINDS)),
            int(rng.integers(1 << 30)),
        )  # type: ignore[arg-type]
        problem = case.problem
        got = declared.forward(problem)
        r, ok = ratio(m_decl, problem, got)
        if not ok:
            chaotic += 1
            continue
        judged.append(r)
        rp, okp = ratio(m_plain, problem, got)
        if okp and rp > 1:
            failed_plain += 1
        worst_plain = max(worst_plain, rp)
        if case.param_kind == "ordinary" and case.input_kind == "ordinary" and problem.steps > 1:
            flagged.append(smallest_flagged(declared, m_decl, problem))
        del i
    print(f"torch-dynamic-int8, {n} problems, seed {seed}, {time.monotonic() - start:.0f} s")
    print(f"  declared: judged {len(judged)}, chaotic {chaotic}; error/tolerance worst "
          f"{max(judged):.3g}, median {statistics.median(judged):.3g}, above 1: "
          f"{sum(r > 1 for r in judged)}")  # fmt: skip
    print(f"  undeclared (plain float32): failed {failed_plain} of {len(judged)}, worst ratio "
          f"{worst_plain:.3g}")  # fmt: skip
    found = [k for k in flagged if np.isfinite(k)]
    print(
        f"  planted W_hz shift (weight steps), {len(flagged)} observable problems: flagged "
        f"{len(found)}; smallest k flagged: median "
        f"{statistics.median(flagged) if flagged else float('nan'):.3g}, per k: "
        + ", ".join(f"{k:g}: {sum(f <= k for f in flagged)}" for k in PLANTED_STEPS)
    )


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 40, int(sys.argv[2]) if len(sys.argv) > 2 else 0
    )
