"""Validation of the shapes a recurrent layer is called with, shared by every reference.

Only shapes are looked at here, never values, so the numpy and torch references (and the targets)
agree on what a call means: time-major ``(T, B, I)`` or batch-first ``(B, T, I)``, unbatched
``(T, I)``, an initial state ``(L * D, B, H)`` (``(L * D, H)`` unbatched) and optional per-sequence
lengths ``(B,)`` with ``1 <= length <= T``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["CallShape", "ShapeError", "call_shape", "validate_lengths"]


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
