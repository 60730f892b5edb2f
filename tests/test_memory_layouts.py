"""Memory layouts: the views of ``core.memory``, their trip to torch and through the worker
protocol, and the memory layouts law against planted raw-storage readers (numpy and torch).

A raw-storage reader computes right on a fresh contiguous array (what every other check feeds)
and wrong on a view: the law must fail it, pass the correct implementations, and skip a target
that copies its inputs (the law would compare a call with itself).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from gruverify.conformance.checks import CHECKS
from gruverify.conformance.runner import run_check, run_checks
from gruverify.core.memory import expanded, layout_of, offset, padded, reversed_axes, transposed
from gruverify.core.problem import Gradients, Outputs, Problem
from gruverify.error_model import default_model
from gruverify.isolation import protocol
from gruverify.laws.base import LawViolation
from gruverify.laws.memory_layout import law_memory_layouts, memory_layout_skip, presentations
from gruverify.reference.implementations import NumpyReference
from gruverify.strategies import Config, make_case
from gruverify.targets.torch_module import TorchModuleTarget
from gruverify.zoo import ZooGRU
from gruverify.zoo import mutants as M

VALUES = np.arange(2 * 3 * 4, dtype=np.float64).reshape(2, 3, 4)


@pytest.mark.parametrize("make", [transposed, reversed_axes, offset, padded])
def test_views_keep_values_and_change_layout(make: object) -> None:
    """Each view has the values it was given, and ``layout_of`` reads a non-trivial layout that
    rebuilds the same array from the buffer."""
    v = make(VALUES)  # type: ignore[operator]
    assert np.array_equal(v, VALUES)
    layout = layout_of(v)
    assert layout is not None, make
    assert layout.offset > 0 or not v.flags.c_contiguous
    rebuilt = np.lib.stride_tricks.as_strided(
        layout.buffer[layout.offset :], layout.shape,
        tuple(s * 8 for s in layout.strides),
    )  # fmt: skip
    assert np.array_equal(rebuilt, VALUES)


def test_spare_entries_are_nan_and_expanded_has_stride_zero() -> None:
    layout = layout_of(padded(VALUES))
    assert layout is not None and np.isnan(layout.buffer).sum() == layout.buffer.size - VALUES.size
    e = expanded(VALUES[:, :1], 1, 5)
    assert e.shape == (2, 5, 4) and e.strides[1] == 0
    assert np.array_equal(e, np.repeat(VALUES[:, :1], 5, axis=1))
    assert layout_of(VALUES) is None and layout_of(VALUES.copy()[:1]) is None
    assert layout_of(VALUES[::-1]) is None  # negative strides: no framework presents them
    with pytest.raises(ValueError, match="size must be 1"):
        expanded(VALUES, 1, 5)


@pytest.mark.parametrize("make", [transposed, reversed_axes, offset, padded])
def test_protocol_keeps_the_layout(make: object) -> None:
    """A view crosses the worker protocol as the same view (values, strides, offset)."""
    v = make(VALUES)  # type: ignore[operator]
    frame = protocol.encode({"x": v})
    head = protocol._HEAD.unpack(frame[: protocol._HEAD.size])
    header = frame[protocol._HEAD.size : protocol._HEAD.size + head[2]]
    got = protocol.decode(header, frame[protocol._HEAD.size + head[2] :])["x"]
    assert np.array_equal(got, VALUES)
    assert got.strides == v.strides
    a, b = layout_of(got), layout_of(v)
    assert a is not None and b is not None and a.offset == b.offset


def test_torch_target_presents_the_layout() -> None:
    """``_tensor`` gives a tensor with the view's strides and storage offset, and gradients
    flow to it."""
    target = TorchModuleTarget(ZooGRU, dtype="float64")
    for v in (transposed(VALUES), offset(VALUES), padded(VALUES), expanded(VALUES[:, :1], 1, 3)):
        layout = layout_of(v)
        assert layout is not None
        t = target._tensor(v, requires_grad=True)
        assert tuple(t.stride()) == layout.strides and t.storage_offset() == layout.offset
        assert torch.equal(t.detach(), torch.as_tensor(np.ascontiguousarray(v)))


def _problem(cfg: Config, seed: int = 3) -> Problem:
    return make_case(cfg, "ordinary", "ordinary", seed).problem


CONFIGS = [
    Config(4, 3, 2, 3, num_layers=2, bidirectional=True),
    Config(4, 3, 2, 3, batch_first=True),
    Config(4, None, 2, 3),
    Config(4, 2, 2, 3, initial_state=False),
]


class RawNumpy(NumpyReference):
    """The numpy reference reading ``x`` from its buffer's start as if it were contiguous."""

    def forward(self, problem: Problem) -> Outputs:
        layout = layout_of(problem.x)
        if layout is not None:
            x = layout.buffer[: problem.x.size].reshape(problem.x.shape)
            problem = dataclasses.replace(problem, x=x)
        return super().forward(problem)


