"""pytest plugin (entry point ``pytest11``): run gruverify's conformance checks in your test suite.

Two ways, both one test per check (a failure shows the law, the numbers, the minimal configuration
and the ``gruverify check`` command that reproduces it; a missing feature is a skip with its
reason):

1. In a test file, a couple of lines::

       from gruverify.pytest_plugin import conformance_tests

       test_my_gru = conformance_tests("my_package.my_module:MyGRU")   # or the class itself

2. From the command line or ini file, no test file needed::

       pytest --gru-target my_package.my_module:MyGRU [--gru-device cpu] [--gru-dtype float32]
       # pyproject.toml: [tool.pytest.ini_options] gru_targets = ["my_package.my_module:MyGRU"]

Options: ``--gru-target`` (repeatable; imported from the rootdir or the working directory, as
``gruverify check`` does), ``--gru-check NAME`` (repeatable: run only these checks, for
``--gru-target`` and ``conformance_tests`` alike), ``--gru-cell`` (targets are GRUCell-shaped),
``--gru-device`` (default: cpu, plus cuda when available), ``--gru-dtype``, ``--gru-profile``
(hypothesis profile, default ci), ``--gru-seed``, and the verdict's: ``--gru-strict``,
``--gru-xfail CHECK=REASON``, ``--gru-ignore CHECK``, ``--gru-activation-error EPS``,
``--gru-accumulator FORMAT`` (the targets' declared arithmetic, ``gruverify check
--activation-error`` and ``--accumulator``; ``activation_error`` and ``accumulator`` in the settings),
``--gru-config FILE`` (default: ``[tool.gruverify]`` in the rootdir's pyproject.toml, read when
the first check runs; the options win over it), and the sizes drawn: ``--gru-max-hidden N``,
``--gru-max-steps T``, ``--gru-max-batch B`` (``max_hidden``, ``max_steps``, ``max_batch`` in the
settings; ``gruverify check --max-hidden`` etc.), and where the target runs: ``--gru-isolate``
(``isolate = true`` in the settings) builds each target in a worker process, as ``gruverify check``
does by default, so that a target that segfaults, aborts or hangs fails its tests instead of
ending or stalling the pytest session; ``--gru-python PATH`` runs that worker under another
environment's Python; ``--gru-timeout SECONDS`` (``timeout``) caps each call into the target
(default 60; isolated, the limit adapts to the target as the CLI's does). Without them the target
runs in pytest's own process, like any code a test calls (class objects too: an isolated worker
imports a class by its ``module:qualname``).

Verdicts are the checker's (``gruverify.conformance.report``): a failure or crash fails the test; a
warning passes it with a ``gruverify.GruverifyWarning`` (``-W error::gruverify.GruverifyWarning``
or ``filterwarnings = ["error::gruverify.GruverifyWarning"]`` makes warnings fail, the pytest
way; so does strict); an acknowledged finding (``xfail``) is marked ``xfail`` with its reason, so
it shows as xfailed while it fails and as XPASS once it passes (a failure under strict); an
ignored check is skipped with its reason; a built-in target's known finding is added to the
message (``gruverify.targets.findings``); a crash of the target shows its traceback, trimmed to
the target's own frames.

Test ids are ``-k``-selectable (``check_id``: no spaces, ``=`` or ``+``):
``gruverify[my_gru:MyGRU][cpu]::h0_None_equals_zeros``, ``test_my_gru[cpu-gradient[output_and_h_n]]``.
A session that ran gruverify's checks and was stopped by Ctrl-C or SIGTERM exits 130 or 143.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import pytest

from gruverify.core.dtypes import DTYPES

__all__ = ["GruCheckItem", "check_id", "conformance_tests", "run_one_check"]

_CACHE: dict[tuple[Any, ...], Any] = {}
_SESSION: dict[str, Any] = {}
"""The running session's pytest config (``"config"``) and its settings once read (``"settings"``)."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gruverify", "GRU conformance checks (gruverify)")
    group.addoption("--gru-target", action="append", default=[], metavar="TARGET",
                    help="check this GRU (built-in name or package.module:attr); repeatable")  # fmt: skip
    group.addoption("--gru-cell", action="store_true", help="the targets are GRUCell-shaped")
    group.addoption("--gru-device", default=None, choices=("cpu", "cuda"),
                    help="device (default: cpu, plus cuda when available)")  # fmt: skip
    group.addoption("--gru-dtype", default=None,
                    choices=DTYPES, help="dtype")  # fmt: skip
    group.addoption("--gru-profile", default=None, choices=("quick", "ci", "thorough"),
                    help="hypothesis profile for the checks (default ci)")  # fmt: skip
    group.addoption("--gru-seed", default=None, type=int, help="fix the draw")
    group.addoption("--gru-strict", action="store_true", default=None,
                    help="gruverify warnings and xpasses fail")  # fmt: skip
    group.addoption("--gru-xfail", action="append", default=[], metavar="CHECK=REASON",
                    help="acknowledge a known finding (repeatable)")  # fmt: skip
    group.addoption("--gru-ignore", action="append", default=[], metavar="CHECK[=REASON]",
                    help="skip this check (repeatable)")  # fmt: skip
    group.addoption("--gru-activation-error", default=None, type=float, metavar="EPS",
                    help="the targets' declared activation error")  # fmt: skip
    group.addoption("--gru-accumulator", default=None, choices=DTYPES, metavar="FORMAT",
                    help="the format the targets' matrix products accumulate in (declared)")  # fmt: skip
    group.addoption("--gru-config", default=None, metavar="FILE",
                    help="gruverify settings (default: [tool.gruverify] in pyproject.toml)")  # fmt: skip
    group.addoption("--gru-isolate", action="store_true", default=None,
                    help="build each target in a worker process (gruverify check's default)")  # fmt: skip
    group.addoption("--gru-python", default=None, metavar="PATH",
                    help="the worker's Python (implies --gru-isolate)")  # fmt: skip
    group.addoption("--gru-timeout", default=None, type=float, metavar="SECONDS",
                    help="the longest one call into the target may take (default 60)")  # fmt: skip
    for name, what in (("hidden", "input and hidden sizes"), ("steps", "sequence lengths"),
                       ("batch", "batches")):  # fmt: skip
        group.addoption(f"--gru-max-{name}", default=None, type=int, metavar="N",
                        help=f"draw {what} up to N (gruverify check --max-{name})")  # fmt: skip
    group.addoption("--gru-check", action="append", default=[], metavar="NAME",
                    help="run only this check (repeatable; gruverify check --check)")  # fmt: skip
    parser.addini("gru_targets", "GRU targets to check (like --gru-target)", type="linelist")


