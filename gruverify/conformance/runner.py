"""Run the checks against a target: hypothesis draws the cases, a failure shrinks to a minimal one.

``run_checks(target, device=, dtype=, profile=, seed=, checks=, cell=)`` resolves the target on
each device (default: the CPU, plus CUDA when available; a default device the target refuses with
``TargetError``, e.g. a CPU-only library on a CUDA machine, is reported as one skipped result with
the reason), runs every check of ``CHECKS`` on each device (and the cross-device checks,
``CROSS_DEVICE_CHECKS``: the CPU-vs-CUDA agreement, when both devices run), and returns a
``Report``.

The options of run_checks (``declaration``: a ``Declaration``, ``options``: a ``RunOptions``, or
any of their fields as keywords, which win; ``gruverify.conformance.options``):

``device`` None means every available device (one the target refuses is skipped, with the
reason, as long as another runs); ``dtype`` None the target's default;
``profile`` ``quick`` | ``ci`` (default) | ``thorough``; ``seed`` None means 0 under ``ci`` and
a fresh random seed otherwise; ``checks`` restricts to the named checks. ``progress`` is called
with each result as it completes. ``timeout``: seconds per call into the target (default
``DEFAULT_TIMEOUT``; a ``CallLimits`` is used as it is); ``artifacts``: a directory for
counterexample files (None: none written). ``strict``, ``xfail``, ``ignore``: the verdict's
settings ("Verdicts" below); ``cell``, ``activation_error``, ``accumulator``: the declaration.
``max_hidden``, ``max_steps``, ``max_batch``: the largest sizes drawn (``cases.Sizes``).
``isolate``: run the target in a worker process (None: only when ``python`` names the worker's
interpreter), its memory limited to ``memory_limit`` bytes (``gruverify.conformance.building``);
a float ``timeout`` is the ceiling of the adaptive per-call limit
(``gruverify.guard.CallLimits``). ``on_result`` is called with the report so far after each
result (the CLI writes it as it goes).

Verdicts: ``strict`` makes warnings and xpasses fail the verdict; ``xfail`` (check -> reason)
acknowledges known findings: those checks run and are reported as xfail (still failing or
warning) or xpass (passing); ``ignore`` (check -> reason, or names) lists checks not to run,
reported as ignored; ``activation_error`` and ``accumulator`` are the targets' activation error
and the format their products accumulate in for this run, in place of what they declare
(``gruverify.targets.declaration``: also for targets the user does not own). A built-in target's
known finding (``gruverify.targets.findings``) is attached to the result it explains, which keeps
its status. A check's warning policy (``Check.warns``) is applied while its cases run: a
violation it calls a warning is kept aside and the search goes on for a failure; only when none
turns up is the warning shrunk (a second search) and reported.

Each check is one ``@given`` run under the chosen profile's settings with an explicit seed (the
``ci`` profile uses seed 0 unless told otherwise, so it is derandomized; ``quick`` and ``thorough``
draw a fresh seed and report it), no example database, and no deadline. A failing case is shrunk
towards the smallest configuration; shrinking stops after a time budget (the smallest failure found
so far is reported). Laws that raise ``Inconclusive`` count their case as inconclusive, not passed.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, assume, example, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.errors import Unsatisfiable

from gruverify.conformance.building import (
    BUILD_FAILED,
    REFUSED_DEVICE,
    Isolation,
    available_devices,
    build_each,
    closes_workers,
)
from gruverify.conformance.cases import CheckCase, Sizes, fixed_params_of
from gruverify.conformance.checks import ALL_CHECKS, Check, Law
from gruverify.conformance.config import ConfigError, check_name
from gruverify.conformance.counterexample import reproduction_blob
from gruverify.conformance.explain import explain_failure
from gruverify.conformance.options import OPTION_CLASSES, RunOptions, reproduce_command
from gruverify.conformance.replay import save_counterexample
from gruverify.conformance.report import CheckResult, Report, acknowledge
from gruverify.conformance.triage import Triage, Trigger, crash_of, describe_triggers
from gruverify.core.options import OptionError, keyword_updates, to_record, updated
from gruverify.core.problem import Implementation
from gruverify.error_model import ErrorModel, arithmetic_of, default_model
from gruverify.guard import (
    DEFAULT_TIMEOUT,
    CallFailed,
    CallLimits,
    CallTimeout,
    Guarded,
    TargetDied,
    crash_traceback,
    preserved,
)
from gruverify.laws.base import Inconclusive, LawViolation
from gruverify.profiles import DEFAULT_PROFILE, PROFILES, register_profiles
from gruverify.targets import TargetError
from gruverify.targets.declaration import Declaration
from gruverify.targets.findings import finding_for

__all__ = [
    "BUILD_FAILED",
    "REFUSED_DEVICE",
    "SHRINK_SECONDS",
    "allow_compilation",
    "available_devices",
    "examples_for",
    "reproduce_command",
    "run_check",
    "run_checks",
]

SHRINK_SECONDS = {"quick": 5.0, "ci": 10.0, "thorough": 60.0}
"""How long a failing check may spend shrinking, per profile."""


def examples_for(check: Check, profile: str) -> int:
    """How many drawn examples ``check`` runs under ``profile`` (its ``ci`` count, scaled)."""
    register_profiles()  # before any run, too
    base = settings.get_profile(DEFAULT_PROFILE).max_examples
    active = settings.get_profile(profile).max_examples
    return max(1, round(check.examples * active / base))


def _size_skip(check: Check, sizes: Sizes | None) -> str | None:
    """Why a long-sequence check cannot run at ``sizes`` (``--max-steps`` below its lengths)."""
    if check.long and sizes is not None and sizes.long_steps() is None:
        return f"--max-steps {sizes.max_steps}: shorter than a long sequence (33 steps or more)"
    return None


def _sizes(max_hidden: int | None, max_steps: int | None, max_batch: int | None) -> Sizes:
    """``Sizes`` from the run's options; ``TargetError`` (a usage error) for a bad value."""
    try:
        return Sizes(max_hidden, max_steps, max_batch)
    except ValueError as e:
        raise TargetError(str(e)) from None


