"""Counterexample files: the format of a failing check's case saved in full (problem, cotangents,
metadata), which ``gruverify reproduce FILE`` replays.

A file is JSON::

    {"gruverify_counterexample": 1, "gruverify_version": str, "target": str, "cell": bool,
     "device": str, "dtype": str, "check": str, "profile": str, "seed": int,
     "hypothesis_blob": str | null, "law": str, "numbers": {...},
     "case": {...the drawn configuration...},
     "problem": {"batch_first": bool, "x": [...], "h0": [...] | null, "lengths": [...] | null,
                 "params": {"input_size": int, "hidden_size": int, "num_layers": int,
                            "bidirectional": bool, "bias": bool,
                            "named": {"l0.W_ir": [[...]], ...}}},
     "cotangents": {"d_output": [...] | null, "d_h_n": [...] | null},   # gradient checks only
     "reproduce": "gruverify reproduce FILE", "rerun_check": "gruverify check ... --seed N",
     "error": str, "traceback": str}     # a crash of the target only: its exception and its
                                         # traceback, trimmed to the target's own frames

Floats are written with Python's shortest round-tripping repr, so the loaded ``Problem`` is
bit-identical to the failing one. This module is the format only: ``write_counterexample`` writes a
file, ``read_counterexample`` reads and validates one, ``load_problem`` rebuilds its ``Problem``
(``CounterexampleError``, a usage error, for a file it cannot use). Saving a check's failure and
replaying a file against its target are ``gruverify.conformance.replay``'s.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Mapping
from typing import Any

import numpy as np

from gruverify.conformance.report import gruverify_version, jsonable
from gruverify.core.params import random_gru_params
from gruverify.core.problem import Problem

__all__ = [
    "FORMAT",
    "CounterexampleError",
    "Cotangents",
    "load_problem",
    "problem_to_dict",
    "read_counterexample",
    "reproduction_blob",
    "write_counterexample",
]

FORMAT = 1
"""``gruverify_counterexample`` version written and read."""

_BLOB = re.compile(r"@reproduce_failure\((.+?)\)")

Cotangents = tuple[np.ndarray | None, np.ndarray | None]
"""A gradient check's ``(d_output, d_h_n)``."""


class CounterexampleError(Exception):
    """A counterexample file that cannot be read or replayed (a usage error)."""


def reproduction_blob(e: BaseException) -> str | None:
    """hypothesis' ``@reproduce_failure(...)`` arguments from the exception's notes, if any."""
    for note in getattr(e, "__notes__", ()):
        m = _BLOB.search(str(note))
        if m:
            return f"@reproduce_failure({m.group(1)})"
    return None


def _arr(a: Any) -> Any:
    return None if a is None else np.asarray(a, dtype=np.float64).tolist()


def problem_to_dict(p: Problem) -> dict[str, Any]:
    """The file's ``"problem"`` entry for ``p`` (``load_problem`` reads it back)."""
    ps = p.params
    return {
        "batch_first": bool(p.batch_first),
        "x": _arr(p.x),
        "h0": _arr(p.h0),
        "lengths": None if p.lengths is None else [int(v) for v in np.asarray(p.lengths)],
        "params": {
            "input_size": ps.input_size, "hidden_size": ps.hidden_size,
            "num_layers": ps.num_layers, "bidirectional": ps.bidirectional, "bias": ps.bias,
            "named": {n: _arr(v) for n, v in ps.named()},
        },
    }  # fmt: skip


def load_problem(d: Mapping[str, Any]) -> Problem:
    """The ``Problem`` a file's ``"problem"`` entry describes (bit-identical to the saved one)."""
    try:
        pd = d["params"]
        template = random_gru_params(
            int(pd["input_size"]), int(pd["hidden_size"]), int(pd["num_layers"]),
            bool(pd["bidirectional"]), bool(pd["bias"]), rng=0,
        )  # fmt: skip
        names = [n for n, _ in template.named()]
        if sorted(names) != sorted(pd["named"]):
            raise CounterexampleError(f"parameters {sorted(pd['named'])}, expected {names}")
        flat = np.concatenate(
            [np.ravel(np.asarray(pd["named"][n], dtype=np.float64)) for n in names]
        )
        params = template.unflat(flat)
        lengths = None if d["lengths"] is None else np.asarray(d["lengths"], dtype=np.int64)
        h0 = None if d["h0"] is None else np.asarray(d["h0"], dtype=np.float64)
        return Problem(
            params, np.asarray(d["x"], dtype=np.float64), h0, bool(d["batch_first"]), lengths
        )
    except CounterexampleError:
        raise
    except (KeyError, TypeError, ValueError) as e:
        raise CounterexampleError(f"malformed problem: {type(e).__name__}: {e}") from e


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", s).strip("_") or "x"


def write_counterexample(
    directory: str,
    metadata: Mapping[str, Any],
    problem: Problem,
    cotangents: Cotangents | None = None,
) -> str:
    """Write a counterexample file under ``directory``; returns its path.

    ``metadata`` holds the file's other entries (``target``, ``cell``, ``device``, ``dtype``,
    ``check``, ``profile``, ``seed``, ``hypothesis_blob``, ``law``, ``numbers``, ``case``,
    ``rerun_check``); the name is made of target, device, dtype, check and seed.
    """
    m = metadata
    name = (
        f"{_slug(str(m['target']))}-{m['device']}-{m['dtype']}-{_slug(str(m['check']))}"
        f"-seed{m['seed']}.json"
    )
    path = os.path.join(directory, name)
    data: dict[str, Any] = {
        "gruverify_counterexample": FORMAT,
        "gruverify_version": gruverify_version(),
        **{k: v for k, v in m.items() if k != "rerun_check"},
        "problem": problem_to_dict(problem),
        "reproduce": f"gruverify reproduce {shlex.quote(path)}",
        "rerun_check": m.get("rerun_check", ""),
    }
    if cotangents is not None:
        d_out, d_hn = cotangents
        data["cotangents"] = {"d_output": _arr(d_out), "d_h_n": _arr(d_hn)}
    os.makedirs(directory, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(jsonable(data), f, indent=1)
        f.write("\n")
    return path


def read_counterexample(path: str) -> dict[str, Any]:
    """The file's entries; ``CounterexampleError`` for a file that is not one (format ``FORMAT``)
    or lacks ``target``, ``device``, ``dtype``, ``check`` or ``problem``."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise CounterexampleError(f"cannot read {path}: {e.strerror or e}") from e
    except ValueError as e:
        raise CounterexampleError(f"{path} is not JSON: {e}") from e
    if not isinstance(data, dict) or data.get("gruverify_counterexample") != FORMAT:
        raise CounterexampleError(
            f"{path} is not a gruverify counterexample file (format {FORMAT}); such files are "
            "written by `gruverify check` when a check fails"
        )
    missing = [k for k in ("target", "device", "dtype", "check", "problem") if k not in data]
    if missing:
        raise CounterexampleError(f"{path} lacks {', '.join(missing)}")
    return data
