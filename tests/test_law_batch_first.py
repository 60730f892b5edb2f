"""law_batch_first_equals_time_major: holds on the references, catches a layout bug."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gruverify.core.params import random_gru_params
from gruverify.core.problem import Outputs, Problem
from gruverify.laws.base import Inconclusive, LawViolation
from gruverify.laws.metamorphic import law_batch_first_equals_time_major
from gruverify.reference.implementations import NumpyReference, TorchReference


def _problem(batch_first: bool) -> Problem:
    rng = np.random.default_rng(3)
    params = random_gru_params(3, 5, num_layers=2, bidirectional=True, rng=rng)
    T, B = 6, 4
    x = rng.standard_normal((B, T, 3) if batch_first else (T, B, 3))
    return Problem(params, x, rng.standard_normal((4, B, 5)) * 0.5, batch_first=batch_first)


class IgnoresBatchFirst(NumpyReference):
    """Reads a batch-first input as time-major (the permute forgotten, as in pytorch#10838)."""

    def forward(self, problem: Problem) -> Outputs:
        if not problem.batch_first:
            return super().forward(problem)
        # the input (B, T, I) read as (T', B', I) with T' = B, B' = T: h0's batch must follow
        wrong = dataclasses.replace(problem, batch_first=False)
        T, B = np.shape(problem.x)[1], np.shape(problem.x)[0]
        h0 = (
            None
            if problem.h0 is None
            else np.resize(problem.h0, (problem.h0.shape[0], T, problem.h0.shape[2]))
        )
        out = super().forward(dataclasses.replace(wrong, h0=h0))
        return Outputs(
            out.output,
            out.h_n[:, :B]
            if out.h_n.shape[1] >= B
            else np.resize(out.h_n, (out.h_n.shape[0], B, out.h_n.shape[2])),
        )


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize(
    "impl", [NumpyReference(), TorchReference(dtype="float32")], ids=["numpy", "torch-float32"]
)
def test_holds_on_references(impl: object, batch_first: bool) -> None:
    law_batch_first_equals_time_major(impl, _problem(batch_first))  # type: ignore[arg-type]


def test_catches_ignored_batch_first() -> None:
    with pytest.raises(LawViolation, match="batch_first equals time-major"):
        law_batch_first_equals_time_major(IgnoresBatchFirst(), _problem(True))


def test_unbatched_is_inconclusive() -> None:
    p = _problem(False)
    p = dataclasses.replace(p, x=p.x[:, 0], h0=p.h0[:, 0])
    with pytest.raises(Inconclusive):
        law_batch_first_equals_time_major(NumpyReference(), p)
