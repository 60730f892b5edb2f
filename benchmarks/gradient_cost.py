"""Benchmark 2: the cost of one gradient verdict, gruverify vs torch.autograd.gradcheck.

Both judge the same nn.GRU-shaped module (float64, CPU) on the same configuration and data:

- **gruverify**: one example of the ``gradient[output+h_n]`` check, i.e. one call of
  ``law_gradient_equivalence(impl, problem, ErrorModel(float64), on="both")``: the target runs one
  forward and one backward pass for ``L = sum(d_out * output) + sum(d_hn * h_n)`` with random
  cotangents, and every gradient (``dx``, ``dh0``, each parameter block) is compared with the
  float64 reference's analytic gradient within the error model's tolerance. The time includes the
  reference's backward pass and its perturbed draws.
- **gradcheck slow**: ``torch.autograd.gradcheck(f, (x, h0, *params))`` with ``f`` returning
  ``(output, h_n)``: two forward evaluations per input entry (central differences) and one
  backward pass per output entry (the full Jacobian both ways).
- **gradcheck fast** (``fast_mode=True``): one random projection of the Jacobian each way.
- **gradcheck on L**: slow mode on the scalar ``L`` itself (the loss gruverify differentiates).

Evaluations are counted, not derived: ``f`` forward calls (a forward pre-hook on the module) and
backward passes (calls of ``torch.autograd.grad``). A verdict "caught" the module when gradcheck
returned False or raised, or when the law raised ``LawViolation``.

Planted gradient-only bugs (forward exact; ``gruverify.zoo.mutants``): ``BackwardDropsUpdateGatePath``
(dz/dh dropped), ``DetachedFinalState`` (h_n detached), ``MiddleLayerGradientScaled`` (layer 1
gradients halved, 3 layers). Rows for correct modules show that neither raises a false alarm, and
``PerturbedWeightBlock`` (a forward bug) shows what a self-consistency check cannot see.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from benchmarks.common import Table, median_time

__all__ = ["CONFIGS", "MODULES", "Config", "Verdict", "gradcheck_verdict",
           "gruverify_verdict", "make_problem", "run"]  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Config:
    """An nn.GRU configuration and its data size (time-major, bias, h0 given)."""

    T: int
    B: int
    I: int
    H: int
    L: int = 1

    def __str__(self) -> str:
        return f"T{self.T} B{self.B} I{self.I} H{self.H} L{self.L}"


CONFIGS = (Config(6, 2, 3, 4, 1), Config(5, 2, 3, 4, 3), Config(10, 4, 8, 16, 1))
QUICK_CONFIGS = CONFIGS[:2]

MODULES = (
    "torch.nn.GRU",
    "ZooGRU",
    "BackwardDropsUpdateGatePath",
    "DetachedFinalState",
    "MiddleLayerGradientScaled",
    "PerturbedWeightBlock",
)
BUGGY = {"BackwardDropsUpdateGatePath", "DetachedFinalState", "MiddleLayerGradientScaled"}


def module_class(name: str) -> Any:
    import torch

    from gruverify.zoo import ZooGRU, mutants

    if name == "torch.nn.GRU":
        return torch.nn.GRU
    if name == "ZooGRU":
        return ZooGRU
    return getattr(mutants, name)


def applies(name: str, config: Config) -> bool:
    """MiddleLayerGradientScaled only has its bug with 3 or more layers."""
    return name != "MiddleLayerGradientScaled" or config.L >= 3


def make_problem(config: Config, seed: int = 0) -> Any:
    """A float64 problem: torch-initialised weights, standard-normal input, h0 in [-1, 1]."""
    from gruverify.core.params import random_gru_params
    from gruverify.core.problem import Problem

    rng = np.random.default_rng(seed)
    params = random_gru_params(config.I, config.H, config.L, False, True, rng=rng)
    x = rng.standard_normal((config.T, config.B, config.I))
    h0 = rng.uniform(-1, 1, (config.L, config.B, config.H))
    return Problem(params, x, h0)


@dataclasses.dataclass
class Verdict:
    """One verdict's cost and outcome."""

    method: str
    caught: bool
    forwards: int
    backwards: int
    seconds: float
    detail: str = ""

    def cell(self) -> str:
        return (f"{self.seconds:.3g} s, {self.forwards}f+{self.backwards}b, "
                f"{'caught' if self.caught else 'passed'}")  # fmt: skip


