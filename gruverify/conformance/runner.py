"""Run the checks against a target: hypothesis draws the cases, a failure shrinks to a minimal one.

``run_checks(target, device=, dtype=, profile=, seed=, checks=, cell=)`` resolves the target on
each device (default: the CPU, plus CUDA when available; a default device the target refuses with
``TargetError``, e.g. a CPU-only library on a CUDA machine, is reported as one skipped result with
the reason), runs every check of ``CHECKS`` (and the
CPU-vs-CUDA agreement when both devices run), and returns a ``Report``.

Each check is one ``@given`` run under the chosen profile's settings with an explicit seed (the
``ci`` profile uses seed 0 unless told otherwise, so it is derandomized; ``quick`` and ``thorough``
draw a fresh seed and report it), no example database, and no deadline. A failing case is shrunk
towards the smallest configuration; shrinking stops after a time budget (the smallest failure found
so far is reported). Laws that raise ``Inconclusive`` count their case as inconclusive, not passed.
"""

from __future__ import annotations

import random
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, example, given, settings
from hypothesis import seed as hypothesis_seed

from gruverify.conformance.cases import Case, cases
from gruverify.conformance.checks import CHECKS, DEVICE_AGREEMENT, Check, check_names
from gruverify.conformance.counterexample import reproduction_blob, save_counterexample
from gruverify.conformance.explain import explain_failure
from gruverify.conformance.report import CheckResult, Report
from gruverify.core.problem import Implementation
from gruverify.error_model import ErrorModel, arithmetic_of
from gruverify.guard import DEFAULT_TIMEOUT, CallTimeout, Guarded, call, preserved
from gruverify.laws.base import Inconclusive, LawViolation
from gruverify.laws.equivalence import law_device_agreement
from gruverify.profiles import DEFAULT_PROFILE, PROFILES, register_profiles
from gruverify.targets import TargetError, resolve_target

__all__ = ["REFUSED_DEVICE", "SHRINK_SECONDS", "available_devices", "run_check", "run_checks"]

REFUSED_DEVICE = "all checks"
"""The name of the skipped result that stands for every check on a device the target refuses."""

SHRINK_SECONDS = {"quick": 5.0, "ci": 10.0, "thorough": 60.0}
"""How long a failing check may spend shrinking, per profile."""


def available_devices() -> list[str]:
    """``["cpu"]``, plus ``"cuda"`` when torch sees a CUDA device."""
    import torch

    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _examples(check: Check, profile: str) -> int:
    base = settings.get_profile(DEFAULT_PROFILE).max_examples
    active = settings.get_profile(profile).max_examples
    return max(1, round(check.examples * active / base))


def _skip_reason(check: Check, impl: Implementation) -> str | None:
    caps = impl.capabilities
    for feature in (*check.requires, *(f for f, on in check.forced.items() if on)):
        if not caps.supports(feature):
            return f"target lacks {feature}: {caps.reason(feature) or 'declared missing'}"
    if check.needs_method and not hasattr(impl, check.needs_method):
        return f"target has no {check.needs_method}() (it cannot be rebuilt for this check)"
    return None


def run_check(
    check: Check,
    impl: Implementation,
    *,
    model: ErrorModel | None = None,
    profile: str = DEFAULT_PROFILE,
    seed: int = 0,
    reproduce: str = "",
    law: Callable[[Implementation, Any, ErrorModel | None], None] | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    artifacts: str | None = None,
    spec: Mapping[str, Any] | None = None,
) -> CheckResult:
    """Run one check on one implementation; never raises for a target's failure or crash.

    Every call into the target is guarded (``gruverify.guard``: ``timeout`` seconds per call,
    torch's global settings, output contract); torch's settings and the random generators are
    restored afterwards. A failure's counterexample carries the seed and hypothesis' reproduction
    blob; with ``artifacts`` (a directory) it is also saved there as a file that
    ``gruverify reproduce FILE`` replays (``spec``: ``{"target": ..., "cell": ...}`` for it).
    """
    with preserved():
        return _run_check(check, impl, model, profile, seed, reproduce, law, timeout, artifacts,
                          spec)  # fmt: skip