def pytest_configure(config: pytest.Config) -> None:
    _SESSION.clear()
    _SESSION["config"] = config
    timeout = config.getoption("gru_timeout", None)
    if timeout is not None and not timeout > 0:  # the settings file's is checked when read
        raise pytest.UsageError(f"gruverify: --gru-timeout {timeout:g}: expected seconds > 0")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """Keep the running test item, which an acknowledged check marks xfail."""
    _SESSION["item"] = item
    try:
        yield
    finally:
        _SESSION.pop("item", None)


@dataclasses.dataclass(frozen=True)
class _Verdicts:
    """How one check's result becomes a test outcome: the session's settings for one target."""

    strict: bool = False
    xfail: Mapping[str, str] = dataclasses.field(default_factory=dict)
    ignore: Mapping[str, str] = dataclasses.field(default_factory=dict)
    declared: Any = None  # conformance.declared.Declared: activation error, accumulator
    profile: str | None = None
    seed: int | None = None


def _settings() -> Any:
    """The settings file of this session (``--gru-config``, else the rootdir's or working
    directory's pyproject.toml), read once; a mistake in it is a usage error."""
    if "settings" not in _SESSION:
        from gruverify.conformance.config import ConfigError, load_config

        config = _SESSION.get("config")
        path = config.getoption("gru_config") if config is not None else None
        directory = str(config.rootpath) if config is not None else os.getcwd()
        try:
            _SESSION["settings"] = load_config(path, directory=directory)
        except ConfigError as e:
            raise pytest.UsageError(f"gruverify: {e}") from None
    return _SESSION["settings"]


