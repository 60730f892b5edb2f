"""Counterexample files: a failing check's case saved in full, and replayed by
``gruverify reproduce FILE``.

A file is JSON::

    {"gruverify_counterexample": 1, "target": str, "cell": bool, "device": str, "dtype": str,
     "check": str, "profile": str, "seed": int, "hypothesis_blob": str | null,
     "status": "failed" | "error", "message": str, "case": {...the drawn configuration...},
     "problem": {"batch_first": bool, "x": [...], "h0": [...] | null, "lengths": [...] | null,
                 "params": {"input_size": int, "hidden_size": int, "num_layers": int,
                            "bidirectional": bool, "bias": bool,
                            "named": {"l0.W_ir": [[...]], ...}}},
     "cotangents": {"d_output": [...] | null, "d_h_n": [...] | null},   # gradient checks only
     "reproduce": "gruverify reproduce FILE", "rerun_check": "gruverify check ... --seed N"}

Floats are written with Python's shortest round-tripping repr, so the replayed ``Problem`` is
bit-identical to the failing one. A law may transform the saved problem (the saturated check
scales its input) with the code of its gruverify version (``gruverify_version``); ``replay(path)`` rebuilds the target and runs that one check's
law on that one problem (guarded like the checker's calls): ``(0, text)`` when it holds now,
``(1, text)`` when it fails again, and raises ``CounterexampleError`` (a usage error) for a file
it cannot use. A failure that came from state carried over from earlier calls may not replay on
its own; the file also names the ``gruverify check`` command that reruns the whole check.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from gruverify.conformance.cases import Case
from gruverify.conformance.checks import Check
from gruverify.core.params import random_gru_params
from gruverify.core.problem import Implementation, Problem

__all__ = [
    "FORMAT",
    "CounterexampleError",
    "load_problem",
    "replay",
    "reproduction_blob",
    "save_counterexample",
]

FORMAT = 1
"""``gruverify_counterexample`` version written and read."""

_BLOB = re.compile(r"@reproduce_failure\((.+?)\)")
_GRADIENT_ON = {
    "gradient[output]": "output",
    "gradient[h_n]": "h_n",
    "gradient[output+h_n]": "both",
}


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


def _problem_dict(p: Problem) -> dict[str, Any]:
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


def save_counterexample(
    directory: str,
    *,
    check: Check,
    impl: Implementation,
    case: Case,
    seed: int,
    profile: str,
    counterexample: Mapping[str, Any],
    spec: Mapping[str, Any],
) -> str:
    """Write the failing case of ``check`` under ``directory``; returns the file's path."""
    from gruverify.conformance.report import _jsonable, _version
    from gruverify.laws.equivalence import cotangents

    problem = case.problem()
    target = str(spec.get("target", impl.name))
    name = f"{_slug(target)}-{impl.device}-{impl.dtype}-{_slug(check.name)}-seed{seed}.json"
    path = os.path.join(directory, name)
    data: dict[str, Any] = {
        "gruverify_counterexample": FORMAT,
        "gruverify_version": _version(),
        "target": target, "cell": bool(spec.get("cell", False)), "device": impl.device,
        "dtype": impl.dtype, "check": check.name, "profile": profile, "seed": seed,
        "hypothesis_blob": counterexample.get("hypothesis_blob"),
        "law": counterexample.get("law", ""), "numbers": counterexample.get("numbers", {}),
        "case": case.as_dict(), "problem": _problem_dict(problem),
        "reproduce": f"gruverify reproduce {shlex.quote(path)}",
        "rerun_check": counterexample.get("reproduce", ""),
    }  # fmt: skip
    if check.name in _GRADIENT_ON:
        d_out, d_hn = cotangents(problem, _GRADIENT_ON[check.name])  # type: ignore[arg-type]
        data["cotangents"] = {"d_output": _arr(d_out), "d_h_n": _arr(d_hn)}
    os.makedirs(directory, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(_jsonable(data), f, indent=1)
        f.write("\n")
    return path


def _read(path: str) -> dict[str, Any]:
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


def replay(path: str, *, timeout: float | None = None) -> tuple[int, str]:
    """Rerun the saved check on the saved problem: ``(0, text)`` if it holds, ``(1, text)`` if it
    fails (or the target crashes) again. Raises ``CounterexampleError`` or ``TargetError`` when the
    file or its target cannot be used."""
    from gruverify.conformance.checks import CHECKS, DEVICE_AGREEMENT
    from gruverify.conformance.runner import _resolve
    from gruverify.error_model import ErrorModel, arithmetic_of
    from gruverify.guard import DEFAULT_TIMEOUT, Guarded, preserved
    from gruverify.laws.base import Inconclusive
    from gruverify.laws.equivalence import law_device_agreement

    data = _read(path)
    problem = load_problem(data["problem"])
    timeout = DEFAULT_TIMEOUT if timeout is None else timeout
    target, device, dtype, name = data["target"], data["device"], data["dtype"], data["check"]
    cell = bool(data.get("cell", False))
    head = f"{name} on {target} ({device}, {dtype}), case: {problem.describe()}"
    law: Callable[[Any, Problem, Any], None]
    with preserved():
        impl = _resolve(target, device, dtype, cell, timeout)
        guarded = Guarded(impl, timeout=timeout)
        if name == DEVICE_AGREEMENT:
            cpu = Guarded(_resolve(target, "cpu", dtype, cell, timeout), timeout=timeout)

            def law(i: Any, p: Problem, m: Any) -> None:
                law_device_agreement(cpu, i, p)

        else:
            by_name = {c.name: c for c in CHECKS}
            if name not in by_name:
                raise CounterexampleError(f"{path}: unknown check {name!r}")
            law = by_name[name].law
        try:
            law(guarded, problem, ErrorModel(arithmetic_of(impl)))
        except Inconclusive as e:
            return 0, f"INCONCLUSIVE  {head}\n{e}"
        except AssertionError as e:
            return 1, f"FAIL  {head}\n{e}"
        except Exception as e:
            return 1, f"ERROR  {head}\n{type(e).__name__}: {e}"
    rerun = data.get("rerun_check") or ""
    return 0, (
        f"PASS  {head}\nthe saved case does not fail now"
        + (
            "; if it failed because of state from earlier calls, rerun the whole check: " + rerun
            if rerun
            else ""
        )
    )
