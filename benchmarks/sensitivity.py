"""Benchmark 4: the sensitivity ladder, the smallest weight perturbation the checker flags.

The target is ``torch.nn.GRU`` itself (its own kernels: MKL/oneDNN on the CPU, cuDNN on CUDA) with
one block of every layer and direction scaled by ``(1 + eps)``: ``W_ir ... W_hn`` (rows of
``weight_ih_l*`` / ``weight_hh_l*``) or ``b_hn`` (rows of ``bias_hh_l*``). The scaling is applied
inside ``forward`` to the flat weights the kernel reads (``w + eps * w`` on the block's rows), so
gradients flow and the stored weights are untouched.

For each block and arithmetic, ``eps`` is bisected on a log grid (half decades, 1e-16 .. 1e-1) for
the smallest value at which ``run_checks`` (``ci`` profile, seed 0, the equivalence checks) fails;
the unperturbed module must pass. Detection is assumed monotone in ``eps`` (bisection).

The anchors' fixed tolerances run on the same drawn cases (the forward checks' cases, seed 0):
the implementation's output and ``h_n`` against the float64 reference of the same (rounded)
problem, flagged where ``|got - ref| > atol + rtol |ref|`` anywhere:

- ONNX backend tests: ``rtol = 1e-3, atol = 1e-7``;
- PyTorch's CPU-vs-cuDNN RNN test: ``atol = 5e-5`` (``rtol = 0``).

torch.autograd.gradcheck (atol 1e-5, rtol 1e-3) and jax's check_grads (1e-5 in float64, 2e-3 in
float32) compare a function's gradient with its own finite differences: a perturbed weight is
self-consistent, so they flag none of these at any ``eps`` (benchmark 2 shows this on
``PerturbedWeightBlock``).
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from benchmarks.common import Table, no_shrink

__all__ = [
    "ANCHORS",
    "BLOCKS",
    "GRID",
    "TARGETS",
    "anchor_flags",
    "checker_flags",
    "ladder",
    "perturbed_gru",
    "run",
    "target_eps",
]

BLOCKS = ("W_ir", "W_iz", "W_in", "W_hr", "W_hz", "W_hn", "b_hn")
GRID = tuple(10.0 ** (e / 2) for e in range(-32, -1))
"""1e-16, 3.2e-16, 1e-15, ..., 3.2e-2, 1e-1."""

ANCHORS = {"ONNX rtol 1e-3 atol 1e-7": (1e-3, 1e-7), "PyTorch cuDNN atol 5e-5": (0.0, 5e-5)}

FULL_CHECKS = (
    "forward[basic]", "forward[multilayer]", "forward[bidirectional]", "forward[bias=False]",
    "forward[batch_first]", "forward[unbatched]", "forward[lengths]", "gradient[output]",
    "gradient[h_n]", "gradient[output+h_n]",
)  # fmt: skip
QUICK_CHECKS = ("forward[basic]", "forward[multilayer]", "gradient[output+h_n]")


def perturbed_gru(block: str, eps: float) -> type:
    """A ``torch.nn.GRU`` subclass whose ``block`` is scaled by ``(1 + eps)`` in every layer."""
    import torch

    if block not in BLOCKS:
        raise ValueError(f"unknown block {block!r}; expected one of {BLOCKS}")
    gate = "rzn".index(block[-1])
    prefix = {"W_i": "weight_ih", "W_h": "weight_hh", "b_h": "bias_hh"}[block[:3]]

    class PerturbedGRU(torch.nn.GRU):
        def _perturb(self, name: str, w: Any) -> Any:
            if not name.startswith(prefix) or eps == 0.0:
                return w
            H = self.hidden_size
            mask = torch.zeros(w.shape[0], dtype=w.dtype, device=w.device)
            mask[gate * H : (gate + 1) * H] = eps
            return w + (w * mask.reshape(-1, *([1] * (w.dim() - 1))))

        def forward(self, input: Any, hx: Any = None) -> Any:
            self._update_flat_weights()
            saved = self._flat_weights
            self._flat_weights = [
                self._perturb(n, w) for n, w in zip(self._flat_weights_names, saved, strict=True)
            ]
            try:
                return super().forward(input, hx)
            finally:
                self._flat_weights = saved

    PerturbedGRU.__name__ = PerturbedGRU.__qualname__ = f"GRU[{block} * (1 + {eps:.1g})]"
    return PerturbedGRU


def _target(block: str, eps: float, dtype: str, device: str) -> Any:
    from gruverify.targets import TorchModuleTarget

    cls = perturbed_gru(block, eps)
    return TorchModuleTarget(cls, name=cls.__name__, device=device, dtype=dtype)


def checker_flags(
    block: str, eps: float, dtype: str, device: str, checks: Sequence[str], seed: int = 0
) -> str | None:
    """The name of the first check that fails on the perturbed GRU, or None if all pass.

    The checks run in the catalogue's order, as ``run_checks`` runs them, and stop at the first
    failure (the verdict is already "fail" there).
    """
    from gruverify.conformance.checks import CHECKS
    from gruverify.conformance.runner import run_check
    from gruverify.error_model import ErrorModel, arithmetic_for

    impl = _target(block, eps, dtype, device)
    model = ErrorModel(arithmetic_for(impl.dtype, impl.device))
    with no_shrink():
        for check in CHECKS:
            if check.name in checks:
                r = run_check(check, impl, model=model, profile="ci", seed=seed)
                if r.status in ("failed", "error"):
                    return check.name
    return None


def _anchor_law(rtol: float, atol: float) -> Callable[[Any, Any, Any], None]:
    from gruverify.core.problem import rounded
    from gruverify.laws.base import LawViolation
    from gruverify.reference.numpy_reference import gru_forward

    def law(impl: Any, problem: Any, model: Any) -> None:
        p = rounded(problem, model.arithmetic.storage)
        ref = gru_forward(p.params, p.x, p.h0, variant=impl.variant, batch_first=p.batch_first,
                          lengths=p.lengths)  # fmt: skip
        got = impl.forward(problem)
        for name, e, g in (("output", ref.output, got.output), ("h_n", ref.h_n, got.h_n)):
            excess = np.abs(np.asarray(g) - e) - (atol + rtol * np.abs(e))
            if np.size(excess) and not np.all(excess <= 0):
                raise LawViolation("fixed tolerance", f"|got - ref| <= {atol} + {rtol} |ref|",
                                   f"{name} off by {float(np.max(excess)):.3g} beyond", {},
                                   problem.describe())  # fmt: skip

    return law


def anchor_flags(
    block: str, eps: float, dtype: str, device: str, rtol: float, atol: float,
    checks: Sequence[str], seed: int = 0,
) -> bool:  # fmt: skip
    """Whether a fixed ``rtol``/``atol`` comparison fails on the forward checks' cases."""
    from gruverify.conformance.checks import CHECKS
    from gruverify.conformance.runner import run_check
    from gruverify.error_model import ErrorModel, arithmetic_for

    impl = _target(block, eps, dtype, device)
    model = ErrorModel(arithmetic_for(impl.dtype, impl.device))
    law = _anchor_law(rtol, atol)
    with no_shrink():
        for check in CHECKS:
            if check.name in checks and check.name.startswith("forward["):
                r = run_check(check, impl, model=model, profile="ci", seed=seed, law=law)
                if r.status in ("failed", "error"):
                    return True
    return False