def _verdicts(spec: str) -> _Verdicts:
    """The settings file's, overridden by the session's ``--gru-*`` options, for ``spec``."""
    from gruverify.conformance.config import ConfigError, parse_acknowledgement

    settings = _settings()
    xfail, ignore = settings.acknowledged(spec)
    config = _SESSION.get("config")
    opt = config.getoption if config is not None else (lambda name: None)
    try:
        for text in opt("gru_xfail") or ():
            check, reason = parse_acknowledgement(text, "--gru-xfail", need_reason=True)
            xfail[check] = reason
        for text in opt("gru_ignore") or ():
            check, reason = parse_acknowledgement(text, "--gru-ignore", need_reason=False)
            ignore[check] = reason
    except ConfigError as e:
        raise pytest.UsageError(f"gruverify: {e}") from None
    strict = opt("gru_strict")
    declared = _declared(settings, opt("gru_activation_error"), opt("gru_accumulator"))
    return _Verdicts(bool(settings.strict if strict is None else strict), xfail, ignore,
                     declared, settings.profile, settings.seed)  # fmt: skip


def _declared(base: Any, activation_error: Any, accumulator: Any) -> Any:
    """The declared arithmetic (``conformance.declared.Declared``): each value given, else
    ``base``'s (the settings, or the session's declaration); a bad one is a usage error."""
    from gruverify.conformance.declared import Declared
    from gruverify.targets import TargetError

    try:
        return Declared.checked(
            base.activation_error if activation_error is None else activation_error,
            base.accumulator if accumulator is None else accumulator,
        )
    except TargetError as e:
        raise pytest.UsageError(f"gruverify: {e}") from None


def _sizes(**given: int | None) -> Any:
    """The sizes drawn (``conformance.cases.Sizes``): ``given`` (``max_hidden=`` etc.), else the
    session's ``--gru-max-*`` options, else the settings file's ``max_*`` keys."""
    from gruverify.conformance.cases import Sizes

    settings = _settings()
    config = _SESSION.get("config")
    opt = config.getoption if config is not None else (lambda name: None)
    values = []
    for name in ("hidden", "steps", "batch"):
        v = given.get(f"max_{name}")
        v = opt(f"gru_max_{name}") if v is None else v
        values.append(getattr(settings, f"max_{name}") if v is None else v)
    try:
        return Sizes(*values)
    except ValueError as e:
        raise pytest.UsageError(f"gruverify: {e}") from None


@dataclasses.dataclass(frozen=True)
class _Running:
    """Where the session's targets run and how long a call may take: ``--gru-isolate``,
    ``--gru-python``, ``--gru-timeout``, else the settings' ``isolate`` and ``timeout``."""

    isolate: bool = False
    python: str | None = None
    timeout: float | None = None

    @staticmethod
    def of_session() -> _Running:
        from gruverify.guard import DEFAULT_TIMEOUT

        settings = _settings()
        config = _SESSION.get("config")
        opt = config.getoption if config is not None else (lambda name: None)
        python = opt("gru_python")
        isolate = opt("gru_isolate") or python is not None or bool(settings.isolate)
        timeout = opt("gru_timeout")
        timeout = settings.timeout if timeout is None else timeout
        return _Running(isolate, python, DEFAULT_TIMEOUT if timeout is None else float(timeout))


def _impl(
    target: Any, device: str, dtype: str | None, cell: bool, declared: Any = None
) -> tuple[Any, Any]:
    """The ``Implementation`` for a target spec or the class itself and the time limits of its
    calls (``CallLimits``), cached per session; the class is resolved exactly like its
    ``module:attr`` (``gruverify.targets.resolve_target``; in a worker, that name is what the
    worker imports), with the run's declared arithmetic (``declared``, a ``Declared``) in place of
    its own declaration when given."""
    running = _Running.of_session()
    key = (target, device, dtype, cell, declared, running)
    if key not in _CACHE:
        from gruverify.conformance.building import Isolation, build_one
        from gruverify.conformance.runner import allow_compilation
        from gruverify.guard import CallLimits
        from gruverify.targets import resolve_target, target_spec

        if running.isolate:
            limits = CallLimits(ceiling=running.timeout)
            impl = build_one(target_spec(target), device, dtype, cell, limits,
                             Isolation(True, running.python))  # fmt: skip
            allow_compilation(limits, [impl])
        else:
            limits = CallLimits.fixed(running.timeout)
            impl = resolve_target(target, device=device, dtype=dtype, cell=cell)
        if declared is not None:
            declared.apply([impl])
        _CACHE[key] = (impl, limits)
    return _CACHE[key]  # type: ignore[no-any-return]