@contextlib.contextmanager
def _count_backward(counts: dict[str, int]) -> Iterator[None]:
    """Count calls of ``torch.autograd.grad`` (one backward pass each) while the block runs."""
    import torch

    original = torch.autograd.grad

    def grad(*args: Any, **kwargs: Any) -> Any:
        counts["backward"] += 1
        return original(*args, **kwargs)

    torch.autograd.grad = grad
    try:
        yield
    finally:
        torch.autograd.grad = original


def _counted(cls: Any, counts: dict[str, int]) -> Callable[..., Any]:
    def factory(*args: Any, **kwargs: Any) -> Any:
        m = cls(*args, **kwargs)
        m.register_forward_pre_hook(lambda *_: counts.__setitem__("forward", counts["forward"] + 1))
        return m

    return factory


def gruverify_verdict(name: str, problem: Any, repeats: int = 3) -> Verdict:
    """One example of ``gradient[output+h_n]`` in float64 on the CPU."""
    from gruverify.error_model import ARITHMETICS, ErrorModel
    from gruverify.laws.base import LawViolation
    from gruverify.laws.equivalence import law_gradient_equivalence
    from gruverify.targets import TorchModuleTarget

    counts = {"forward": 0, "backward": 0}
    impl = TorchModuleTarget(_counted(module_class(name), counts), name=name, dtype="float64",
                             probe=False)  # fmt: skip
    model = ErrorModel(ARITHMETICS["float64"])
    outcome: list[str] = []

    def once() -> None:
        outcome.clear()
        try:
            law_gradient_equivalence(impl, problem, model, on="both")
        except LawViolation as e:
            outcome.append(str(e).splitlines()[0][:120])

    once()  # builds and loads the module once, as the checker does per configuration
    seconds = median_time(once, repeats=repeats, warmup=0)
    counts.update(forward=0, backward=0)
    with _count_backward(counts):
        once()
    return Verdict("gruverify", bool(outcome), counts["forward"], counts["backward"], seconds,
                   outcome[0] if outcome else "")  # fmt: skip


def gradcheck_verdict(
    name: str, problem: Any, *, fast: bool, on_loss: bool = False, repeats: int = 1
) -> Verdict:
    """``torch.autograd.gradcheck`` on ``(x, h0, *params) -> (output, h_n)`` (or the loss L)."""
    import torch
    from torch.func import functional_call

    from gruverify.laws.equivalence import cotangents
    from gruverify.layouts.torch_layout import gru_to_torch

    p = problem.params
    counts = {"forward": 0, "backward": 0}
    module = module_class(name)(p.input_size, p.hidden_size, p.num_layers, bias=True).double()
    module.register_forward_pre_hook(
        lambda *_: counts.__setitem__("forward", counts["forward"] + 1)
    )
    state = {k: torch.as_tensor(v, dtype=torch.float64) for k, v in gru_to_torch(p).items()}
    names = [n for n, _ in module.named_parameters()]
    leaves = [
        torch.tensor(problem.x, dtype=torch.float64, requires_grad=True),
        torch.tensor(problem.h0, dtype=torch.float64, requires_grad=True),
        *(state[n].clone().requires_grad_(True) for n in names),
    ]
    d_out, d_hn = (torch.as_tensor(a) for a in cotangents(problem, "both"))

    def f(x: Any, h0: Any, *ps: Any) -> Any:
        out, h_n = functional_call(module, dict(zip(names, ps, strict=True)), (x, h0))
        if on_loss:
            return (out * d_out).sum() + (h_n * d_hn).sum()
        return out, h_n

    outcome: list[str] = []

    def once() -> None:
        outcome.clear()
        try:
            ok = torch.autograd.gradcheck(f, tuple(leaves), fast_mode=fast, raise_exception=False)
        except Exception as e:  # a crash inside gradcheck counts as caught
            ok = False
            outcome.append(f"{type(e).__name__}: {str(e).splitlines()[0][:100]}")
        if not ok and not outcome:
            outcome.append("gradcheck returned False")

    start = time.perf_counter()
    with _count_backward(counts):
        once()
    seconds = time.perf_counter() - start
    if repeats > 1:
        seconds = min(seconds, median_time(once, repeats=repeats - 1, warmup=0))
    method = "gradcheck " + ("fast" if fast else "slow") + (" on L" if on_loss else "")
    return Verdict(method, bool(outcome), counts["forward"], counts["backward"], seconds,
                   outcome[0] if outcome else "")  # fmt: skip


