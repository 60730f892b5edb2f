"""A failing check's case as a counterexample file, and the file replayed against its target.

``save_counterexample`` writes the case a check failed on (``counterexample.write_counterexample``:
its problem, a gradient check's cotangents for its loss, the run's metadata). ``replay(path)``
rebuilds the target (``gruverify.targets.build_target``) and runs that one check's law on that one
problem, guarded like the checker's calls: ``(0, text)`` when it holds now, ``(1, text)`` when it
fails again; it raises ``CounterexampleError`` or ``TargetError`` (usage errors) for a file or a
target it cannot use. A law may transform the saved problem (the saturated check scales its input)
with the code of its gruverify version (the file's ``gruverify_version``). The file records the
target's declaration in that run (``Declaration.recorded``: ``--cell``, and the arithmetic it
declared, its class's or the run's ``--activation-error`` and ``--accumulator``), and the
replay declares it again. A failure that came from
state carried over from earlier calls may not replay on its own; the file also names the
``gruverify check`` command that reruns the whole check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gruverify.conformance.building import Isolation, build_one, closes_workers
from gruverify.conformance.cases import CheckCase
from gruverify.conformance.checks import ALL_CHECKS, Check
from gruverify.conformance.counterexample import (
    CounterexampleError,
    load_problem,
    read_counterexample,
    write_counterexample,
)
from gruverify.core.problem import Implementation, Problem
from gruverify.error_model import arithmetic_of, default_model
from gruverify.guard import DEFAULT_TIMEOUT, CallLimits, Guarded, crash_traceback, preserved
from gruverify.laws.base import Inconclusive
from gruverify.laws.equivalence import cotangents
from gruverify.targets.declaration import Declaration

__all__ = ["replay", "save_counterexample"]


def save_counterexample(
    directory: str,
    *,
    check: Check,
    impl: Implementation,
    case: CheckCase,
    seed: int,
    profile: str,
    counterexample: Mapping[str, Any],
    spec: Mapping[str, Any],
) -> str:
    """Write the failing case of ``check`` under ``directory``; returns the file's path.

    ``counterexample``: the check result's (``hypothesis_blob``, ``law``, ``numbers``,
    ``reproduce``); ``spec``: ``{"target": ..., "declaration": ...}`` as ``gruverify check``
    names the target and what it declares (a ``Declaration``: recorded with the arithmetic
    ``impl`` declares, ``Declaration.recorded``).
    """
    problem = case.problem()
    declaration = spec.get("declaration") or Declaration()
    metadata = {
        "target": str(spec.get("target", impl.name)),
        "device": impl.device, "dtype": impl.dtype, "check": check.name, "profile": profile,
        "seed": seed, "hypothesis_blob": counterexample.get("hypothesis_blob"),
        "law": counterexample.get("law", ""), "numbers": counterexample.get("numbers", {}),
        "case": case.as_dict(), "rerun_check": counterexample.get("reproduce", ""),
        **declaration.recorded(impl),
        **{k: counterexample[k] for k in ("error", "traceback") if counterexample.get(k)},
    }  # fmt: skip
    tangents = None if check.loss is None else cotangents(problem, check.loss)
    return write_counterexample(directory, metadata, problem, tangents)


def _check_named(name: str, path: str) -> Check:
    for check in ALL_CHECKS:
        if check.name == name:
            return check
    raise CounterexampleError(f"{path}: unknown check {name!r}")


def _judge(
    check: Check, impl: Implementation, problem: Problem, timeout: float, head: str
) -> tuple[int, str] | None:
    """Run ``check``'s law once, guarded: None when it holds, else the exit status and report."""
    arithmetic = arithmetic_of(impl)
    model = default_model(impl)  # the run's: its device, a declared quantization's weights
    try:
        check.law(Guarded(impl, timeout=timeout), problem, model)
    except Inconclusive as e:
        return 0, f"INCONCLUSIVE  {head}\n{e}"
    except AssertionError as e:
        lax = check.warning(e, arithmetic)
        if lax is not None:  # as the checker reports it: a warning, exit status 0
            return 0, f"WARN  {head}\n{e}\n  warning, not a failure: {lax}"
        return 1, f"FAIL  {head}\n{e}"
    except Exception as e:  # a crash: where in the target's code (its trimmed traceback)
        return 1, f"ERROR  {head}\n{crash_traceback(e) or f'{type(e).__name__}: {e}'}"
    return None


@closes_workers
def replay(
    path: str, *, timeout: float | None = None, isolation: Isolation | None = None
) -> tuple[int, str]:
    """Rerun the saved check on the saved problem: ``(0, text)`` if it holds, ``(1, text)`` if it
    fails (or the target crashes) again; a crash's text is the target's traceback, trimmed to
    its own frames (``guard.crash_traceback``), isolated or not. Raises ``CounterexampleError`` or ``TargetError`` when the
    file or its target cannot be used. ``isolation``: build the target in a worker process
    (``gruverify.conformance.building``; default: in this process)."""
    data = read_counterexample(path)
    problem = load_problem(data["problem"])
    timeout = DEFAULT_TIMEOUT if timeout is None else timeout
    target, device, dtype, name = data["target"], data["device"], data["dtype"], data["check"]
    declaration = Declaration.of_record(data, path)  # as declared for the run that saved it
    head = f"{name} on {target} ({device}, {dtype}), case: {problem.describe()}"
    with preserved():
        limits, isolation = CallLimits.fixed(timeout), isolation or Isolation()
        impl = build_one(target, device, dtype, declaration, limits, isolation)
        declaration.apply([impl])
        check = _check_named(name, path)
        if check.against is not None:
            other = build_one(target, check.against.device, dtype, declaration, limits, isolation)
            check = check.bound(Guarded(other, timeout=timeout))
        verdict = _judge(check, impl, problem, timeout, head)
    if verdict is not None:
        return verdict
    rerun = data.get("rerun_check") or ""
    return 0, (
        f"PASS  {head}\nthe saved case does not fail now"
        + (
            "; if it failed because of state from earlier calls, rerun the whole check: " + rerun
            if rerun
            else ""
        )
    )
