"""Memory layouts: the same values presented as a view of a differently arranged buffer.

A framework tensor (torch) or a numpy array is a buffer read through a shape, strides and a
storage offset: ``a[i_0, ..., i_k] = buffer[offset + sum_j i_j stride_j]``. Users hand GRUs such
views, not only fresh contiguous arrays: ``x.transpose(0, 1)`` of batch-first data, a slice
``buf[1:]`` that starts past its buffer's start, rows of a wider buffer ``buf[..., :I]``, an
initial state expanded over the batch (``h0.expand``: stride 0). A kernel that reads its input
through a raw pointer as if it were contiguous from the buffer's start computes on other numbers.

This module makes such views of given values (``transposed``, ``reversed_axes``, ``offset``,
``padded``, ``expanded``; the buffer's spare entries are NaN, so a read outside the view poisons the result),
and reads any numpy array's layout back (``layout_of``: the buffer it views, its strides and
offset in elements), so a target can present the same layout in its framework
(``gruverify.targets.torch_module``) and a worker process can receive it
(``gruverify.isolation.protocol``). Numpy only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

__all__ = [
    "LAYOUTS",
    "Layout",
    "expanded",
    "layout_of",
    "offset",
    "padded",
    "reversed_axes",
    "transposed",
    "view",
]


@dataclasses.dataclass(frozen=True)
class Layout:
    """How an array lies in memory: ``a = buffer[offset + sum_j i_j strides[j]]`` (elements)."""

    buffer: np.ndarray
    """The C-contiguous one-dimensional buffer the array views."""
    shape: tuple[int, ...]
    strides: tuple[int, ...]
    offset: int


def view(
    buffer: np.ndarray, shape: tuple[int, ...], strides: tuple[int, ...], start: int
) -> np.ndarray:
    """The array ``buffer[start + sum_j i_j strides[j]]`` of ``shape`` (strides in elements) as a
    numpy view of ``buffer`` (a C-contiguous 1-D array), which ``layout_of`` reads back."""
    flat = np.ascontiguousarray(buffer).reshape(-1)
    item = flat.dtype.itemsize
    top = start + sum((n - 1) * s for n, s in zip(shape, strides, strict=True) if n > 0)
    if start < 0 or min(strides, default=0) < 0 or (flat.size and top >= flat.size):
        raise ValueError(
            f"a view of shape {shape}, strides {strides}, offset {start} leaves its buffer of "
            f"{flat.size} entries"
        )
    return np.ndarray(
        shape, dtype=flat.dtype, buffer=flat, offset=start * item,
        strides=tuple(s * item for s in strides),
    )  # fmt: skip


def _root(a: np.ndarray) -> np.ndarray:
    root = a
    while isinstance(root.base, np.ndarray):
        root = root.base
    return root


def layout_of(a: np.ndarray) -> Layout | None:
    """The layout of ``a`` when it is not a plain contiguous array: a view (C-contiguous or not)
    of a C-contiguous buffer that starts past the buffer's start or is not C-contiguous, with
    non-negative strides that are whole elements. None otherwise (a plain array, or one no
    framework could present as a view: negative strides, a buffer that is itself strided)."""
    if not isinstance(a, np.ndarray) or a.size == 0:
        return None
    root = _root(a)
    item = a.dtype.itemsize
    if root is a or root.dtype != a.dtype or not root.flags.c_contiguous:
        return None
    start, rem = divmod(a.ctypes.data - root.ctypes.data, item)
    strides = [s // item for s in a.strides]
    if rem or start < 0 or any(s < 0 or s % item for s in a.strides):
        return None
    if start == 0 and a.flags.c_contiguous:
        return None
    return Layout(root.reshape(-1), tuple(a.shape), tuple(strides), int(start))


def _spare(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    return np.full(int(np.prod(shape)), np.nan, dtype=dtype)


def transposed(values: np.ndarray) -> np.ndarray:
    """``values`` as a transposed view: stored with the first two axes swapped (contiguous),
    presented through ``swapaxes(0, 1)`` (what ``x.transpose(0, 1)`` of batch-first data is)."""
    values = np.asarray(values)
    if values.ndim < 2:
        raise ValueError(f"a transposed view needs two axes, got shape {values.shape}")
    stored = np.ascontiguousarray(np.swapaxes(values, 0, 1))
    return np.swapaxes(stored, 0, 1)


def reversed_axes(values: np.ndarray) -> np.ndarray:
    """``values`` stored with its axes in reverse order (contiguous), presented through ``.T``
    (a Fortran-ordered array: ``h0.permute(2, 1, 0).contiguous().permute(2, 1, 0)``)."""
    values = np.asarray(values)
    return np.ascontiguousarray(values.T).T


def offset(values: np.ndarray, start: int = 3) -> np.ndarray:
    """``values`` as a contiguous slice that starts ``start`` entries into a larger buffer (a
    storage offset; the buffer's other entries are NaN)."""
    values = np.asarray(values)
    buf = _spare((values.size + 2 * start,), values.dtype)
    buf[start : start + values.size] = values.reshape(-1)
    return view(buf, values.shape, _c_strides(values.shape), start)


def padded(values: np.ndarray, pad: int = 2) -> np.ndarray:
    """``values`` as the first columns of a wider buffer, past its first entry: every row of the
    last axis is followed by ``pad`` NaNs (``buf[..., :n]``: not contiguous, with an offset)."""
    values = np.asarray(values)
    wide = (*values.shape[:-1], values.shape[-1] + pad)
    buf = _spare((1 + int(np.prod(wide)),), values.dtype)
    rows = buf[1:].reshape(wide)
    rows[..., : values.shape[-1]] = values
    return view(buf, values.shape, _c_strides(wide), 1)


def expanded(row: np.ndarray, axis: int, size: int) -> np.ndarray:
    """``row`` (with a size-1 ``axis``) expanded to ``size`` along ``axis`` with stride 0 (every
    index reads the same entries: ``h0.expand(L, B, H)`` of an ``(L, 1, H)`` state)."""
    row = np.asarray(row)
    if row.shape[axis] != 1:
        raise ValueError(f"expanding axis {axis} of shape {row.shape}: its size must be 1")
    buf = np.ascontiguousarray(row).reshape(-1)
    strides = list(_c_strides(row.shape))
    strides[axis] = 0
    shape = list(row.shape)
    shape[axis] = size
    return view(buf, tuple(shape), tuple(strides), 0)


def _c_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    out, step = [], 1
    for n in reversed(shape):
        out.append(step)
        step *= n
    return tuple(reversed(out))


LAYOUTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "transposed": transposed,
    "offset": offset,
    "padded": padded,
    "reversed_axes": reversed_axes,
}
"""The layouts of a given array's values (``expanded`` changes which values there are: it
needs a row)."""