def pytest_unconfigure(config: pytest.Config) -> None:
    """End the session's worker processes (``--gru-isolate``); an interrupted session whose
    call into a target still runs (a hang) leaves with ``os._exit`` (``guard.settle``)."""
    from gruverify.guard import unsettled_calls
    from gruverify.isolation.client import close_all

    close_all([impl for impl, _ in _CACHE.values()])
    _CACHE.clear()
    if "interrupted" in _SESSION and unsettled_calls():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(128 + int(_SESSION["interrupted"]))


def _explained(check: str, device: str, result: Any, repro: str, finding: Any) -> str:
    """The test's message: the result, the minimal configuration, the known finding, the
    command that reproduces it."""
    lines = [f"{check} {result.status} on {device}:", result.message.rstrip()]
    ce = result.counterexample or {}
    if ce.get("case"):
        lines.append(
            "minimal configuration: " + ", ".join(f"{k}={v}" for k, v in ce["case"].items())
        )
    if result.traceback:
        lines.append(result.traceback)
    if finding is not None:
        lines.append(f"known finding: {finding}")
    lines.append(f"reproduce: {repro}")
    return "\n".join(lines)


def _triage(impl: Any) -> Any:
    """The session's crash triage for ``impl`` (``conformance.triage``): a trigger found in one
    check's test is reused by the next."""
    from gruverify.conformance.triage import Triage

    found: dict[int, Any] = _SESSION.setdefault("triage", {})
    return found.setdefault(id(impl), Triage())


def _acknowledge(node: Any, reason: str, strict: bool) -> None:
    """Mark the running test ``xfail`` (it fails: xfailed; it passes: XPASS, failing if strict)."""
    if node is not None:
        node.add_marker(pytest.mark.xfail(reason=f"gruverify: {reason}", strict=strict))


def run_one_check(
    target: Any,
    check: str,
    *,
    device: str = "cpu",
    dtype: str | None = None,
    cell: bool = False,
    profile: str | None = None,
    seed: int | None = None,
    strict: bool | None = None,
    xfail: str | None = None,
    ignore: str | None = None,
    activation_error: float | None = None,
    accumulator: str | None = None,
    node: Any = None,
    max_hidden: int | None = None,
    max_steps: int | None = None,
    max_batch: int | None = None,
) -> None:
    """Run one named check as a test: ``pytest.fail`` for a failure (or crash), a
    ``GruverifyWarning`` for a warning (a failure when strict), ``pytest.skip`` for a skip or an
    ignored check; an acknowledged one (``xfail``: its reason) marks ``node`` (default: the
    running test item) xfail. Keywords left None come from the session (``--gru-*`` options,
    the settings file); ``activation_error``, ``accumulator``: the declared arithmetic;
    ``max_hidden``, ``max_steps``, ``max_batch``: the sizes drawn."""
    from gruverify.conformance.checks import CHECKS
    from gruverify.conformance.report import GruverifyWarning
    from gruverify.conformance.runner import reproduce_command, run_check, verdict_options
    from gruverify.targets import TargetError, target_spec
    from gruverify.targets.findings import finding_for

    spec = target_spec(target)
    session = _verdicts(spec)
    strict = session.strict if strict is None else strict
    xfail = session.xfail.get(check) if xfail is None else xfail
    ignore = session.ignore.get(check) if ignore is None else ignore
    declared = _declared(session.declared, activation_error, accumulator)
    by_name = {c.name: c for c in CHECKS}
    if check not in by_name:
        raise ValueError(f"unknown check {check!r}; known: {sorted(by_name)}")
    if ignore is not None:
        pytest.skip(f"gruverify: {check} ignored: {ignore}")
    try:
        impl, limits = _impl(target, device, dtype, cell, declared)
    except TargetError as e:
        pytest.fail(f"gruverify: {e}", pytrace=False)
    node = node if node is not None else _SESSION.get("item")
    if xfail is not None:
        _acknowledge(node, xfail, strict)
    profile = profile or session.profile or "ci"
    seed = (0 if session.seed is None else session.seed) if seed is None else seed
    sizes = _sizes(max_hidden=max_hidden, max_steps=max_steps, max_batch=max_batch)
    options = verdict_options(strict, declared) + sizes.options()
    repro = reproduce_command(spec, device, impl.dtype, profile, seed, check, cell, options=options)
    _SESSION["ran"] = True
    with _sigterm_interrupts():
        result = run_check(by_name[check], impl, profile=profile, seed=seed, reproduce=repro,
                           sizes=sizes, timeout=limits, triage=_triage(impl))  # fmt: skip
    if result.status == "skipped":
        pytest.skip(result.message)
    if result.status == "passed":
        return
    text = _explained(check, device, result, repro, finding_for(spec, check))
    if result.status == "warning" and not strict and xfail is None:
        warnings.warn(GruverifyWarning(text), stacklevel=2)
        return
    if xfail is not None and node is None:
        pytest.xfail(f"gruverify: {xfail}\n{text}")
    pytest.fail(text, pytrace=False)