@dataclasses.dataclass
class Rung:
    """The smallest flagged grid value (None: not flagged at 1e-1), and what flagged it."""

    eps: float | None
    by: str = ""
    evaluations: int = 0
    false_alarm: bool = False


def ladder(flags: Callable[[float], str | bool | None], grid: Sequence[float] = GRID) -> Rung:
    """Bisect ``grid`` for the smallest ``eps`` with ``flags(eps)`` truthy (monotone assumed).

    ``flags(0.0)`` truthy means the unperturbed module is already flagged: a false alarm.
    """
    n = 0

    def f(eps: float) -> str | bool | None:
        nonlocal n
        n += 1
        return flags(eps)

    if f(0.0):
        return Rung(0.0, "", n, True)
    top = f(grid[-1])
    if not top:
        return Rung(None, "", n)
    lo, hi, hit = -1, len(grid) - 1, top  # grid[hi] flagged, grid[lo] (or 0) not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        r = f(grid[mid])
        if r:
            hi, hit = mid, r
        else:
            lo = mid
    return Rung(grid[hi], hit if isinstance(hit, str) else "", n)


def _cell(r: Rung) -> str:
    if r.false_alarm:
        return "flags correct"
    return "never (<= 1e-1)" if r.eps is None else f"{r.eps:.2g}"