def _skip_reason(check: Check, impl: Implementation) -> str | None:
    fixed = fixed_params_of(impl)
    why = check.fixed_skip(fixed)
    if why is not None:
        return f"{getattr(impl, 'fixed_by', 'weights fixed by the target')}: {why}"
    caps = impl.capabilities
    for feature in (*check.requires, *(f for f, on in check.forced.items() if on)):
        if not caps.supports(feature):
            return f"target lacks {feature}: {caps.reason(feature) or 'declared missing'}"
    if check.needs_method and not hasattr(impl, check.needs_method):
        return f"target has no {check.needs_method}() (it cannot be rebuilt for this check)"
    return None if check.applies is None else check.applies(impl)


def run_check(
    check: Check,
    impl: Implementation,
    *,
    model: ErrorModel | None = None,
    profile: str = DEFAULT_PROFILE,
    seed: int = 0,
    reproduce: str = "",
    law: Law | None = None,
    timeout: float | CallLimits | None = DEFAULT_TIMEOUT,
    artifacts: str | None = None,
    spec: Mapping[str, Any] | None = None,
    sizes: Sizes | None = None,
    triage: Triage | None = None,
) -> CheckResult:
    """Run one check on one implementation; never raises for a target's failure or crash.

    Every call into the target is guarded (``gruverify.guard``: ``timeout`` seconds per call,
    torch's global settings, output contract); torch's settings and the random generators are
    restored afterwards. A failure's counterexample carries the seed and hypothesis' reproduction
    blob; with ``artifacts`` (a directory) it is also saved there as a file that
    ``gruverify reproduce FILE`` replays (``spec``: ``{"target": ..., "declaration": ...}`` for it).
    ``law`` replaces the check's own law (e.g. one that counts its calls). ``sizes``: the largest
    sizes drawn (``cases.Sizes``; None: the small defaults). ``triage``: find what triggers a
    crash of the target (``conformance.triage``, shared by the run's checks) and judge the law
    again on the cases that do not trigger it (None: a crash ends the check, as an error).
    """
    with preserved():
        register_profiles()
        start = time.monotonic()
        reason = _skip_reason(check, impl) or _size_skip(check, sizes)
        if reason is not None:
            return CheckResult(check.name, impl.device, "skipped", reason, check.description)
        run = _CheckRun(
            check, impl, impl if isinstance(impl, Guarded) else Guarded(impl, timeout=timeout),
            model or default_model(impl), profile, seed, reproduce, artifacts, spec,
            start,
        )  # fmt: skip
        search = _Search(
            law or check.law, run.guarded, run.model, SHRINK_SECONDS.get(profile, 10.0),
            lenient=check,
        )  # fmt: skip
        failure = _search(check, impl, search, profile, seed, sizes)
        first = (search, failure)
        triggers: list[Trigger] = []
        while failure is not None and triage is not None and len(triggers) < MAX_TRIGGERS:
            trigger = _triaged(triage, search, failure)
            if trigger is None:
                break
            triggers.append(trigger)  # judge the cases no known trigger covers
            search = dataclasses.replace(
                search, cases=0, inconclusive=0, failures={}, first_failure=None, warned=None,
                avoid=tuple(triggers), avoided=0,
            )  # fmt: skip
            failure = _search(check, impl, search, profile, seed, sizes)
        if failure is None and search.warned is not None:  # no failure: shrink the warning
            again = dataclasses.replace(search, lenient=None, failures={}, first_failure=None)
            shrunk = _search(check, impl, again, profile, seed, sizes)
            failure = shrunk if hasattr(shrunk, "gruverify_case") else search.warned
        if triggers:
            return run.triaged(first, search, failure, triggers)
        return run.passed(search) if failure is None else run.failed(search, failure)