def _devices(device: str | None) -> list[str]:
    if device is not None:
        return [device]
    from gruverify.conformance.runner import available_devices

    return available_devices()


def conformance_tests(
    target: Any,
    *,
    device: str | None = "cpu",
    dtype: str | None = None,
    cell: bool = False,
    checks: Sequence[str] | None = None,
    profile: str | None = None,
    seed: int | None = None,
    strict: bool | None = None,
    xfail: Mapping[str, str] | None = None,
    ignore: Mapping[str, str] | Sequence[str] | None = None,
    activation_error: float | None = None,
    accumulator: str | None = None,
    max_hidden: int | None = None,
    max_steps: int | None = None,
    max_batch: int | None = None,
) -> Callable[..., None]:
    """A test function parametrized over gruverify's checks for ``target``.

    ``target``: a built-in name, ``"package.module:attr"`` or the module class itself (checked
    exactly as its ``"module:qualname"``, which the reproduce commands name).
    ``device`` None means every available device. ``strict``, ``xfail`` (check -> reason),
    ``ignore`` (check -> reason, or names), ``activation_error`` and ``accumulator`` (the declared
    arithmetic) add to, or override, the session's settings (module docstring); ``max_hidden``, ``max_steps``, ``max_batch`` the sizes
    drawn (``gruverify check --max-hidden`` etc.). Assign the result to a ``test_*`` name.
    """
    from gruverify.conformance.checks import CHECKS
    from gruverify.conformance.config import check_name

    names = list(checks) if checks else [c.name for c in CHECKS]
    params = [(d, n) for d in _devices(device) for n in names]
    xfails = dict(xfail or {})
    ignored = (
        dict(ignore) if isinstance(ignore, Mapping) else dict.fromkeys(ignore or (), "ignored")
    )
    for name in (*names, *xfails, *ignored):
        check_name(name, "conformance_tests")

    @pytest.mark.parametrize(
        ("gru_device", "gru_check"), params, ids=[f"{d}-{check_id(n)}" for d, n in params]
    )
    def test_gru_conformance(gru_device: str, gru_check: str) -> None:
        run_one_check(target, gru_check, device=gru_device, dtype=dtype, cell=cell,
                      profile=profile, seed=seed, strict=strict, xfail=xfails.get(gru_check),
                      ignore=ignored.get(gru_check), activation_error=activation_error,
                      accumulator=accumulator, max_hidden=max_hidden, max_steps=max_steps,
                      max_batch=max_batch)  # fmt: skip

    return test_gru_conformance


