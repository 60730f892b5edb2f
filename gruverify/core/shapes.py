"""Validation of the shapes a recurrent layer is called with, shared by every reference.

Only shapes are looked at here, never values, so the numpy and torch references (and the targets)
agree on what a call means: time-major ``(T, B, I)`` or batch-first ``(B, T, I)``, unbatched
``(T, I)``, an initial state ``(L * D, B, H)`` (``(L * D, H)`` unbatched) and optional per-sequence
lengths ``(B,)`` with ``1 <= length <= T``.

Layout conversions: every computation runs time-major and batched, ``(T, B, F)`` sequences and
``(L * D, B, H)`` states; ``to_time_major`` / ``from_time_major`` and ``state_to_batched`` /
``state_from_batched`` convert from and to the caller's layout (numpy arrays and torch tensors
alike), read off ``batched`` and ``batch_first`` of a ``CallShape`` or a ``Problem``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Protocol, TypeVar, cast

import numpy as np

__all__ = [
    "CallShape",
    "Layout",
    "ProblemLike",
    "ShapeError",
    "StackSizes",
    "call_shape",
    "from_time_major",
    "problem_shape",
    "stack_call_shape",
    "state_from_batched",
    "state_to_batched",
    "to_time_major",
    "validate_lengths",
]

ArrayT = TypeVar("ArrayT")


class Layout(Protocol):
    """How a call lays out its arrays (a ``CallShape`` or a ``Problem``)."""

    @property
    def batched(self) -> bool: ...

    @property
    def batch_first(self) -> bool: ...


class StackSizes(Protocol):
    """The sizes of a recurrent stack (``StackParams``)."""

    @property
    def input_size(self) -> int: ...

    @property
    def hidden_size(self) -> int: ...

    @property
    def num_layers(self) -> int: ...

    @property
    def num_directions(self) -> int: ...


class ProblemLike(Protocol):
    """A call: parameters, input, initial state and layout (a ``Problem``)."""

    @property
    def params(self) -> StackSizes: ...

    @property
    def x(self) -> Any: ...

    @property
    def h0(self) -> Any: ...

    @property
    def batch_first(self) -> bool: ...


class ShapeError(ValueError):
    """An input, initial state or lengths array has a shape the network cannot take."""


@dataclasses.dataclass(frozen=True)
class CallShape:
    """What a call means, read off the shapes: time steps, batch, sizes and layout."""

    steps: int
    batch: int
    input_size: int
    hidden_size: int
    num_layers: int
    num_directions: int
    batched: bool
    batch_first: bool

    @property
    def state_shape(self) -> tuple[int, ...]:
        lead = (self.num_layers * self.num_directions,)
        return lead + ((self.batch,) if self.batched else ()) + (self.hidden_size,)

    @property
    def output_shape(self) -> tuple[int, ...]:
        feat = self.hidden_size * self.num_directions
        if not self.batched:
            return (self.steps, feat)
        if self.batch_first:
            return (self.batch, self.steps, feat)
        return (self.steps, self.batch, feat)


def call_shape(
    x_shape: Sequence[int],
    h0_shape: Sequence[int] | None,
    *,
    input_size: int,
    hidden_size: int,
    num_layers: int,
    num_directions: int,
    batch_first: bool,
) -> CallShape:
    """Check ``x`` and ``h0`` shapes against the network's sizes; raise ShapeError naming the problem."""
    xs = tuple(int(s) for s in x_shape)
    if len(xs) not in (2, 3):
        raise ShapeError(f"input must be 2-D (T, I) or 3-D, got shape {xs}")
    batched = len(xs) == 3
    if batched:
        steps, batch = (xs[1], xs[0]) if batch_first else (xs[0], xs[1])
    else:
        steps, batch = xs[0], 1
    if xs[-1] != input_size:
        raise ShapeError(
            f"input has {xs[-1]} features, the network expects input_size={input_size}"
        )
    if steps < 1:
        raise ShapeError(f"input has {steps} time steps; at least 1 is needed")
    if batch < 1:
        raise ShapeError(f"input has batch size {batch}; at least 1 is needed")
    shape = CallShape(
        steps, batch, input_size, hidden_size, num_layers, num_directions, batched, batch_first
    )
    if h0_shape is not None and tuple(int(s) for s in h0_shape) != shape.state_shape:
        raise ShapeError(
            f"initial state has shape {tuple(h0_shape)}, expected {shape.state_shape} "
            f"(num_layers * num_directions{', batch' if batched else ''}, hidden_size)"
        )
    return shape


def validate_lengths(lengths: Any, shape: CallShape) -> np.ndarray | None:
    """Return lengths as an int64 array ``(B,)`` or None; raise ShapeError if they cannot be used."""
    if lengths is None:
        return None
    if not shape.batched:
        raise ShapeError("lengths need a batched input; an unbatched input is one whole sequence")
    arr = np.asarray(lengths.cpu() if hasattr(lengths, "cpu") else lengths)
    if arr.shape != (shape.batch,):
        raise ShapeError(f"lengths has shape {arr.shape}, expected ({shape.batch},)")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ShapeError(f"lengths must be integers, got dtype {arr.dtype}")
    if arr.size and (arr.min() < 1 or arr.max() > shape.steps):
        raise ShapeError(
            f"lengths must lie in [1, T={shape.steps}], got min {arr.min()} and max {arr.max()}"
        )
    return arr.astype(np.int64)


def stack_call_shape(
    params: StackSizes,
    x_shape: Sequence[int],
    h0_shape: Sequence[int] | None,
    batch_first: bool,
) -> CallShape:
    """``call_shape`` with the sizes of the stack ``params``."""
    return call_shape(
        x_shape,
        h0_shape,
        input_size=params.input_size,
        hidden_size=params.hidden_size,
        num_layers=params.num_layers,
        num_directions=params.num_directions,
        batch_first=batch_first,
    )


def problem_shape(problem: ProblemLike, *, check_h0: bool = True) -> CallShape:
    """The ``CallShape`` of a ``Problem``; its ``h0`` is checked too unless ``check_h0`` is False."""
    h0 = problem.h0 if check_h0 else None
    return stack_call_shape(
        problem.params,
        np.shape(problem.x),
        None if h0 is None else np.shape(h0),
        problem.batch_first,
    )


def to_time_major(seq: ArrayT, layout: Layout) -> ArrayT:
    """A sequence in the caller's layout as ``(T, B, F)``: unbatched ``(T, F)`` gets ``B = 1``,
    batch-first ``(B, T, F)`` is transposed (a view, for numpy arrays and torch tensors)."""
    a: Any = seq
    if not layout.batched:
        return cast(ArrayT, a[:, None])
    return cast(ArrayT, a.swapaxes(0, 1) if layout.batch_first else a)


def from_time_major(seq: ArrayT, layout: Layout) -> ArrayT:
    """The inverse of ``to_time_major``: ``(T, B, F)`` back in the caller's layout."""
    a: Any = seq
    if not layout.batched:
        return cast(ArrayT, a[:, 0])
    return cast(ArrayT, a.swapaxes(0, 1) if layout.batch_first else a)


def state_to_batched(state: ArrayT, layout: Layout) -> ArrayT:
    """A state ``(L * D, B, H)`` in the caller's layout as ``(L * D, B, H)`` (unbatched: ``B = 1``)."""
    a: Any = state
    return cast(ArrayT, a if layout.batched else a[:, None])


def state_from_batched(state: ArrayT, layout: Layout) -> ArrayT:
    """The inverse of ``state_to_batched``."""
    a: Any = state
    return cast(ArrayT, a if layout.batched else a[:, 0])