MAX_TRIGGERS = 3
"""How many distinct crash triggers one check triages before it stops (an error)."""


def _triaged(triage: Triage, search: _Search, failure: Exception) -> Trigger | None:
    """The trigger of ``failure`` when it is a crash at a case (``conformance.triage``)."""
    case: CheckCase | None = getattr(failure, "gruverify_case", None)
    crash = crash_of(failure)
    if case is None or crash is None:
        return None
    return triage.trigger(search.law, search.impl, search.model, case, crash)


@dataclasses.dataclass
class _Search:
    """The body of one check's hypothesis test: the law on each drawn case, counted. A failing
    case's exception is kept (and raised again if hypothesis draws the case again); once the
    shrink budget after the first failure is spent, further cases pass unrun."""

    law: Law
    impl: Implementation
    model: ErrorModel
    budget: float
    cases: int = 0
    inconclusive: int = 0
    failures: dict[CheckCase, BaseException] = dataclasses.field(default_factory=dict)
    first_failure: float | None = None
    lenient: Check | None = None
    """While set, a violation its warning policy calls a warning is kept (``warned``, the first)
    instead of raised, so the search goes on for a failure; the runner then shrinks the warning
    in a second search without ``lenient``."""
    warned: Exception | None = None
    avoid: tuple[Trigger, ...] = ()
    """Crash triggers found by triage: cases they cover are not run (counted in ``avoided``;
    hypothesis draws others in their place, so the check still judges its number of cases)."""
    avoided: int = 0

    def __call__(self, case: CheckCase) -> None:
        if case in self.failures:
            raise self.failures[case]
        if self.first_failure is not None and time.monotonic() - self.first_failure > self.budget:
            return  # shrink budget spent: report the smallest failure found so far
        if any(t.matches(case) for t in self.avoid):
            self.avoided += 1
            assume(False)  # not counted: hypothesis draws another case in its place
        self.cases += 1
        try:
            self.law(self.impl, case.problem(), self.model)
        except Inconclusive:
            self.inconclusive += 1
        except Exception as e:  # a violation or a crash of the target, both kept with the case
            e.gruverify_case = case  # type: ignore[attr-defined]
            if not isinstance(e, LawViolation):  # where in the target's code, before re-raises
                e.gruverify_traceback = crash_traceback(e)  # type: ignore[attr-defined]
            if self.lenient and self.lenient.warning(e, self.model.arithmetic) is not None:
                if self.warned is None:
                    self.warned = e
                return
            self.failures[case] = e
            if self.first_failure is None:
                self.first_failure = time.monotonic()
            if isinstance(e, CallTimeout) or _died_before(e, self.impl, self.failures):
                self.first_failure = -float("inf")  # no shrinking through more hangs or deaths
            raise