def measure(
    configs: Sequence[Config] = CONFIGS, modules: Sequence[str] = MODULES, repeats: int = 3
) -> list[dict[str, Any]]:
    """Every method on every (module, configuration) pair; a list of result dicts."""
    rows = []
    for config in configs:
        problem = make_problem(config)
        for name in modules:
            if not applies(name, config):
                continue
            verdicts = [
                gruverify_verdict(name, problem, repeats=repeats),
                gradcheck_verdict(name, problem, fast=False),
                gradcheck_verdict(name, problem, fast=True, repeats=repeats),
                gradcheck_verdict(name, problem, fast=False, on_loss=True),
            ]
            rows.append({"module": name, "config": config, "buggy": name in BUGGY,
                         "verdicts": verdicts})  # fmt: skip
    return rows


def run(quick: bool = False, device: str | None = None) -> list[Table]:
    """The gradient-verdict table (CPU, float64; ``device`` is ignored: gradcheck needs float64)."""
    rows = measure(QUICK_CONFIGS if quick else CONFIGS, repeats=2 if quick else 3)
    table = Table(
        "2. cost of one gradient verdict (float64, CPU): seconds, forward + backward passes, "
        "outcome",
        ["module", "config", "gruverify", "gradcheck slow", "gradcheck fast", "gradcheck slow on L",
         "slow / gruverify", "evals slow / gruverify"],
    )  # fmt: skip
    ratios = []
    for r in rows:
        g, slow, fast, loss = r["verdicts"]
        ratio = slow.seconds / g.seconds
        evals = (slow.forwards + slow.backwards) / max(1, g.forwards + g.backwards)
        if r["buggy"]:
            ratios.append((ratio, g.caught, slow.caught))
        label = r["module"] + (" (bug)" if r["buggy"] else "")
        table.add(label, str(r["config"]), g.cell(), slow.cell(), fast.cell(), loss.cell(),
                  f"{ratio:.3g}x", f"{evals:.3g}x")  # fmt: skip
    both = [x for x, gc, sc in ratios if gc and sc]
    if both:
        table.notes.append(
            f"gradient-only bugs caught by both gruverify and slow gradcheck: slow gradcheck costs "
            f"{min(both):.3g}x to {max(both):.3g}x the time of one gruverify verdict "
            f"(target: >= 10x: {'met' if min(both) >= 10 else 'NOT met'})"
        )
    missed = sorted({f"{r['module']} by {v.method}" for r in rows if r["buggy"]
                     for v in r["verdicts"] if not v.caught})  # fmt: skip
    if missed:
        table.notes.append("missed gradient-only bugs: " + "; ".join(missed))
    table.notes.append(
        "gruverify's time includes the float64 reference backward and the error model's "
        "perturbed draws; gradcheck's includes nothing but the target"
    )
    return [table]
