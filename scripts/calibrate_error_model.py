"""Calibrate the error model: observed error / tolerance of correct low-precision computations, and
the same ratio for a planted 1e-4 (float32) / 1e-8 (float64) change of weight_hh.

Usage: PYTHONPATH=. python scripts/calibrate_error_model.py [N_CASES] [SEED]

For each dtype it draws N_CASES problems with gruverify.strategies.make_case (every parameter and
input kind, random configurations), runs the torch reference in that dtype (TF32: the emulated
reference of gruverify.reference.emulation) and prints the distribution of error / tolerance for the outputs,
h_n and every gradient quantity (a false alarm is a ratio above 1), the fraction of problems that
are chaotic at that precision (Tolerance.conditioned False), and the detection ratio of the planted
perturbation (a miss is a ratio at most 1). Gradients are judged on the problems with T <= 33;
"judged max" is the largest gradient ratio on those whose gradient tolerance the checker would
judge (``Tolerance.gradients_conditioned``; the others are inconclusive there).
"""

from __future__ import annotations

import dataclasses
import sys
import time

import numpy as np

from gruverify.core.arithmetic import TORCH_TF32, arithmetic_for
from gruverify.core.problem import Implementation, Problem
from gruverify.error_model import ARITHMETICS, ErrorModel
from gruverify.laws.gradients import problem_cotangents
from gruverify.reference.emulation import Tf32Reference
from gruverify.reference.implementations import TorchReference
from gruverify.strategies import INPUT_KINDS, PARAM_KINDS, Config, make_case


