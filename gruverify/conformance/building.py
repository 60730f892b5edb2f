"""Building the target of a run on each device: in this process or in a worker process.

``build_each(target, devices, dtype, cell, limits=, isolation=, skip_refused=)`` returns the
``Implementation`` built on each device and, for the devices where it was not built, the result
that stands for all their checks: a device the target refuses (``TargetError``: a CPU-only
library asked for CUDA) is a skipped result when ``skip_refused`` and another device works; a
build that hangs or kills its worker (a probe call that never returns, a constructor that
segfaults) is the target's failure, a failed result named ``BUILD_FAILED``, never a usage error.
Anything else that stops the build (an import error, a wrong constructor) is raised as
``TargetError``.

``Isolation`` says whether and how the target runs in a worker process (``gruverify.isolation``):
``isolate`` True runs a target named by a string (a built-in name or ``module:attr``, which a
worker can import) in a worker; None runs it in this process unless ``python`` names another
interpreter for the worker (a library call stays in its caller's process like any function;
``gruverify check`` isolates by default, ``DEFAULT_ISOLATE``); ``memory_limit`` is the worker's
address-space limit in bytes (None: ``gruverify.isolation.client.default_memory_limit``).
``closes_workers`` (a decorator) ends the workers a run started, whatever ends the run.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any, ParamSpec, TypeVar

from gruverify.conformance.report import CheckResult
from gruverify.core.devices import available_devices
from gruverify.core.problem import Implementation
from gruverify.guard import CallFailed, CallLimits
from gruverify.isolation.client import build_isolated, close_all, closing_new_workers
from gruverify.targets import TargetError, build_target
from gruverify.targets.declaration import Declaration, declaration_of

__all__ = [
    "BUILD_FAILED",
    "DEFAULT_ISOLATE",
    "REFUSED_DEVICE",
    "Isolation",
    "available_devices",
    "build_each",
    "build_one",
    "closes_workers",
]

P = ParamSpec("P")
R = TypeVar("R")

REFUSED_DEVICE = "all checks"
"""The name of the skipped result that stands for every check on a device the target refuses."""

BUILD_FAILED = "target builds"
"""The name of the failed result that stands for every check on a device where building the
target hung or killed its worker."""

DEFAULT_ISOLATE = True
"""Whether ``gruverify check`` runs the target in a worker process unless told otherwise
(``--no-isolate``, ``isolate = false``): chosen from the overhead measured on the default check
(docs/checker.md, "Isolation")."""


@dataclasses.dataclass(frozen=True)
class Isolation:
    """Whether the target runs in a worker process, under which Python, with what memory."""

    isolate: bool | None = None
    python: str | None = None
    memory_limit: int | None = None

    def applies(self, target: Any) -> bool:
        """True when ``target`` runs in a worker; ``TargetError`` when it cannot but must."""
        wanted = self.isolate if self.isolate is not None else self.python is not None
        if self.python is not None and self.isolate is False:
            raise TargetError(
                "--python runs the target in a worker: it cannot go with --no-isolate"
            )
        if not isinstance(target, str):
            if self.python is not None or self.isolate:
                raise TargetError(
                    f"{getattr(target, 'name', target)!r} is an object: a worker process can only "
                    "build a target named by a built-in name or package.module:attr"
                )
            return False
        return wanted


def build_one(
    target: str, device: str, dtype: str | None, declaration: Declaration | bool,
    limits: CallLimits, isolation: Isolation,
) -> Implementation:  # fmt: skip
    """``target`` built on ``device`` as ``declaration`` says (a bool: only ``cell``), in a worker
    when ``isolation`` says so; ``TargetError`` when it cannot be (its cause a ``CallFailed`` when
    building hung or killed the worker)."""
    declaration = declaration_of(declaration)
    if isolation.applies(target):
        return build_isolated(
            target, device, dtype, declaration, limits=limits, python=isolation.python,
            memory_limit=isolation.memory_limit,
        )  # fmt: skip
    return build_target(target, device, dtype, declaration, limits.ceiling)


def _devices_seen(first: Implementation | None) -> list[str]:
    """The devices to check on when none was named: those torch saw in the worker that built the
    target on the CPU (``devices_seen``: a torch target's worker imports torch anyway, so this
    process need not), else those this process's torch sees (``available_devices``)."""
    seen = getattr(first, "devices_seen", None)
    return list(seen) if seen is not None else available_devices()


def build_each(
    target: str,
    devices: Sequence[str] | None,
    dtype: str | None,
    declaration: Declaration | bool,
    *,
    limits: CallLimits,
    isolation: Isolation,
    skip_refused: bool,
) -> tuple[dict[str, Implementation], dict[str, CheckResult]]:
    """The target built on each device (``devices`` None: the CPU, then every other device
    ``_devices_seen`` finds), and a result for each device where it was not (see the module
    doc). Raises ``TargetError`` when no device was built and none failed the target."""
    impls: dict[str, Implementation] = {}
    results: dict[str, CheckResult] = {}
    first: TargetError | None = None
    pending = ["cpu"] if devices is None else list(devices)
    try:
        while pending:
            d = pending.pop(0)
            try:
                impls[d] = build_one(target, d, dtype, declaration, limits, isolation)
            except TargetError as e:
                if isinstance(e.__cause__, CallFailed):
                    results[d] = CheckResult(BUILD_FAILED, d, "failed", str(e.__cause__))
                elif not skip_refused:
                    raise
                else:
                    first = first or e
                    results[d] = CheckResult(
                        REFUSED_DEVICE, d, "skipped", f"the target does not run on {d}: {e}"
                    )
            if devices is None and d == "cpu":  # then every other device there is
                pending = [o for o in _devices_seen(impls.get("cpu")) if o != "cpu"]
    except BaseException:
        close_all(list(impls.values()))
        raise
    if not impls and all(r.status == "skipped" for r in results.values()):
        assert first is not None
        raise first
    return impls, results


def closes_workers(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` that closes the worker processes started during its call when it returns or
    raises (a run's workers never outlive the run)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with closing_new_workers():
            return fn(*args, **kwargs)

    return wrapper