def _died_before(e: Exception, impl: Implementation, failures: Mapping[Any, Any]) -> bool:
    """``e`` is a death (``TargetDied``) and the target had killed its worker before this check:
    only the first check that kills it shrinks through deaths (each costs a new worker)."""
    limits = getattr(impl, "limits", None)
    if not isinstance(e, TargetDied) or limits is None:
        return False
    deaths_here = sum(isinstance(f, TargetDied) for f in failures.values())
    return bool(limits.deaths > deaths_here)


def _settings(check: Check, profile: str) -> settings:
    """The hypothesis settings of one check: the profile's, with the check's example count, no
    database, no deadline, quiet, the blob kept in the exception's notes."""
    return settings(
        parent=settings.get_profile(profile),
        max_examples=examples_for(check, profile),
        database=None,
        derandomize=False,
        deadline=None,
        print_blob=True,  # the blob goes into the exception's notes, not to the terminal
        verbosity=Verbosity.quiet,
        report_multiple_bugs=False,
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
    )


def _search(
    check: Check,
    impl: Implementation,
    body: _Search,
    profile: str,
    seed: int,
    sizes: Sizes | None = None,
) -> Exception | None:
    """Run ``body`` over the check's pinned cases, then its drawn ones at ``sizes`` (shrinking a
    failure); the exception it ended with, or None."""
    fixed = fixed_params_of(impl)
    strategy = check.cases(impl.capabilities, sizes, fixed)

    @_settings(check, profile)
    @hypothesis_seed(seed)
    @given(case=strategy)
    def run(case: CheckCase) -> None:
        body(case)

    for pinned in check.pinned_cases(impl.capabilities, sizes, fixed):  # first, every seed
        run = example(case=pinned)(run)
    try:
        run()
    except Unsatisfiable:  # every case drawn was avoided (a crash trigger covers them all)
        return None
    except Exception as e:
        return e
    return None