class GruCheckItem(pytest.Item):
    """One check of one ``--gru-target`` on one device, collected without a test file."""

    def __init__(self, *, target: str, device: str, check: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target, self.device, self.check = target, device, check

    def runtest(self) -> None:
        opt = self.config.getoption
        run_one_check(self.target, self.check, device=self.device, dtype=opt("gru_dtype"),
                      cell=opt("gru_cell"), profile=opt("gru_profile"), seed=opt("gru_seed"),
                      node=self)  # fmt: skip

    def reportinfo(self) -> tuple[str, int | None, str]:
        return "gruverify", None, self.name


def check_id(name: str) -> str:
    """A check's name as a test id that ``-k`` can select: pytest's ``-k`` takes letters, digits,
    ``_ : - . [ ] / \\`` only, so a space and ``=`` become ``_`` and ``+`` becomes ``_and_``
    (``h0=None equals zeros`` -> ``h0_None_equals_zeros``, ``gradient[output+h_n]`` ->
    ``gradient[output_and_h_n]``)."""
    return name.replace("+", "_and_").replace("=", "_").replace(" ", "_")


def _selected_checks(config: pytest.Config) -> list[str]:
    """The checks ``--gru-check`` names (every check when none); an unknown name is a usage
    error with the closest one."""
    from gruverify.conformance.checks import CHECKS
    from gruverify.conformance.config import ConfigError, check_name

    wanted = list(config.getoption("gru_check", None) or [])
    try:
        for name in wanted:
            check_name(name, "--gru-check")
    except ConfigError as e:
        raise pytest.UsageError(f"gruverify: {e}") from None
    return [c.name for c in CHECKS if not wanted or c.name in wanted]


def _importable_here(config: pytest.Config) -> None:
    """The rootdir and the working directory on ``sys.path``, as ``gruverify check`` has it, so
    that ``--gru-target my_gru:MyGRU`` imports ``my_gru.py`` from there even when no test file
    (whose directory pytest would add) is collected."""
    for directory in (str(config.rootpath), os.getcwd()):
        if directory not in sys.path:
            sys.path.insert(0, directory)


def _gru_items(
    session: pytest.Session, config: pytest.Config, targets: list[str]
) -> list[pytest.Item | pytest.Collector]:
    """One ``GruCheckItem`` per target, device and selected check, reported as collected (so
    that pytest's counts, ``-k`` deselection included, add up)."""
    items: list[pytest.Item | pytest.Collector] = [
        GruCheckItem.from_parent(
            session, name=f"gruverify[{target}][{device}]::{check_id(check)}", target=target,
            device=device, check=check,
        )
        for target in targets
        for device in _devices(config.getoption("gru_device"))
        for check in _selected_checks(config)
    ]  # fmt: skip
    report = pytest.CollectReport("gruverify", "passed", None, items)
    config.hook.pytest_collectreport(report=report)
    return items


def _check_param(item: pytest.Item) -> str | None:
    """The check a ``conformance_tests`` item runs (its ``gru_check`` parameter), else None."""
    callspec = getattr(item, "callspec", None)
    return None if callspec is None else callspec.params.get("gru_check")


def _deselect_unselected(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``conformance_tests`` items of checks ``--gru-check`` does not name, deselected."""
    if not config.getoption("gru_check", None):
        return
    wanted = set(_selected_checks(config))
    drop = [i for i in items if _check_param(i) not in (None, *wanted)]
    if drop:
        items[:] = [i for i in items if i not in drop]
        config.hook.pytest_deselected(items=drop)


@pytest.hookimpl(tryfirst=True)  # before -k and -m deselect
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    _deselect_unselected(config, items)
    targets = list(config.getoption("gru_target") or []) + list(config.getini("gru_targets") or [])
    if targets:
        _importable_here(config)
        items += [i for i in _gru_items(session, config, targets) if isinstance(i, pytest.Item)]


class _Interrupted(KeyboardInterrupt):
    """SIGTERM while a check runs: pytest's interruption (a KeyboardInterrupt), remembered."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises ``_Interrupted`` in the body (the main thread only), so that pytest ends
    the session as for Ctrl-C and the session exits 143 (``pytest_sessionfinish``)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise _Interrupted(signum)

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def pytest_keyboard_interrupt(excinfo: Any) -> None:
    """Remember the signal that interrupted a session that ran gruverify's checks."""
    if _SESSION.get("ran"):
        _SESSION["interrupted"] = getattr(excinfo.value, "signum", signal.SIGINT)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A session of gruverify's checks stopped by Ctrl-C or SIGTERM exits 130 or 143 (128 plus
    the signal), as ``gruverify check`` does."""
    if "interrupted" in _SESSION:
        session.exitstatus = 128 + int(_SESSION["interrupted"])