@pytest.mark.parametrize("cfg", CONFIGS, ids=range(len(CONFIGS)))
def test_law_passes_correct_and_catches_raw_readers(cfg: Config) -> None:
    p = _problem(cfg)
    law_memory_layouts(NumpyReference(), p)
    law_memory_layouts(TorchModuleTarget(ZooGRU), p)
    law_memory_layouts(TorchModuleTarget(torch.nn.GRU), p)
    raw = RawNumpy()
    raw.capabilities = dataclasses.replace(raw.capabilities, missing={"gradients": "planted"})
    with pytest.raises(LawViolation, match="memory layouts"):
        law_memory_layouts(raw, p)
    with pytest.raises(LawViolation, match="memory layouts"):
        law_memory_layouts(TorchModuleTarget(M.RawStorageInput), p)


def test_presentations_cover_each_layout() -> None:
    """Transposed, offset and padded ``x``; ``h0`` reversed, offset and expanded (its first row,
    the baseline with the same values)."""
    p = _problem(CONFIGS[0])
    (w1, b1, s1), (w2, b2, s2), (w3, b3, s3) = presentations(p)
    assert (w1, w2, w3) == (
        "x a transposed view, h0 with its axes reversed",
        "x and h0 slices with a storage offset",
        "x rows of a wider buffer, h0 expanded over the batch",
    )  # the names a violation reports
    assert b1 is p and b2 is p
    assert s3.h0 is not None and s3.h0.strides[1] == 0 and np.array_equal(s3.h0, b3.h0)
    for s in (s1, s2, s3):
        assert layout_of(s.x) is not None and layout_of(s.h0) is not None  # type: ignore[arg-type]


def test_copying_targets_are_skipped_with_the_reason() -> None:
    check = next(c for c in CHECKS if c.name == "memory layouts")

    class Copying(NumpyReference):
        strided_inputs = False

    reason = memory_layout_skip(Copying())
    assert reason == (
        f"{Copying().name} copies the problem's arrays into fresh contiguous ones of its "
        "framework (no strides or storage offset reach it): the law would compare a call with "
        "itself"
    )
    assert memory_layout_skip(NumpyReference()) is None
    result = run_check(check, Copying())
    assert result.status == "skipped" and "copies" in result.message


def test_raw_storage_mutant_fails_as_an_isolated_target() -> None:
    """Isolated (the command line's default), the views reach the module in the worker."""
    report = run_checks(
        "gruverify.zoo.mutants:RawStorageInput", device="cpu", checks=["memory layouts"],
        isolate=True,
    )  # fmt: skip
    (result,) = report.checks
    assert result.status == "failed", result.message


def _strided(problem: Problem) -> bool:
    return layout_of(problem.x) is not None or (
        problem.h0 is not None and layout_of(problem.h0) is not None
    )


class ShiftedOnViews(NumpyReference):
    """The reference whose ``dx`` on a strided call is off by ``factor`` times the error model's
    gradient tolerance of the contiguous call (one entry); it counts its contiguous calls."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor, self.contiguous_calls = factor, 0

    def gradients(self, problem: Problem, d_output: object, d_h_n: object) -> Gradients:
        g = super().gradients(problem, d_output, d_h_n)  # type: ignore[arg-type]
        if not _strided(problem):
            self.contiguous_calls += 1
            return g
        plain = dataclasses.replace(
            problem, x=np.array(problem.x), h0=None if problem.h0 is None else np.array(problem.h0)
        )
        tol = default_model(self).backward(plain, self.variant, d_output, d_h_n)[1]
        dx = np.array(g.dx)
        dx.flat[0] += self.factor * tol.gradients["dx"]
        return dataclasses.replace(g, dx=dx)


def test_gradients_off_a_view_are_judged_within_twice_the_tolerance() -> None:
    """Gradients of a strided call that differ from the contiguous call's pass within ``2 tol``
    (each may be off the reference by ``tol``) and fail beyond; the contiguous call and its
    tolerance are computed once per baseline problem (two here: the third presentation's h0 is
    one row repeated)."""
    p = _problem(CONFIGS[0])
    near = ShiftedOnViews(1.5)
    law_memory_layouts(near, p)
    assert near.contiguous_calls == 2
    with pytest.raises(LawViolation, match="memory layouts") as e:
        law_memory_layouts(ShiftedOnViews(2.5), p)
    assert e.value.numbers["quantity"] == "dx", e.value.numbers
    assert e.value.case == p.describe()


class _Unconsulted:
    """An error model that must not be asked: every attribute access fails the test."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the error model was consulted ({name})")


def test_bit_for_bit_presentations_never_consult_the_error_model() -> None:
    """A target that gives the same bits for every presentation passes on that alone: outputs,
    h_n and every gradient part compared exactly, no tolerance computed (nothing to judge, and
    a model that cannot judge the case, Inconclusive, must not turn an exact match into a
    skip)."""
    p = _problem(CONFIGS[0])
    law_memory_layouts(NumpyReference(), p, _Unconsulted())  # type: ignore[arg-type]
    with pytest.raises(AssertionError, match="consulted"):
        law_memory_layouts(ShiftedOnViews(1.5), p, _Unconsulted())  # type: ignore[arg-type]