def _run_check(
    check: Check,
    impl: Implementation,
    model: ErrorModel | None,
    profile: str,
    seed: int,
    reproduce: str,
    law: Callable[[Implementation, Any, ErrorModel | None], None] | None,
    timeout: float | None,
    artifacts: str | None,
    spec: Mapping[str, Any] | None,
) -> CheckResult:
    register_profiles()
    start = time.monotonic()
    reason = _skip_reason(check, impl)
    if reason is not None:
        return CheckResult(check.name, impl.device, "skipped", reason, check.description)
    model = model or ErrorModel(arithmetic_of(impl))
    run_law = law or check.law
    guarded = impl if isinstance(impl, Guarded) else Guarded(impl, timeout=timeout)
    stats = {"cases": 0, "inconclusive": 0}
    failures: dict[Case, BaseException] = {}
    first_failure: list[float] = []
    budget = SHRINK_SECONDS.get(profile, 10.0)

    strategy = cases(
        impl.capabilities, check.forced, min_steps=check.min_steps, min_batch=check.min_batch,
        big_h0=check.big_h0,
    )  # fmt: skip

    @settings(
        parent=settings.get_profile(profile),
        max_examples=_examples(check, profile),
        database=None,
        derandomize=False,
        deadline=None,
        print_blob=True,  # the blob goes into the exception's notes, not to the terminal
        verbosity=Verbosity.quiet,
        report_multiple_bugs=False,
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis_seed(seed)
    @given(case=strategy)
    def run(case: Case) -> None:
        if case in failures:
            raise failures[case]
        if first_failure and time.monotonic() - first_failure[0] > budget:
            return  # shrink budget spent: report the smallest failure found so far
        stats["cases"] += 1
        try:
            run_law(guarded, case.problem(), model)
        except Inconclusive:
            stats["inconclusive"] += 1
        except Exception as e:  # a violation or a crash of the target, both kept with the case
            e.gruverify_case = case  # type: ignore[attr-defined]
            failures[case] = e
            if not first_failure:
                first_failure.append(time.monotonic())
            if isinstance(e, CallTimeout):  # no shrinking through more hanging calls
                first_failure[0] = -float("inf")
            raise

    for pinned in check.pinned_cases(impl.capabilities):  # run first, under every seed
        run = example(case=pinned)(run)
    try:
        run()
    except Exception as e:
        case = getattr(e, "gruverify_case", None)
        if case is None:  # hypothesis itself failed (flaky target, health check): an error
            return CheckResult(
                check.name, impl.device, "error", f"{type(e).__name__}: {e}",
                check.description, stats["cases"], stats["inconclusive"],
                time.monotonic() - start,
            )  # fmt: skip
        status = "failed" if isinstance(e, LawViolation) else "error"
        message = str(e) if status == "failed" else f"{type(e).__name__}: {e}"
        ce: dict[str, Any] = {"case": case.as_dict(), "problem": case.problem().describe()}
        if isinstance(e, LawViolation):
            ce.update(law=e.law, formula=e.formula, numbers=e.numbers)
        else:
            ce.update(law=check.name, formula="", numbers={})
        ce["reproduce"] = reproduce
        diagnosis = explain_failure(check, guarded, case, model) if status == "failed" else None
        if diagnosis is not None:
            ce["diagnosis"] = diagnosis
            message = f"{message.rstrip()}\n  diagnosis: {diagnosis}"
        ce.update(seed=seed, hypothesis_blob=reproduction_blob(e))
        if artifacts is not None:
            try:
                ce["file"] = save_counterexample(
                    artifacts, check=check, impl=impl, case=case, seed=seed, profile=profile,
                    counterexample=ce, spec=spec or {"target": impl.name, "cell": False},
                )  # fmt: skip
            except OSError as err:  # the verdict stands without the file
                ce["file_error"] = f"cannot save the counterexample under {artifacts}: {err}"
        return CheckResult(
            check.name, impl.device, status, message, check.description, stats["cases"],
            stats["inconclusive"], time.monotonic() - start, ce, diagnosis,
        )  # fmt: skip
    elapsed = time.monotonic() - start
    if stats["cases"] and stats["inconclusive"] == stats["cases"]:
        return CheckResult(
            check.name, impl.device, "skipped",
            f"all {stats['cases']} cases inconclusive in {model.arithmetic}: rounding alone "
            "could explain any difference", check.description, stats["cases"],
            stats["inconclusive"], elapsed,
        )  # fmt: skip
    return CheckResult(
        check.name, impl.device, "passed",
        f"{stats['cases']} cases", check.description, stats["cases"], stats["inconclusive"],
        elapsed,
    )  # fmt: skip


def _resolve_devices(device: str | Sequence[str] | None) -> list[str]:
    import torch

    if device is None:
        return available_devices()
    devices = [device] if isinstance(device, str) else list(device)
    for d in devices:
        if d.startswith("cuda") and not torch.cuda.is_available():
            raise TargetError(f"--device {d}: CUDA is not available on this machine")
        if not (d == "cpu" or d.startswith("cuda")):
            raise TargetError(f"unknown device {d!r}; expected cpu or cuda")
    return devices


def _resolve(
    target: str, device: str, dtype: str | None, cell: bool, timeout: float | None
) -> Implementation:
    """``resolve_target`` under the per-call timeout, leaving torch's state and generators as
    they were; any failure to build the target is a ``TargetError`` (a usage error)."""
    try:
        with preserved():
            return call(
                lambda: resolve_target(target, device=device, dtype=dtype, cell=cell),
                timeout=timeout, what=f"building {target} on {device}",
            )  # fmt: skip
    except TargetError:
        raise
    except CallTimeout as e:
        raise TargetError(
            f"building {target} on {device} did not finish within {e.timeout:g} s (its probe "
            "call hangs?); raise --timeout if it is just slow"
        ) from e
    except Exception as e:
        raise TargetError(
            f"cannot build {target} on {device}: {type(e).__name__}: {e}".splitlines()[0]
        ) from e


def _resolve_each(
    target: str,
    devices: Sequence[str],
    dtype: str | None,
    cell: bool,
    timeout: float | None,
    skip_refused: bool,
) -> tuple[dict[str, Implementation], dict[str, str]]:
    """The target built on each device, and the devices it refused with the reason. A refusal
    (``TargetError``) is kept as a reason when ``skip_refused`` (the devices were not asked for
    by name) and another device works; otherwise it is raised."""
    impls: dict[str, Implementation] = {}
    refused: dict[str, str] = {}
    first: TargetError | None = None
    for d in devices:
        try:
            impls[d] = _resolve(target, d, dtype, cell, timeout)
        except TargetError as e:
            if not skip_refused:
                raise
            first = first or e
            refused[d] = str(e)
    if not impls:
        assert first is not None
        raise first
    return impls, refused


def reproduce_command(
    target: str, device: str | None, dtype: str, profile: str, seed: int, check: str, cell: bool
) -> str:
    """The CLI command that reruns one check with the same draw."""
    parts = ["gruverify", "check", target]
    if cell:
        parts.append("--cell")
    if device is not None:
        parts += ["--device", device]
    parts += ["--dtype", dtype, "--profile", profile, "--seed", str(seed)]
    parts += ["--check", check]
    return shlex.join(parts)


def run_checks(
    target: str | Implementation = "torch-gru",
    *,
    device: str | Sequence[str] | None = None,
    dtype: str | None = None,
    profile: str | None = None,
    seed: int | None = None,
    checks: Sequence[str] | None = None,
    cell: bool = False,
    progress: Callable[[CheckResult], None] | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    artifacts: str | None = None,
) -> Report:
    """Check ``target`` (a registered name, ``module:attr``, or an ``Implementation``).

    ``device`` None means every available device (one the target refuses is skipped, with the
    reason, as long as another runs); ``dtype`` None the target's default;
    ``profile`` ``quick`` | ``ci`` (default) | ``thorough``; ``seed`` None means 0 under ``ci`` and
    a fresh random seed otherwise; ``checks`` restricts to the named checks. ``progress`` is called
    with each result as it completes. ``timeout``: seconds per call into the target (None: no
    limit); ``artifacts``: a directory for counterexample files (None: none written). Raises
    ``TargetError`` for an unknown or broken target, an unknown check or an unavailable device.
    """
    register_profiles()
    start = time.monotonic()
    profile = profile or DEFAULT_PROFILE
    if profile not in PROFILES:
        raise TargetError(f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")
    if seed is None:
        seed = 0 if profile == "ci" else random.randrange(2**31)
    known = check_names()
    for name in checks or ():
        if name not in known:
            raise TargetError(f"unknown check {name!r}; known: {', '.join(known)}")
    selected = [c for c in CHECKS if not checks or c.name in checks]

    if isinstance(target, str):
        impls, refused = _resolve_each(target, _resolve_devices(device), dtype, cell, timeout,
                                       skip_refused=device is None)  # fmt: skip
        devices = list(impls)
        spec = target
    else:
        devices = [target.device]
        impls, refused = {target.device: target}, {}
        spec = target.name
    dtype_used = next(iter(impls.values())).dtype
    arithmetic = {d: str(arithmetic_of(i)) for d, i in impls.items()}
    report = Report(spec, devices, dtype_used, arithmetic, profile, seed)

    def add(result: CheckResult) -> None:
        report.checks.append(result)
        if progress is not None:
            progress(result)

    for d, reason in refused.items():
        add(CheckResult(REFUSED_DEVICE, d, "skipped", f"the target does not run on {d}: {reason}"))

    for d, impl in impls.items():
        model = ErrorModel(arithmetic_of(impl))
        for check in selected:
            repro = reproduce_command(spec, d, impl.dtype, profile, seed, check.name, cell)
            add(run_check(check, impl, model=model, profile=profile, seed=seed, reproduce=repro,
                          timeout=timeout, artifacts=artifacts,
                          spec={"target": spec, "cell": cell}))  # fmt: skip
    cuda = [d for d in devices if d.startswith("cuda")]
    if "cpu" in impls and cuda and (not checks or DEVICE_AGREEMENT in checks):
        cpu_impl = Guarded(impls["cpu"], timeout=timeout)
        agreement = Check(
            DEVICE_AGREEMENT, law_device_agreement,  # type: ignore[arg-type]
            "the same GRU on the CPU and on CUDA agrees within both tolerances", examples=8,
        )  # fmt: skip

        def law(impl: Implementation, problem: Any, model: ErrorModel | None) -> None:
            law_device_agreement(cpu_impl, impl, problem)

        repro = reproduce_command(spec, None, dtype_used, profile, seed, DEVICE_AGREEMENT, cell)
        add(run_check(agreement, impls[cuda[0]], profile=profile, seed=seed, reproduce=repro,
                      law=law, timeout=timeout))  # fmt: skip
    report.seconds = time.monotonic() - start
    return report