@dataclasses.dataclass
class _CheckRun:
    """One check on one implementation: what its result is made of."""

    check: Check
    impl: Implementation
    guarded: Implementation
    model: ErrorModel
    profile: str
    seed: int
    reproduce: str
    artifacts: str | None
    spec: Mapping[str, Any] | None
    start: float

    def result(
        self,
        status: str,
        message: str,
        search: _Search,
        counterexample: dict[str, Any] | None = None,
        diagnosis: str | None = None,
    ) -> CheckResult:
        return CheckResult(
            self.check.name, self.impl.device, status, message, self.check.description,
            search.cases, search.inconclusive, time.monotonic() - self.start, counterexample,
            diagnosis, note=self.check.coupling_note(self.model.arithmetic),
        )  # fmt: skip

    def passed(self, search: _Search) -> CheckResult:
        """Passed, or skipped when every case was inconclusive."""
        if search.cases and search.inconclusive == search.cases:
            return self.result(
                "skipped",
                f"all {search.cases} cases inconclusive in {self.model.arithmetic}: rounding "
                "alone could explain any difference", search,
            )  # fmt: skip
        return self.result("passed", f"{search.cases} cases", search)

    def failed(self, search: _Search, e: Exception) -> CheckResult:
        """Failed (a law violated), warning (a violation the check's policy calls lax) or error
        (a crash, with the target's traceback), with the counterexample and its file."""
        case: CheckCase | None = getattr(e, "gruverify_case", None)
        if case is None:  # hypothesis itself failed (flaky target, health check): an error
            return self.result("error", f"{type(e).__name__}: {e}", search)
        status = "failed" if isinstance(e, LawViolation) else "error"
        message = str(e) if status == "failed" else f"{type(e).__name__}: {e}"
        lax = self.check.warning(e, self.model.arithmetic)
        if lax is not None:
            status, message = "warning", f"{message.rstrip()}\n  warning, not a failure: {lax}"
        ce: dict[str, Any] = {"case": case.as_dict(), "problem": case.problem().describe()}
        crash = crash_of(e)
        if isinstance(e, LawViolation):
            ce.update(law=e.law, formula=e.formula, numbers=e.numbers)
        else:
            ce.update(law=self.check.name, formula="", numbers={})
        if crash is not None:
            ce.update(error=crash.line(), traceback=crash.traceback)
        ce["reproduce"] = self.reproduce
        diagnosis = None
        if status == "failed" and not isinstance(e, CallFailed):  # no call again to a hang
            diagnosis = explain_failure(self.check, self.guarded, case, self.model)
        if diagnosis is not None:
            ce["diagnosis"] = diagnosis
            message = f"{message.rstrip()}\n  diagnosis: {diagnosis}"
        ce.update(seed=self.seed, hypothesis_blob=reproduction_blob(e))
        if self.artifacts is not None:
            self.save(case, ce)
        result = self.result(status, message, search, ce, diagnosis)
        if crash is not None and status == "error":
            result = dataclasses.replace(result, traceback=crash.traceback, error_key=crash.key)
        return result

    def triaged(
        self,
        first: tuple[_Search, Exception | None],
        search: _Search,
        failure: Exception | None,
        triggers: Sequence[Trigger],
    ) -> CheckResult:
        """A check whose target crashed on the cases ``triggers`` cover and was judged on the
        others (``search``): failed when a law was violated there, else an error (the crash,
        its trigger and traceback); a crash that has no trigger stays the error."""
        crash = triggers[0].crash
        said = describe_triggers(triggers)
        if failure is None:
            assert first[1] is not None
            result = self.failed(first[0], first[1])  # the crash's case and file
            others = f"the other {search.cases} cases passed ({search.avoided} avoided)"
            message = f"{crash.line()}\n  {said}; {others}"
            result = dataclasses.replace(
                result, message=message, cases=search.cases, inconclusive=search.inconclusive
            )
        else:
            result = self.failed(search, failure)
            extra = f"also {crash.line()}: {said} (those cases avoided: {search.avoided})"
            result = dataclasses.replace(result, message=f"{result.message.rstrip()}\n  {extra}")
        if result.traceback is None:
            result = dataclasses.replace(result, traceback=crash.traceback, error_key=crash.key)
        return dataclasses.replace(result, trigger=said)

    def save(self, case: CheckCase, ce: dict[str, Any]) -> None:
        """Save the counterexample under ``artifacts``: its path, or why not, goes into ``ce``."""
        assert self.artifacts is not None
        try:
            ce["file"] = save_counterexample(
                self.artifacts, check=self.check, impl=self.impl, case=case, seed=self.seed,
                profile=self.profile, counterexample=ce,
                spec=self.spec or {"target": self.impl.name},
            )  # fmt: skip
        except OSError as err:  # the verdict stands without the file
            ce["file_error"] = f"cannot save the counterexample under {self.artifacts}: {err}"


def _resolve_devices(device: str | Sequence[str] | None) -> list[str] | None:
    """The devices named (checked: cpu, or cuda when torch sees it), or None for every device
    there is (found while building: ``build_each``)."""
    if device is None:
        return None
    devices = [device] if isinstance(device, str) else list(device)
    for d in devices:
        if not (d == "cpu" or d.startswith("cuda")):
            raise TargetError(f"unknown device {d!r}; expected cpu or cuda")
        if d.startswith("cuda") and "cuda" not in available_devices():
            raise TargetError(f"--device {d}: CUDA is not available on this machine")
    return devices


def _known(name: str, where: str) -> str:
    """``name`` if a check has it, else ``TargetError`` (a usage error) with the closest name."""
    try:
        return check_name(name, where)
    except ConfigError as e:
        raise TargetError(str(e)) from None