TARGETS = {("float64", "cpu"): 1e-8, ("float32", "cpu"): 1e-4}
"""The issue's sensitivity targets: 1e-8 or smaller in float64, 1e-4 or smaller in float32."""


def target_eps(dtype: str, device: str) -> float | None:
    """The target perturbation for an arithmetic (None where the issue sets none, e.g. TF32)."""
    return TARGETS.get((dtype, "cpu" if device == "cpu" else "cuda"))


def _checker_at(
    block: str, dtype: str, device: str, checks: Sequence[str], eps: float
) -> str | None:
    return checker_flags(block, eps, dtype, device, checks)


def _anchor_at(
    block: str, dtype: str, device: str, rtol: float, atol: float, checks: Sequence[str],
    eps: float,
) -> bool:  # fmt: skip
    return anchor_flags(block, eps, dtype, device, rtol, atol, checks)


def measure(
    dtypes: Sequence[tuple[str, str]], blocks: Sequence[str], checks: Sequence[str],
    grid: Sequence[float] = GRID, anchors: bool = True,
) -> list[dict[str, Any]]:  # fmt: skip
    """One row per (arithmetic, block): the checker's rung and each anchor's."""
    rows = []
    for dtype, device in dtypes:
        for block in blocks:
            row: dict[str, Any] = {"dtype": dtype, "device": device, "block": block}
            checker = functools.partial(_checker_at, block, dtype, device, tuple(checks))
            row["gruverify"] = ladder(checker, grid)
            goal = target_eps(dtype, device)
            # bisection assumes monotone detection: confirm the target value directly
            row["at target"] = None if goal is None else checker(goal)
            if anchors:
                for label, (rtol, atol) in ANCHORS.items():
                    anchor = functools.partial(
                        _anchor_at, block, dtype, device, rtol, atol, tuple(checks)
                    )
                    row[label] = ladder(anchor, grid)
            rows.append(row)
    return rows


def run(quick: bool = False, device: str | None = None) -> list[Table]:
    """The ladder in float64 and float32 on the CPU, plus TF32 (float32 on CUDA) with --device cuda."""
    dtypes = [("float64", "cpu"), ("float32", "cpu")]
    if device == "cuda":
        dtypes.append(("float32", "cuda"))
    checks = QUICK_CHECKS if quick else FULL_CHECKS
    with warnings.catch_warnings():
        # the perturbed flat weights are not one contiguous cuDNN buffer; cuDNN copies them
        warnings.filterwarnings("ignore", message=".*contiguous chunk of memory.*")
        rows = measure(dtypes, BLOCKS, checks)
    from gruverify.error_model import arithmetic_for

    table = Table(
        "4. sensitivity ladder: smallest relative perturbation eps of one block flagged",
        ["arithmetic", "block", "gruverify check", "flagged by", "flagged at target eps", *ANCHORS],
    )
    worst: dict[str, float] = {}
    for r in rows:
        arith = arithmetic_for(r["dtype"], r["device"]).name + f" ({r['device']})"
        g: Rung = r["gruverify"]
        goal = target_eps(r["dtype"], r["device"])
        at = "-" if goal is None else f"{goal:.0e}: " + ("yes" if r["at target"] else "NO")
        table.add(arith, r["block"], _cell(g), g.by, at, *(_cell(r[a]) for a in ANCHORS))
        key = arith
        worst[key] = max(worst.get(key, 0.0), np.inf if g.eps is None else g.eps)
    targets = {"float64 (cpu)": TARGETS[("float64", "cpu")],
               "float32 (cpu)": TARGETS[("float32", "cpu")]}  # fmt: skip
    for arith, w in worst.items():
        goal = targets.get(arith)
        verdict = "" if goal is None else (
            f" (target <= {goal:.0e}: {'met' if w <= goal else 'NOT met'})"
        )  # fmt: skip
        table.notes.append(f"{arith}: every block flagged at eps <= {w:.2g}{verdict}")
    table.notes.append(
        f"grid: half decades 1e-16 .. 1e-1; checks: {', '.join(checks)} (ci profile, seed 0); "
        "anchors: the forward checks' cases, output and h_n vs the float64 reference"
    )
    table.notes.append(
        "gradcheck / check_grads compare a function with itself: they flag no perturbed weight"
    )
    return [table]
