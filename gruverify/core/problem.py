"""The one interface every GRU satisfies: references and targets alike.

An implementation takes a ``Problem`` (canonical float64 parameters, input, initial state, layout and
lengths) and gives ``Outputs`` (output sequence and final state, float64 numpy in the caller's
layout) and, where it can, ``Gradients`` of ``L = sum(d_output * output) + sum(d_h_n * h_n)``
with respect to the input, the initial state and every named parameter. Each law is written once
against this interface and runs against the references and every target.

Implementations run in their own dtype and device; they convert at the boundary. ``rounded(problem)``
gives the data as the implementation sees it (inputs and weights rounded to its storage dtype), so a
float64 reference can be run on exactly that data and only the arithmetic error remains.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from gruverify.core.arithmetic import round_to_dtype
from gruverify.core.params import GRUParams, StackParams, Variant

__all__ = [
    "Capabilities",
    "Gradients",
    "Implementation",
    "Outputs",
    "Problem",
    "rounded",
    "split_leaf_gradients",
]


@dataclasses.dataclass(frozen=True)
class Problem:
    """One call of a GRU stack, in canonical float64 terms."""

    params: GRUParams
    x: np.ndarray
    h0: np.ndarray | None = None
    batch_first: bool = False
    lengths: np.ndarray | None = None

    @property
    def num_layers(self) -> int:
        return self.params.num_layers

    @property
    def bidirectional(self) -> bool:
        return self.params.bidirectional

    @property
    def bias(self) -> bool:
        return self.params.bias

    @property
    def batched(self) -> bool:
        return np.ndim(self.x) == 3

    @property
    def steps(self) -> int:
        return int(np.shape(self.x)[1 if self.batch_first and self.batched else 0])

    def describe(self) -> str:
        """A one-line description of the configuration (for messages and counterexamples)."""
        p = self.params
        return (
            f"input {tuple(np.shape(self.x))} (batch_first={self.batch_first}), "
            f"input_size={p.input_size}, hidden_size={p.hidden_size}, num_layers={p.num_layers}, "
            f"bidirectional={p.bidirectional}, bias={p.bias}, "
            f"h0={'None' if self.h0 is None else tuple(np.shape(self.h0))}, "
            f"lengths={None if self.lengths is None else list(map(int, self.lengths))}"
        )


@dataclasses.dataclass(frozen=True)
class Outputs:
    """``output`` in the caller's layout and ``h_n`` ``(L * D, B, H)`` (``(L * D, H)`` unbatched)."""

    output: np.ndarray
    h_n: np.ndarray


@dataclasses.dataclass(frozen=True)
class Gradients:
    """Gradients of ``sum(d_output * output) + sum(d_h_n * h_n)``."""

    dx: np.ndarray
    dh0: np.ndarray
    dparams: StackParams[Any]


def split_leaf_gradients(
    grads: Sequence[Any],
    leaves: Sequence[Any],
    h0_given: bool,
    h_n_shape: tuple[int, ...],
    to_numpy: Callable[[Any], np.ndarray],
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """``(dx, dh0, weight gradients)`` from an autodiff answer for ``leaves = [x, h0 (when
    given), *weights]``, in numpy (``to_numpy``). A leaf autodiff gives no gradient (``None``) gets
    zeros of its shape; ``dh0`` is zeros of ``h_n_shape`` when no ``h0`` was given."""
    as_np = [
        np.zeros(tuple(v.shape)) if g is None else to_numpy(g)
        for g, v in zip(grads, leaves, strict=True)
    ]
    dx, rest = as_np[0], as_np[1:]
    if h0_given:
        return dx, rest[0], rest[1:]
    return dx, np.zeros(h_n_shape), rest


@dataclasses.dataclass(frozen=True)
class Capabilities:
    """What an implementation supports. ``missing`` maps a feature to the reason it is absent.

    Features: the names of ``gruverify.core.features.FEATURES`` (each with its meaning there).
    """

    missing: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def supports(self, feature: str) -> bool:
        return feature not in self.missing

    def reason(self, feature: str) -> str:
        return self.missing.get(feature, "")


@runtime_checkable
class Implementation(Protocol):
    """A GRU under test (or a reference)."""

    name: str
    variant: Variant
    dtype: str
    device: str
    capabilities: Capabilities

    def forward(self, problem: Problem) -> Outputs: ...

    def gradients(
        self, problem: Problem, d_output: np.ndarray | None, d_h_n: np.ndarray | None
    ) -> Gradients: ...


def rounded(problem: Problem, dtype: str) -> Problem:
    """The problem with input, initial state and every parameter rounded to ``dtype``."""
    if dtype == "float64":
        return problem
    return dataclasses.replace(
        problem,
        params=problem.params.map(lambda v: round_to_dtype(v, dtype)),
        x=round_to_dtype(problem.x, dtype),
        h0=None if problem.h0 is None else round_to_dtype(problem.h0, dtype),
    )