def _selected(checks: Sequence[str] | None) -> list[Check]:
    """The checks to run (every one when ``checks`` is empty); ``TargetError`` for an unknown
    name."""
    for name in checks or ():
        _known(name, "--check")
    return [c for c in ALL_CHECKS if not checks or c.name in checks]


@dataclasses.dataclass(frozen=True)
class _Acknowledged:
    """A run's acknowledged findings (``xfail``, ``ignore``: check -> reason) and the built-in
    targets' known findings, applied to each result as it comes."""

    spec: str
    xfail: Mapping[str, str]
    ignore: Mapping[str, str]

    @staticmethod
    def of(
        spec: str, xfail: Mapping[str, str] | None, ignore: Mapping[str, str] | Sequence[str] | None
    ) -> _Acknowledged:
        if ignore is not None and not isinstance(ignore, Mapping):
            ignore = {name: "ignored" for name in ignore}
        for name in (*(xfail or {}), *(ignore or {})):
            _known(name, "--xfail" if name in (xfail or {}) else "--ignore")
        return _Acknowledged(spec, dict(xfail or {}), dict(ignore or {}))

    def ignored(self, check: Check, device: str) -> CheckResult | None:
        """The ``ignored`` result that stands for ``check`` on ``device``, or None: run it."""
        if check.name not in self.ignore:
            return None
        return CheckResult(check.name, device, "ignored", "not run", check.description,
                           reason=self.ignore[check.name])  # fmt: skip

    def apply(self, result: CheckResult) -> CheckResult:
        """``result`` with the known finding that explains it and, when acknowledged, as xfail
        or xpass."""
        if result.status in ("failed", "warning", "error"):
            finding = finding_for(self.spec, result.name)
            if finding is not None:
                result = dataclasses.replace(result, finding=str(finding))
        if result.name in self.xfail:
            result = acknowledge(result, self.xfail[result.name])
        return result


