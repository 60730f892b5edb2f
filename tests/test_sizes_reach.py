"""Sizes reach what is asked, within one run: ``--max-hidden``, ``--max-steps`` and ``--max-batch``.

A run is every check of the catalogue with its example count under the ``ci`` profile and its
pinned cases (what ``gruverify check`` draws). Recording each case's problem (the check's law
replaced by a recorder, ``run_check(law=...)``) over one run at the requested sizes must show:

- the requested maximum itself, for the input size, the hidden size, the batch and the length;
- sizes either side of the tile boundaries below it (a multiple of 32 or 64 and one either side
  for hidden, input and batch sizes; one past a power of two and one at or below it in time,
  both for the largest power of two), where kernels change path.

A strategy that capped a size below what was asked (the hidden size at 128 under
``--max-hidden 256``: the whole suite passed that once) fails here.
"""

from __future__ import annotations

import collections

import numpy as np
import pytest

from gruverify.conformance.cases import Sizes
from gruverify.conformance.checks import CHECKS
from gruverify.conformance.runner import run_check
from gruverify.core.problem import Implementation, Problem
from gruverify.error_model import ErrorModel
from gruverify.reference.implementations import NumpyReference

RUNS = {
    "hidden 96, steps 200, batch 24": (Sizes(hidden=96, steps=200, batch=24), (32, 64), (64, 128)),
    "hidden 256, steps 300, batch 40": (Sizes(hidden=256, steps=300, batch=40), (64, 128),
                                        (128, 256)),
}  # fmt: skip


def _run_sizes(sizes: Sizes) -> dict[str, collections.Counter[int]]:
    """The input, hidden, batch and step counts of every case one ``ci`` run draws."""
    seen: dict[str, collections.Counter[int]] = collections.defaultdict(collections.Counter)

    def record(impl: Implementation, problem: Problem, model: ErrorModel | None) -> None:
        p = problem.params
        seen["input"][p.input_size] += 1
        seen["hidden"][p.hidden_size] += 1
        seen["steps"][problem.steps] += 1
        if problem.batched:
            seen["batch"][int(np.shape(problem.x)[0 if problem.batch_first else 1])] += 1

    impl = NumpyReference()
    for check in CHECKS:
        result = run_check(check, impl, law=record, sizes=sizes, seed=0)
        assert result.status in ("passed", "skipped"), (check.name, result.message)
    return seen


@pytest.mark.parametrize("name", sorted(RUNS))
def test_one_run_reaches_the_requested_sizes_and_the_tile_boundaries(name: str) -> None:
    sizes, tiles, powers = RUNS[name]
    seen = _run_sizes(sizes)
    top = {"input": sizes.max_hidden, "hidden": sizes.max_hidden, "batch": sizes.max_batch,
           "steps": sizes.max_steps}  # fmt: skip
    for what, limit in top.items():
        drawn = seen[what]
        assert max(drawn) == limit, f"{name}: {what} reaches {max(drawn)}, not {limit}"
    for what in ("input", "hidden"):
        for tile in tiles:
            around = {tile - 1, tile, tile + 1}
            assert around & set(seen[what]), (
                f"{name}: no {what} size at the tile boundary {tile} +- 1: {sorted(seen[what])}"
            )
    steps = set(seen["steps"])
    for power in powers:  # the crossing of each chunk boundary, and a length at or below it
        assert power + 1 in steps and {power - 1, power} & steps, (
            f"{name}: lengths around {power} not drawn: {sorted(steps)}"
        )
    assert {powers[-1], powers[-1] + 1} <= steps, (powers[-1], sorted(steps))
    batches = set(seen["batch"])
    assert {8, 16} & batches and any(b % 8 in (1, 7) for b in batches if b > 8), sorted(batches)
