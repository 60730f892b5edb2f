"""Calibrate the declared quantization: error / tolerance of a quantized GRU target.

Usage: PYTHONPATH=. python scripts/calibrate_quantization.py [N_CASES] [SEED] [TARGET]

TARGET: ``torch-dynamic-int8`` (the default) or ``tflite-dynamic-int8`` (run in .venv-tf with
KERAS_BACKEND=tensorflow; its sizes are drawn larger, input and hidden sizes from 9 to 64, so that
most problems have int8 weights: TFLite quantizes a weight tensor of 1024+ elements only; the
count with any int8 weight is printed; no planted part).

Draws N_CASES problems with gruverify.strategies.make_case (every parameter and input kind; T up to
33, up to 2 layers, both directions, padded batches; biases always, as torch.ao's from_float needs
them) and runs the ``torch-dynamic-int8`` target (its quantization declared, its effective weights
handed over). For each it prints nothing; at the end, over the problems the checker would judge
(``Tolerance.conditioned``, no gate the quantization can flip), the worst and median error /
tolerance of ``output`` and ``h_n`` (a false alarm is above 1) and how many were inconclusive.
Then the same problems judged without the declaration (plain float32): how many a checker would
fail, the worst ratio. Then a planted error on the first 60 judged observable problems (each
drawn configuration with ordinary weights and inputs, T > 1): every weight of layer 0's update-gate recurrent block (W_hz) moved by ``k`` weight
quantization steps in ``zoo.quantized.QuantizedGRU`` declared but not handing over its weights
or handing them over while its kernel uses the shifted ones (a bug in the weights it stores is
flagged by ``law_effective_weights`` beyond one step, by construction): the smallest ``k`` the
forward law flags on each problem, both ways.
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any

import numpy as np

from gruverify.core.problem import Outputs, Problem
from gruverify.error_model import ErrorModel, Inconclusive, compare, default_model
from gruverify.laws.base import LawViolation
from gruverify.laws.equivalence import law_forward_equivalence
from gruverify.strategies import INPUT_KINDS, PARAM_KINDS, Config, make_case
from gruverify.targets.torch_quantized import TorchDynamicInt8Target
from gruverify.zoo.quantized import QuantizedGRU

PLANTED_STEPS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
PLANTED_PROBLEMS = 60
PLANTED_BLOCKS = ("W_hz", "W_in")


SIZES = {
    "torch-dynamic-int8": ((1, 3, 7, 9, 17, 33), (1, 2, 5, 8, 15, 33)),
    "tflite-dynamic-int8": ((9, 17, 33, 64), (15, 24, 33, 64)),
}
"""Per target: the input sizes and hidden sizes drawn."""


def make_target(name: str, declare: bool) -> Any:
    if name == "tflite-dynamic-int8":
        from gruverify.targets.tflite_quantized import TFLiteDynamicInt8Target

        return TFLiteDynamicInt8Target(declare=declare)
    return TorchDynamicInt8Target(declare=declare)


def random_config(rng: np.random.Generator, target: str = "torch-dynamic-int8") -> Config:
    T = int(rng.choice([1, 2, 5, 17, 33]))
    batched = True
    B = int(rng.integers(1, 6))
    inputs, hidden = SIZES[target]
    return Config(
        steps=T, batch=B if batched else None, input_size=int(rng.choice(inputs)),
        hidden_size=int(rng.choice(hidden)), num_layers=int(rng.integers(1, 3)),
        bidirectional=bool(rng.integers(2)), bias=True, batch_first=bool(rng.integers(2)),
        initial_state=bool(rng.integers(2)), padded=bool(rng.integers(2)),
    )  # fmt: skip


def ratio(model: ErrorModel, problem: Problem, got: Outputs) -> tuple[float, bool]:
    """The larger of output's and h_n's error / tolerance, and whether the checker would judge the
    problem (conditioned, no gate the quantization can flip)."""
    ref, tol = model.forward(problem, "reset_after")
    r = max(
        compare("output", ref.output, got.output, tol.output).error / tol.output,
        compare("h_n", ref.h_n, got.h_n, tol.h_n).error / tol.h_n,
    )
    return r, tol.conditioned and model.quantization_flip(problem, "reset_after") is None


def smallest_flagged(problem: Problem, hand_over: bool, block: str) -> float:
    """The smallest shift of layer 0's W_hz, in weight steps (``PLANTED_STEPS``), that the forward
    law flags in ``zoo.quantized.QuantizedGRU(hand_over=...)`` (the kernel's shift, not in its
    effective weights); inf when none is, NaN when the problem is inconclusive."""
    for k in PLANTED_STEPS:
        impl = QuantizedGRU(hand_over=hand_over, weight_shift=k, shift_block=block)
        try:
            law_forward_equivalence(impl, problem, default_model(impl))
        except Inconclusive:
            return float("nan")
        except LawViolation:
            return k
    return float("inf")


def main(n: int, seed: int, target: str = "torch-dynamic-int8") -> None:
    rng = np.random.default_rng(seed)
    declared, plain = make_target(target, True), make_target(target, False)
    planted = target == "torch-dynamic-int8"
    quantized = 0
    m_decl, m_plain = default_model(declared), default_model(plain)
    judged: list[float] = []
    worst: list[tuple[float, str]] = []
    flagged: dict[tuple[str, bool], list[float]] = {
        (b, h): [] for b in PLANTED_BLOCKS for h in (True, False)
    }
    chaotic = failed_plain = judged_plain = 0
    start = time.monotonic()
    for i in range(n):
        if i and i % 10 == 0:
            median = statistics.median(judged) if judged else float("nan")
            print(f"  {i} drawn ({quantized} with a changed weight), {len(judged)} judged, "
                  f"error/tolerance worst {max(judged, default=0):.3g}, median {median:.3g}, "
                  f"undeclared failed {failed_plain} of {judged_plain}, "
                  f"{time.monotonic() - start:.0f} s", flush=True)  # fmt: skip
        config = random_config(rng, target)
        kinds = str(rng.choice(PARAM_KINDS)), str(rng.choice(INPUT_KINDS))
        case = make_case(config, kinds[0], kinds[1], int(rng.integers(1 << 30)))  # type: ignore[arg-type]
        problem = case.problem
        got = declared.forward(problem)
        eff = declared.effective_params(problem.params)
        # a weight moved by more than float32 rounding (biases stay float)
        quantized += any(
            not np.allclose(a, b, rtol=1e-6, atol=0.0)
            for (name, a), (_, b) in zip(eff.named(), problem.params.named(), strict=True)
            if ".W_" in name
        )
        r, ok = ratio(m_decl, problem, got)
        rp, okp = ratio(m_plain, problem, got)
        judged_plain += okp
        failed_plain += okp and rp > 1
        if not ok:
            chaotic += 1
            continue
        judged.append(r)
        worst.append((r, f"{case.param_kind}/{case.input_kind} {problem.describe()}"))
        if (
            planted and len(flagged["W_hz", True]) < PLANTED_PROBLEMS and config.steps > 1
        ):  # observable
            observable = make_case(config, "ordinary", "ordinary", case.seed).problem
            for (block, hand_over), found in flagged.items():
                k = smallest_flagged(observable, hand_over, block)
                if not np.isnan(k):
                    found.append(k)
    print(f"{target}, {n} problems ({quantized} with a weight the target changed), seed {seed}, "
          f"{time.monotonic() - start:.0f} s")  # fmt: skip
    print(f"  declared: judged {len(judged)}, inconclusive {chaotic}; error/tolerance worst "
          f"{max(judged):.3g}, median {statistics.median(judged):.3g}, above 1: "
          f"{sum(r > 1 for r in judged)}")  # fmt: skip
    for r, what in sorted(worst, reverse=True)[:3]:
        print(f"    {r:.3g}: {what}")
    print(f"  undeclared (plain float32): judged {judged_plain}, failed {failed_plain}")
    for (block, hand_over), found in flagged.items() if planted else ():
        how = f"{block}, effective weights handed over" if hand_over else f"{block}, declared only"
        median = statistics.median(found) if found else float("nan")
        print(f"  planted shift ({how}), {len(found)} observable problems: smallest k "
              f"flagged, median {median:g} steps; flagged at k <= " + ", ".join(
                  f"{k:g}: {sum(f <= k for f in found)}" for k in PLANTED_STEPS))  # fmt: skip


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 40,
        int(sys.argv[2]) if len(sys.argv) > 2 else 0,
        sys.argv[3] if len(sys.argv) > 3 else "torch-dynamic-int8",
    )