def random_config(rng: np.random.Generator) -> Config:
    T = int(rng.choice([1, 2, 5, 17, 33, 101, 130]))
    bi = bool(rng.integers(2))
    L = int(rng.integers(1, 1 + max(1, min(3, 400 // (T * (2 if bi else 1))))))
    batched = bool(rng.integers(4))
    return Config(
        steps=T,
        batch=int(rng.integers(1, 6)) if batched else None,
        input_size=int(rng.choice([1, 3, 7, 9, 17, 33])),
        hidden_size=int(rng.choice([1, 2, 5, 8, 15, 33])),
        num_layers=L,
        bidirectional=bi,
        bias=bool(rng.integers(4)),
        batch_first=bool(rng.integers(2)) and batched,
        initial_state=bool(rng.integers(2)),
        padded=bool(rng.integers(2)) and batched,
    )


def scale_weight_hh(problem: Problem, factor: float) -> Problem:
    """torch's weight_hh of layer 0, all three gate blocks (W_hr, W_hz, W_hn), times ``factor``."""
    c = problem.params.cell(0, 0)
    cell = c.replace(W_hr=c.W_hr * factor, W_hz=c.W_hz * factor, W_hn=c.W_hn * factor)
    return dataclasses.replace(problem, params=problem.params.replace_cell(0, 0, cell))


def ratios(
    impl: Implementation, model: ErrorModel, problem: Problem, run: Problem
) -> dict[str, float]:
    ref, tol = model.forward(problem, impl.variant)
    got = impl.forward(run)
    out = {
        "conditioned": float(tol.conditioned),
        "output": float(np.max(np.abs(got.output - ref.output))) / tol.output,
        "h_n": float(np.max(np.abs(got.h_n - ref.h_n))) / tol.h_n,
    }
    return out


def grad_ratio(impl: Implementation, model: ErrorModel, problem: Problem) -> tuple[float, bool]:
    """The largest gradient error / tolerance over every quantity, and whether the checker would
    judge it (``Tolerance.gradients_conditioned``: else the case is inconclusive)."""
    d_out, d_hn = problem_cotangents(problem, 0)
    ref, tol = model.backward(problem, impl.variant, d_out, d_hn)
    got = impl.gradients(problem, d_out, d_hn)
    pairs = [("dx", ref.dx, got.dx)]
    if problem.h0 is not None:  # h0=None: no initial state to differentiate
        pairs.append(("dh0", ref.dh0, got.dh0))
    gp = dict(got.dparams.named())
    # a stack without biases has none to differentiate (torch.nn.GRU(bias=False) reports none)
    pairs += [
        (k, v, gp[k]) for k, v in ref.dparams.named() if problem.params.bias or ".b_" not in k
    ]
    ratio = max(
        float(np.max(np.abs(np.asarray(b) - a))) / tol.gradients[k] if a.size else 0.0
        for k, a, b in pairs
    )
    return ratio, tol.gradients_conditioned


def nn_gru(dtype: str) -> Implementation:
    """torch.nn.GRU on the CPU in ``dtype`` (the checker's default target): torch's fused kernels,
    whose roundings differ from the explicit reference's."""
    from gruverify.targets.resolve import resolve_target

    return resolve_target("torch-gru", dtype=dtype)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(n):
        cfg = random_config(rng)
        cases.append(
            make_case(cfg, PARAM_KINDS[i % 4], INPUT_KINDS[(i // 4) % 3], int(rng.integers(2**31)))
        )
    impls: list[tuple[str, Implementation, ErrorModel]] = [
        ("float32", TorchReference(dtype="float32"), ErrorModel(ARITHMETICS["float32"])),
        ("tf32 (emulated)", Tf32Reference(), ErrorModel(ARITHMETICS["tf32"])),
        ("float16", TorchReference(dtype="float16"), ErrorModel(ARITHMETICS["float16"])),
        ("bfloat16", TorchReference(dtype="bfloat16"), ErrorModel(ARITHMETICS["bfloat16"])),
        ("tf32 +f32 acc", Tf32Reference(), ErrorModel(TORCH_TF32)),
        (
            "float16 +f32 acc",
            TorchReference(dtype="float16"),
            ErrorModel(arithmetic_for("float16")),
        ),
        (
            "bfloat16 +f32 acc",
            TorchReference(dtype="bfloat16"),
            ErrorModel(arithmetic_for("bfloat16")),
        ),
        ("nn.GRU float16", nn_gru("float16"), ErrorModel(arithmetic_for("float16"))),
        ("nn.GRU bfloat16", nn_gru("bfloat16"), ErrorModel(arithmetic_for("bfloat16"))),
    ]
    print(f"{n} problems, seed {seed}; ratio = max abs error / tolerance (a false alarm is > 1)")
    print(
        f"{'arithmetic':18} {'chaotic':>8} {'fwd median':>11} {'fwd max':>8} {'grad median':>12} {'grad max':>9} {'judged max':>11}"
    )
    for name, impl, model in impls:
        t0 = time.time()
        fwd, grd, judged, chaotic = [], [], [0.0], 0
        for c in cases:
            r = ratios(impl, model, c.problem, c.problem)
            if not r["conditioned"]:
                chaotic += 1
                continue
            fwd.append(max(r["output"], r["h_n"]))
            if c.config.steps <= 33:
                g, conditioned = grad_ratio(impl, model, c.problem)
                grd.append(g)
                judged += [g] if conditioned else []
        print(
            f"{name:18} {chaotic:>4}/{n:<3} {np.median(fwd):11.3g} {np.max(fwd):8.3g} "
            f"{np.median(grd):12.3g} {np.max(grd):9.3g} {max(judged):11.3g}   ({time.time() - t0:.0f} s)"
        )
    print("planted weight_hh * (1 + delta): detection ratio (a miss is <= 1)")
    for dtype, delta in (("float32", 1e-4), ("float64", 1e-8)):
        impl = TorchReference(dtype=dtype)
        model = ErrorModel(ARITHMETICS[dtype])
        det, det_ord = [], []
        for c in cases:
            r = ratios(impl, model, c.problem, scale_weight_hh(c.problem, 1.0 + delta))
            if r["conditioned"]:
                det.append(max(r["output"], r["h_n"]))
                if (
                    c.input_kind == "ordinary"
                    and c.param_kind != "saturating"
                    and c.config.steps > 1
                ):
                    det_ord.append(det[-1])
        for label, vals in (("all kinds", det), ("ordinary inputs, unsaturated, T > 1", det_ord)):
            a = np.array(vals)
            print(
                f"{dtype} delta {delta:g}, {label}: median {np.median(a):.3g}, "
                f"min {np.min(a):.3g}, missed {int(np.sum(a <= 1))}/{len(a)}"
            )


if __name__ == "__main__":
    main()