def _seed(profile: str, seed: int | None) -> int:
    """``seed``, or 0 under ``ci`` and a fresh random seed otherwise; ``TargetError`` for an
    unknown profile."""
    if profile not in PROFILES:
        raise TargetError(f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")
    return (0 if profile == "ci" else random.randrange(2**31)) if seed is None else seed


def allow_compilation(limits: CallLimits, impls: Iterable[Implementation]) -> None:
    """A target that compiles per input shape declares ``compile_seconds`` (how long one
    compilation may take): every call's adaptive limit, before and after a hang, is at least that
    (still at most the ceiling, ``--timeout``), so a compilation is not taken for a hang."""
    seconds = max((float(getattr(i, "compile_seconds", 0.0) or 0.0) for i in impls), default=0.0)
    if seconds > 0 and limits.adaptive:
        limits.floor = max(limits.floor, seconds)
        limits.hung_floor = max(limits.hung_floor, seconds)


def _built(
    target: str | Implementation,
    device: str | Sequence[str] | None,
    dtype: str | None,
    declaration: Declaration,
    limits: CallLimits,
    isolation: Isolation,
) -> tuple[dict[str, Implementation], dict[str, CheckResult]]:
    """The target built on each device as ``declaration`` says (``build_each``; an
    ``Implementation`` is itself), and ``limits`` told how long it compiles
    (``allow_compilation``)."""
    if isinstance(target, str):
        impls, refused = build_each(
            target, _resolve_devices(device), dtype, declaration, limits=limits,
            isolation=isolation, skip_refused=device is None,
        )  # fmt: skip
    else:
        isolation.applies(target)  # TargetError if it must
        impls, refused = {target.device: target}, {}
    allow_compilation(limits, impls.values())
    return impls, refused


def _limits(run: RunOptions, limits: CallLimits | None) -> CallLimits:
    """The per-call limits: ``limits`` when the caller made them, else adaptive ones under the
    run's ``timeout`` (default ``DEFAULT_TIMEOUT``)."""
    if limits is not None:
        return limits
    return CallLimits(ceiling=DEFAULT_TIMEOUT if run.timeout is None else run.timeout)


def _options(
    declaration: Declaration | None, options: RunOptions | None, keywords: dict[str, Any]
) -> tuple[Declaration, RunOptions, CallLimits | None]:
    """The run's declaration and options: the objects given, with the keywords' values on top
    (``keyword_updates``); a ``CallLimits`` as ``timeout`` is the caller's own limits. A bad
    value is a ``TargetError`` (a usage error)."""
    limits = keywords.pop("timeout") if isinstance(keywords.get("timeout"), CallLimits) else None
    try:
        values = keyword_updates(OPTION_CLASSES, keywords, "run_checks")
    except OptionError as e:
        raise TargetError(str(e)) from None
    return (
        updated(declaration or Declaration(), values), updated(options or RunOptions(), values),
        limits,
    )  # fmt: skip


@closes_workers
def run_checks(
    target: str | Implementation = "torch-gru",
    *,
    progress: Callable[[CheckResult], None] | None = None,
    on_result: Callable[[Report], None] | None = None,
    declaration: Declaration | None = None,
    options: RunOptions | None = None,
    **keywords: Any,
) -> Report:
    """Check ``target`` (a registered name, ``module:attr``, or an ``Implementation``) as
    ``declaration`` says and with the run's ``options``; any option may also be given as a
    keyword (``device=``, ``max_hidden=``, ``activation_error=``, ...: the fields of
    ``Declaration`` and ``RunOptions``, which win over the objects). ``TargetError`` for an
    unknown or broken target, an unknown check (with the closest name), a bad option's value or
    an unavailable device; ``TypeError`` for an unknown keyword."""
    register_profiles()
    start = time.monotonic()
    declaration, run, limits = _options(declaration, options, keywords)
    profile = run.profile or DEFAULT_PROFILE
    seed = _seed(profile, run.seed)
    run = dataclasses.replace(run, profile=profile, seed=seed)
    selected = _selected(run.checks)
    spec = target if isinstance(target, str) else target.name
    acks = _Acknowledged.of(spec, run.xfail, run.ignore)
    limits = _limits(run, limits)
    impls, refused = _built(
        target, run.device, run.dtype, declaration, limits,
        Isolation(run.isolate, run.python, run.memory_limit),
    )  # fmt: skip
    sizes = _sizes(run.max_hidden, run.max_steps, run.max_batch)
    declaration.apply(impls.values())
    dtype_used = next((i.dtype for i in impls.values()), run.dtype or "float32")
    arithmetic = {d: str(arithmetic_of(i)) for d, i in impls.items()}
    strict = bool(run.strict)
    report = Report(
        spec, list(impls), dtype_used, arithmetic, profile, seed, strict=strict,
        declaration=declaration.to_record(), options=to_record(run),
    )  # fmt: skip

    def add(result: CheckResult) -> None:
        report.checks.append(acks.apply(result))
        if progress is not None:
            progress(report.checks[-1])
        if on_result is not None:
            report.seconds = time.monotonic() - start
            on_result(report)

    def repro(device: str | None, dtype: str, check: Check) -> str:
        on = dataclasses.replace(run, device=device)
        return reproduce_command(spec, declaration, on, dtype=dtype, seed=seed, check=check.name)

    for result in refused.values():  # a device refused (skipped), or its build failed
        add(result)
    for d, impl in impls.items():
        model, triage = default_model(impl), Triage()
        for check in (c for c in selected if c.against is None):
            add(acks.ignored(check, d) or run_check(
                check, impl, model=model, profile=profile, seed=seed,
                reproduce=repro(d, impl.dtype, check), timeout=limits, artifacts=run.artifacts,
                sizes=sizes, spec={"target": spec, "declaration": declaration},
                triage=triage))  # fmt: skip
    for check in (c for c in selected if c.against is not None):
        assert check.against is not None
        checked = [d for d in impls if d != check.against.device]
        if check.against.device in impls and checked:
            other = Guarded(impls[check.against.device], timeout=limits)
            add(acks.ignored(check, checked[0]) or run_check(
                check.bound(other), impls[checked[0]], profile=profile, seed=seed,
                reproduce=repro(None, dtype_used, check), timeout=limits, sizes=sizes))  # fmt: skip
    report.seconds = time.monotonic() - start
    return report
