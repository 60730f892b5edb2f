"""The case of a standalone reproduction as Python source: the arrays inline, with their checksum.

A script built by ``gruverify.conformance.standalone`` carries its case exactly: every array is
float64 written either as a literal list (Python's shortest round-tripping ``repr``, at most
``LITERAL_MAX`` values) or as base64 of its little-endian float64 bytes (``arr(data, shape)`` in
the script decodes both). The parameters are one flat array per layer and direction, in the
canonical order ``PARAMETER_ORDER`` (torch's gates r, z, n; ``W_i*`` (H, n_in), ``W_h*`` (H, H),
then the six biases), which the script splits again. ``case_sha256`` is the SHA-256 of the bytes
of ``x``, ``h0``, ``lengths`` and every flat parameter array, in that order, computed the same
way the script computes it (``CASE_HELPERS``), so a maintainer who edits nothing runs exactly the
saved case, and a script that was altered says so.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping

import numpy as np

from gruverify.core.problem import Problem

__all__ = [
    "CASE_HELPERS",
    "LITERAL_MAX",
    "PARAMETER_ORDER",
    "array_source",
    "case_sha256",
    "flat_cells",
]

LITERAL_MAX = 12
"""Arrays of at most this many values are written as literal lists; larger ones as base64."""

PARAMETER_ORDER = (
    "W_ir", "W_iz", "W_in", "W_hr", "W_hz", "W_hn", "b_ir", "b_iz", "b_in", "b_hr", "b_hz", "b_hn",
)  # fmt: skip

CASE_HELPERS = """
def arr(data, shape):  # float64 values: a literal list, or base64 of their little-endian bytes
    data = np.frombuffer(base64.b64decode(data), "<f8") if isinstance(data, str) else data
    return np.array(data, dtype=np.float64).reshape(shape)
def split(flat, n_in):  # one layer-direction's 12 parameters, torch.nn.GRU's gates r, z, n
    names = "W_ir W_iz W_in W_hr W_hz W_hn b_ir b_iz b_in b_hr b_hz b_hn".split()
    shapes = [(H, n_in)] * 3 + [(H, H)] * 3 + [(H,)] * 6
    ends = np.cumsum([int(np.prod(s)) for s in shapes])
    return {n: flat[e - int(np.prod(s)):e].reshape(s) for n, s, e in zip(names, shapes, ends)}
def case_sha256():
    parts = [a for a in (X, H0, LENGTHS, *CELLS.values()) if a is not None]
    return hashlib.sha256(b"".join(np.asarray(a, "<f8").tobytes() for a in parts)).hexdigest()
def rounded(a):  # the values the library computes with: rounded to DTYPE, held in float64
    return None if a is None else np.asarray(a).astype(DTYPE).astype(np.float64)
"""
"""The script's case helpers: ``arr``, ``split``, ``case_sha256`` and ``rounded``."""


def array_source(a: np.ndarray | None) -> str:
    """``arr([...], shape)`` or ``arr("base64", shape)`` for ``a`` (``None`` for None)."""
    if a is None:
        return "None"
    v = np.ascontiguousarray(np.asarray(a, dtype="<f8"))
    if v.size <= LITERAL_MAX:
        data = "[" + ", ".join(repr(float(e)) for e in v.ravel()) + "]"
    else:
        data = '"' + base64.b64encode(v.tobytes()).decode("ascii") + '"'
    return f"arr({data}, {tuple(int(s) for s in v.shape)!r})"


def flat_cells(problem: Problem) -> dict[str, np.ndarray]:
    """``{"l0": flat, "l0_reverse": flat, ...}``: each layer-direction's parameters as one float64
    vector in ``PARAMETER_ORDER``."""
    named: Mapping[str, np.ndarray] = dict(problem.params.named())
    cells: dict[str, list[np.ndarray]] = {}
    for name in named:
        cell = name.split(".")[0]
        cells.setdefault(cell, [])
    return {
        cell: np.concatenate(
            [np.ravel(np.asarray(named[f"{cell}.{p}"], np.float64)) for p in PARAMETER_ORDER]
        )
        for cell in cells
    }


def case_sha256(problem: Problem) -> str:
    """The SHA-256 the script's ``case_sha256()`` computes for ``problem`` (module docstring)."""
    parts = [problem.x, problem.h0, problem.lengths, *flat_cells(problem).values()]
    return hashlib.sha256(
        b"".join(np.asarray(a, "<f8").tobytes() for a in parts if a is not None)
    ).hexdigest()
