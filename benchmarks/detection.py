"""Benchmark 5: time to detection, the examples a check runs until it first fails on a mutant.

For every planted mutant of ``gruverify.zoo.MUTANTS`` (float32 on the CPU, ``ci`` profile):

- **its check** (the catalogue entry's): the 1-based index of the first failing example, over
  seeds ``0 .. n-1``; median and worst, and the median seconds to that failure. A seed whose run
  never fails counts as missed (shown as ``>budget``).
- **whole check** (seed 0, full mode): every check in the catalogue's order, as ``gruverify check``
  runs them, until the first failure: which check, how many examples in total, how many seconds.

Examples are counted by wrapping the law (``benchmarks.common.counting_law``); shrinking is off
(``no_shrink``), which does not change when the first failure happens.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.common import Table, counting_law, no_shrink

__all__ = ["TARGET_EXAMPLES", "examples_to_failure", "first_failure_overall", "run"]

TARGET_EXAMPLES = 10


def _impl(name: str, dtype: str, device: str) -> Any:
    from gruverify.targets import resolve_target

    return resolve_target(f"gruverify.zoo.mutants:{name}", device=device, dtype=dtype)


def _check(name: str) -> Any:
    from gruverify.conformance.checks import CHECKS

    return next(c for c in CHECKS if c.name == name)


def examples_to_failure(
    mutant: str, check_name: str, seed: int, dtype: str = "float32", device: str = "cpu"
) -> tuple[int | None, int, float | None, str]:
    """(index of the first failing example or None, examples run, seconds to it, status)."""
    from gruverify.conformance.runner import examples_for, run_check
    from gruverify.error_model import ErrorModel, arithmetic_for

    check = _check(check_name)
    impl = _impl(mutant, dtype, device)
    model = ErrorModel(arithmetic_for(impl.dtype, impl.device))
    law, counter = counting_law(check.law)
    with no_shrink():
        result = run_check(check, impl, model=model, profile="ci", seed=seed, law=law)
    budget = examples_for(check, "ci")
    return counter.first_failure, max(budget, counter.calls), counter.first_failure_s, result.status


def first_failure_overall(
    mutant: str, seed: int = 0, dtype: str = "float32", device: str = "cpu"
) -> dict[str, Any]:
    """Run the catalogue in order until a check fails: which, total examples, seconds."""
    from gruverify.conformance.checks import CHECKS
    from gruverify.conformance.runner import run_check
    from gruverify.error_model import ErrorModel, arithmetic_for

    start = time.perf_counter()
    impl = _impl(mutant, dtype, device)
    model = ErrorModel(arithmetic_for(impl.dtype, impl.device))
    total = 0
    with no_shrink():
        for check in CHECKS:
            law, counter = counting_law(check.law)
            result = run_check(check, impl, model=model, profile="ci", seed=seed, law=law)
            if result.status in ("failed", "error"):
                total += counter.first_failure or counter.calls
                return {"check": check.name, "examples": total,
                        "seconds": time.perf_counter() - start}  # fmt: skip
            total += counter.calls
    return {"check": None, "examples": total, "seconds": time.perf_counter() - start}


def measure(
    mutants: Sequence[str] | None = None, seeds: Sequence[int] = range(5), overall: bool = True
) -> list[dict[str, Any]]:
    """One dict per mutant: per-seed examples to failure, and (optionally) the whole-check run."""
    from gruverify.zoo import MUTANTS

    rows = []
    for name in mutants or sorted(MUTANTS):
        entry = MUTANTS[name]
        runs = [examples_to_failure(name, entry.check, s) for s in seeds]
        row: dict[str, Any] = {"mutant": name, "check": entry.check, "runs": runs}
        if overall:
            row["overall"] = first_failure_overall(name)
        rows.append(row)
    return rows


def _median_examples(runs: Sequence[tuple[int | None, int, float | None, str]]) -> float:
    """Median of the first-failure index, a miss counting as budget + 1 (worse than any hit)."""
    return statistics.median(f if f is not None else budget + 1 for f, budget, _, _ in runs)


def run(quick: bool = False, device: str | None = None) -> list[Table]:
    """The time-to-detection table (float32, CPU)."""
    seeds = range(3) if quick else range(7)
    rows = measure(seeds=seeds, overall=not quick)
    cols = ["mutant", "its check", "median examples", "worst", "found in", "median s"]
    if not quick:
        cols += ["whole check: first failing", "examples", "s"]
    table = Table(f"5. time to detection (float32, CPU, ci, seeds 0-{len(seeds) - 1})", cols)
    over: list[str] = []
    for r in rows:
        runs = r["runs"]
        found = [f for f, _, _, _ in runs if f is not None]
        budget = runs[0][1]
        med = _median_examples(runs)
        worst = max(f if f is not None else budget + 1 for f, _, _, _ in runs)
        secs = [s for _, _, s, _ in runs if s is not None]
        cells: list[Any] = [
            r["mutant"], r["check"], med if med <= budget else f">{budget}",
            worst if worst <= budget else f">{budget}", f"{len(found)}/{len(runs)}",
            statistics.median(secs) if secs else None,
        ]  # fmt: skip
        if med > TARGET_EXAMPLES:
            over.append(f"{r['mutant']} ({med:g})")
        if not quick:
            o = r["overall"]
            cells += [o["check"] or "none", o["examples"], o["seconds"]]
        table.add(*cells)
    table.notes.append(
        f"target: every mutant found within {TARGET_EXAMPLES} examples (median): "
        + ("met" if not over else "NOT met for " + ", ".join(over))
    )
    if not quick:
        table.notes.append(
            "whole check: the catalogue in order until the first failing check (seed 0); "
            "examples counts every example run before the failure, seconds include building "
            "the target"
        )
    return [table]
