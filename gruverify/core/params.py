"""Canonical named parameters for GRU and tanh-RNN stacks.

Every weight is addressed by name, never by position inside a packed matrix, so a gate-order mistake
cannot happen inside gruverify; the layout converters (``gruverify.layouts``) are the only place where
names meet positions.

GRU, per layer and direction (I = the layer's input size, H = hidden size)::

    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
    z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))      # reset-after (torch, cuDNN)
    n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)      # reset-before (Cho et al. 2014)
    n = tanh(W_in x + b_in + r * (W_hn h))             # reset-after without b_hn (flax nnx)
    h' = (1 - z) * n + z * h

W_i* have shape (H, I), W_h* (H, H), b_* (H,). RNN: ``h' = tanh(W_ih x + b_ih + W_hh h + b_hh)``.

A stack holds ``cells[layer][direction]``; layer 0 reads the input, layer k > 0 reads the concatenated
outputs of layer k - 1 (size H * num_directions). ``bias=False`` stacks keep zero bias arrays so
every computation can use one code path; converters omit them.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar, Generic, Literal, TypeVar

import numpy as np

__all__ = [
    "GRU_BIAS_NAMES",
    "GRU_PARAM_NAMES",
    "GRU_WEIGHT_NAMES",
    "RNN_PARAM_NAMES",
    "GRUCellParams",
    "GRUParams",
    "ParameterError",
    "RNNCellParams",
    "RNNParams",
    "StackParams",
    "VARIANTS",
    "ALL_VARIANTS",
    "Variant",
    "gru_params_from_record",
    "gru_params_to_record",
    "random_gru_params",
    "random_rnn_params",
]

#: The GRU variants: where the reset gate acts on the candidate (see the module docstring), and
#: reset-after without a recurrent candidate bias (``n = tanh(W_in x + b_in + r * (W_hn h))``, as
#: flax nnx computes: a different GRU, in which ``b_hn`` is not a parameter).
Variant = Literal["reset_after", "reset_before", "reset_after_no_bhn"]
VARIANTS: tuple[Variant, ...] = ("reset_after", "reset_before")
"""The two variants libraries implement with the twelve parameters (what the property suite draws)."""
ALL_VARIANTS: tuple[Variant, ...] = (*VARIANTS, "reset_after_no_bhn")
"""Every variant a target may declare: ``VARIANTS`` and ``reset_after_no_bhn``, whose output does
not depend on ``b_hn`` (its gradient with respect to ``b_hn`` is 0)."""

A = TypeVar("A")
B = TypeVar("B")

GRU_WEIGHT_NAMES = ("W_ir", "W_iz", "W_in", "W_hr", "W_hz", "W_hn")
GRU_BIAS_NAMES = ("b_ir", "b_iz", "b_in", "b_hr", "b_hz", "b_hn")
GRU_PARAM_NAMES = GRU_WEIGHT_NAMES + GRU_BIAS_NAMES
RNN_PARAM_NAMES = ("W_ih", "W_hh", "b_ih", "b_hh")


class ParameterError(ValueError):
    """A parameter set is inconsistent (a shape, a name, a missing or unsupported parameter)."""


class _NamedCell(Generic[A]):
    """What both cells share: their parameters by name, in ``names`` order, and their sizes, read
    off the input weight ``(H, I)`` and the recurrent weight ``(H, H)`` the class names."""

    names: ClassVar[tuple[str, ...]]
    input_weight: ClassVar[str]
    recurrent_weight: ClassVar[str]

    def items(self) -> Iterator[tuple[str, A]]:
        for name in self.names:
            yield name, getattr(self, name)

    @property
    def input_size(self) -> int:
        return int(np.shape(getattr(self, self.input_weight))[1])

    @property
    def hidden_size(self) -> int:
        return int(np.shape(getattr(self, self.recurrent_weight))[0])


@dataclasses.dataclass(frozen=True)
class GRUCellParams(_NamedCell[A]):
    """The twelve named parameters of one GRU layer and direction."""

    W_ir: A
    W_iz: A
    W_in: A
    W_hr: A
    W_hz: A
    W_hn: A
    b_ir: A
    b_iz: A
    b_in: A
    b_hr: A
    b_hz: A
    b_hn: A

    names = GRU_PARAM_NAMES
    input_weight = "W_ir"
    recurrent_weight = "W_hr"

    def map(self, fn: Callable[[A], B]) -> GRUCellParams[B]:
        return GRUCellParams(**{k: fn(v) for k, v in self.items()})

    def replace(self, **changes: A) -> GRUCellParams[A]:
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass(frozen=True)
class RNNCellParams(_NamedCell[A]):
    """The four named parameters of one tanh-RNN layer and direction."""

    W_ih: A
    W_hh: A
    b_ih: A
    b_hh: A

    names = RNN_PARAM_NAMES
    input_weight = "W_ih"
    recurrent_weight = "W_hh"

    def map(self, fn: Callable[[A], B]) -> RNNCellParams[B]:
        return RNNCellParams(**{k: fn(v) for k, v in self.items()})

    def replace(self, **changes: A) -> RNNCellParams[A]:
        return dataclasses.replace(self, **changes)


C = TypeVar("C", GRUCellParams[Any], RNNCellParams[Any])


@dataclasses.dataclass(frozen=True)
class StackParams(Generic[C]):
    """Parameters of a stacked (optionally bidirectional) recurrent network.

    ``cells[layer][direction]``, direction 0 forward and 1 reverse.
    """

    cells: tuple[tuple[C, ...], ...]
    bias: bool = True

    def __post_init__(self) -> None:
        if not self.cells or not self.cells[0]:
            raise ParameterError("a stack needs at least one layer and one direction")
        dirs = len(self.cells[0])
        if dirs not in (1, 2):
            raise ParameterError(f"num_directions must be 1 or 2, got {dirs}")
        hidden = self.cells[0][0].hidden_size
        for layer, row in enumerate(self.cells):
            if len(row) != dirs:
                raise ParameterError(f"layer {layer} has {len(row)} directions, layer 0 has {dirs}")
            expected_in = self.cells[0][0].input_size if layer == 0 else hidden * dirs
            for d, cell in enumerate(row):
                _check_cell_shapes(cell, expected_in, hidden, f"layer {layer} direction {d}")

    @property
    def num_layers(self) -> int:
        return len(self.cells)

    @property
    def num_directions(self) -> int:
        return len(self.cells[0])

    @property
    def bidirectional(self) -> bool:
        return self.num_directions == 2

    @property
    def input_size(self) -> int:
        return self.cells[0][0].input_size

    @property
    def hidden_size(self) -> int:
        return self.cells[0][0].hidden_size

    def cell(self, layer: int, direction: int = 0) -> C:
        return self.cells[layer][direction]

    def map(self, fn: Callable[[Any], Any]) -> StackParams[Any]:
        """Apply ``fn`` to every array (e.g. to move to torch or change dtype)."""
        return StackParams(
            tuple(tuple(c.map(fn) for c in row) for row in self.cells), bias=self.bias
        )

    def replace_cell(self, layer: int, direction: int, cell: C) -> StackParams[C]:
        rows = [list(row) for row in self.cells]
        rows[layer][direction] = cell
        return StackParams(tuple(tuple(r) for r in rows), bias=self.bias)

    def named(self) -> Iterator[tuple[str, Any]]:
        """Yield ``("l{layer}[_reverse].{name}", array)`` for every parameter."""
        for layer, row in enumerate(self.cells):
            for d, cell in enumerate(row):
                suffix = "_reverse" if d == 1 else ""
                for name, value in cell.items():
                    yield f"l{layer}{suffix}.{name}", value

    def flat(self) -> np.ndarray:
        """All parameters as one float vector, in ``named()`` order."""
        return np.concatenate([np.ravel(np.asarray(v)) for _, v in self.named()])

    def digest(self) -> str:
        """A fingerprint of every value, the shapes and the bias flag: a cache key for weights a
        target has already loaded into its library (equal digests, equal parameters). The shapes
        are part of it: one bidirectional layer and two stacked layers can hold the same values."""
        shapes = (self.num_layers, self.num_directions, self.input_size, self.hidden_size)
        return hashlib.sha1(self.flat().tobytes()).hexdigest() + f"{shapes}{self.bias}"

    def unflat(self, vector: np.ndarray) -> StackParams[C]:
        """Inverse of ``flat``: a stack of the same shapes filled from ``vector``."""
        vector = np.asarray(vector)
        offset = 0
        rows = []
        for row in self.cells:
            new_row = []
            for cell in row:
                fields = {}
                for name, value in cell.items():
                    shape = np.shape(value)
                    size = int(np.prod(shape))
                    fields[name] = vector[offset : offset + size].reshape(shape)
                    offset += size
                new_row.append(type(cell)(**fields))
            rows.append(tuple(new_row))
        if offset != vector.size:
            raise ParameterError(f"vector has {vector.size} entries, the stack needs {offset}")
        return StackParams(tuple(rows), bias=self.bias)  # type: ignore[arg-type,call-overload]


GRUParams = StackParams[GRUCellParams[np.ndarray]]
RNNParams = StackParams[RNNCellParams[np.ndarray]]


def gru_params_to_record(params: GRUParams) -> dict[str, Any]:
    """``params`` as JSON values (a worker's message): the cells' arrays as nested lists per
    layer and direction, and the bias flag; ``gru_params_from_record`` gives them back exactly
    (float64 values survive JSON's shortest round-trip repr)."""
    return {
        "bias": bool(params.bias),
        "cells": [
            [{name: np.asarray(v, np.float64).tolist() for name, v in cell.items()} for cell in row]
            for row in params.cells
        ],
    }


def gru_params_from_record(record: Mapping[str, Any]) -> GRUParams:
    """The ``StackParams`` that ``gru_params_to_record`` wrote; ``ParameterError`` for a
    malformed record."""
    try:
        rows = tuple(
            tuple(
                GRUCellParams(**{k: np.asarray(v, np.float64) for k, v in cell.items()})
                for cell in row
            )
            for row in record["cells"]
        )
        return StackParams(rows, bias=bool(record["bias"]))
    except (KeyError, TypeError, ValueError) as e:
        raise ParameterError(f"malformed parameter record: {type(e).__name__}: {e}") from None


def _check_cell_shapes(cell: Any, input_size: int, hidden: int, where: str) -> None:
    for name, value in cell.items():
        shape = tuple(np.shape(value))
        if name.startswith("W_i"):
            want: tuple[int, ...] = (hidden, input_size)
        elif name.startswith("W_h"):
            want = (hidden, hidden)
        else:
            want = (hidden,)
        if shape != want:
            raise ParameterError(f"{where}: {name} has shape {shape}, expected {want}")


def _dirs(bidirectional: bool) -> int:
    return 2 if bidirectional else 1


def _scales(
    input_size: int,
    hidden_size: int,
    num_layers: int,
    scale: float | None,
    bias_scale: float | None,
) -> tuple[float, float]:
    """The sizes checked, and the weight and bias scales of the random initialisations: ``scale``
    (default ``1/sqrt(H)``, torch's) and ``bias_scale`` (default the weight scale)."""
    if input_size < 1 or hidden_size < 1 or num_layers < 1:
        raise ParameterError(
            f"sizes must be >= 1, got input_size={input_size}, hidden_size={hidden_size}, "
            f"num_layers={num_layers}"
        )
    s = 1.0 / np.sqrt(hidden_size) if scale is None else float(scale)
    return s, s if bias_scale is None else float(bias_scale)


def random_gru_params(
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    bidirectional: bool = False,
    bias: bool = True,
    *,
    rng: np.random.Generator | int | None = None,
    scale: float | None = None,
    bias_scale: float | None = None,
    z_bias_offset: float = 0.0,
    chrono_tmax: float | None = None,
) -> GRUParams:
    """Random float64 GRU parameters.

    Weights and biases are uniform in [-scale, scale] (default ``1/sqrt(H)``, torch's init) and
    [-bias_scale, bias_scale] (default ``scale``). ``z_bias_offset`` is added to ``b_iz`` (large
    positive values saturate z towards 1, the carry-over regime; large negative values towards 0).
    ``chrono_tmax`` applies chrono initialisation (Tallec & Ollivier 2018) to the update gate in
    torch's convention: ``b_iz + b_hz = log(U[1, T_max - 1])`` (stored in ``b_iz``, ``b_hz = 0``).
    """
    gen = np.random.default_rng(rng)
    s, bs = _scales(input_size, hidden_size, num_layers, scale, bias_scale)
    dirs = _dirs(bidirectional)
    rows = []
    for layer in range(num_layers):
        in_size = input_size if layer == 0 else hidden_size * dirs
        row = []
        for _ in range(dirs):
            fields: dict[str, np.ndarray] = {}
            for name in GRU_WEIGHT_NAMES:
                cols = in_size if name.startswith("W_i") else hidden_size
                fields[name] = gen.uniform(-s, s, size=(hidden_size, cols))
            for name in GRU_BIAS_NAMES:
                fields[name] = (
                    gen.uniform(-bs, bs, size=hidden_size) if bias else np.zeros(hidden_size)
                )
            if chrono_tmax is not None:
                if chrono_tmax <= 2:
                    raise ParameterError(f"chrono_tmax must exceed 2, got {chrono_tmax}")
                fields["b_iz"] = np.log(gen.uniform(1.0, chrono_tmax - 1.0, size=hidden_size))
                fields["b_hz"] = np.zeros(hidden_size)
            if z_bias_offset:
                fields["b_iz"] = fields["b_iz"] + z_bias_offset
            row.append(GRUCellParams(**fields))
        rows.append(tuple(row))
    has_bias = bias or chrono_tmax is not None or bool(z_bias_offset)
    return StackParams(tuple(rows), bias=has_bias)


def random_rnn_params(
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    bidirectional: bool = False,
    bias: bool = True,
    *,
    rng: np.random.Generator | int | None = None,
    scale: float | None = None,
    bias_scale: float | None = None,
    sigma_max: float | None = None,
    orthogonal: bool = False,
) -> RNNParams:
    """Random float64 tanh-RNN parameters (uniform, torch's default scale ``1/sqrt(H)``).

    ``orthogonal`` draws each W_hh orthogonal; ``sigma_max`` then rescales W_hh so its largest
    singular value is exactly that number.
    """
    gen = np.random.default_rng(rng)
    s, bs = _scales(input_size, hidden_size, num_layers, scale, bias_scale)
    dirs = _dirs(bidirectional)
    rows = []
    for layer in range(num_layers):
        in_size = input_size if layer == 0 else hidden_size * dirs
        row = []
        for _ in range(dirs):
            if orthogonal:
                q, rr = np.linalg.qr(gen.standard_normal((hidden_size, hidden_size)))
                W_hh = q * np.sign(np.diag(rr))
            else:
                W_hh = gen.uniform(-s, s, size=(hidden_size, hidden_size))
            if sigma_max is not None:
                W_hh = W_hh * (sigma_max / np.linalg.norm(W_hh, 2))
            row.append(
                RNNCellParams(
                    W_ih=gen.uniform(-s, s, size=(hidden_size, in_size)),
                    W_hh=W_hh,
                    b_ih=gen.uniform(-bs, bs, size=hidden_size) if bias else np.zeros(hidden_size),
                    b_hh=gen.uniform(-bs, bs, size=hidden_size) if bias else np.zeros(hidden_size),
                )
            )
        rows.append(tuple(row))
    return StackParams(tuple(rows), bias=bias)
