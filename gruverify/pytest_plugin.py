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

Options: ``--gru-target`` (repeatable), ``--gru-config FILE`` (default: ``[tool.gruverify]`` in the
rootdir's pyproject.toml, read when the first check runs), and every option of ``gruverify
check`` as ``--gru-NAME`` (``--gru-device``, ``--gru-dtype``, ``--gru-check NAME`` to select checks,
``--gru-strict``, ``--gru-xfail CHECK=REASON``, ``--gru-activation-error EPS``,
``--gru-max-hidden N``, ``--gru-isolate``, ``--gru-python PATH``, ``--gru-timeout SECONDS``, ...):
the options are defined once (``gruverify.conformance.options``; ``gruverify options`` lists them)
and these flags are derived from them. The settings file's values for the target come first (its
top-level keys, then ``[tool.gruverify.target."NAME"]``), the ``--gru-*`` options over them,
``conformance_tests``' keywords over those. ``--gru-isolate`` (``isolate = true``) builds each
target in a worker process, as ``gruverify check`` does by default, so that a target that
segfaults, aborts or hangs fails its tests instead of ending or stalling the pytest session;
``--gru-python PATH`` runs that worker under another environment's Python (and implies it);
``--gru-timeout SECONDS`` caps each call into the target (default 60; isolated, the limit adapts
to the target as the CLI's does). Without them the target runs in pytest's own process, like any
code a test calls (class objects too: an isolated worker imports a class by its
``module:qualname``). ``--gru-artifacts DIR`` saves failing cases as counterexample files.

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
``--gru-target`` modules are imported from the rootdir or the working directory, as ``gruverify
check`` does. A session that ran gruverify's checks and was stopped by Ctrl-C or SIGTERM exits 130
or 143.
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

__all__ = ["GruCheckItem", "check_id", "conformance_tests", "run_one_check"]

_CACHE: dict[tuple[Any, ...], Any] = {}
_SESSION: dict[str, Any] = {}
"""The running session's pytest config (``"config"``) and its settings once read (``"settings"``)."""


def pytest_addoption(parser: pytest.Parser) -> None:
    from gruverify.conformance.options import OPTION_CLASSES
    from gruverify.core.options import add_arguments

    group = parser.getgroup("gruverify", "GRU conformance checks (gruverify)")
    group.addoption("--gru-target", action="append", default=[], metavar="TARGET",
                    help="check this GRU (built-in name or package.module:attr); repeatable")  # fmt: skip
    group.addoption("--gru-config", default=None, metavar="FILE",
                    help="gruverify settings (default: [tool.gruverify] in pyproject.toml)")  # fmt: skip
    add_arguments(group.addoption, OPTION_CLASSES, plugin=True)
    parser.addini("gru_targets", "GRU targets to check (like --gru-target)", type="linelist")


def pytest_configure(config: pytest.Config) -> None:
    _SESSION.clear()
    _SESSION["config"] = config


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """Keep the running test item, which an acknowledged check marks xfail."""
    _SESSION["item"] = item
    try:
        yield
    finally:
        _SESSION.pop("item", None)


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


def _layered(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Option values, each layer over the ones before (acknowledged findings add up)."""
    values: dict[str, Any] = {}
    for layer in layers:
        for name, value in layer.items():
            merge = name in ("xfail", "ignore") and name in values
            values[name] = {**values[name], **value} if merge else value
    return values


def _options(spec: str, keywords: Mapping[str, Any]) -> tuple[Any, Any]:
    """The ``Declaration`` and ``RunOptions`` of one check of ``spec``: the settings file's, the
    session's ``--gru-*`` options over them, the test's keywords (``conformance_tests(...)``)
    over those; a bad value is a usage error."""
    from gruverify.conformance.options import OPTION_CLASSES
    from gruverify.core.options import OptionError, given_values, instances, keyword_updates

    config = _SESSION.get("config")
    get = (lambda dest: config.getoption(dest, None)) if config is not None else (lambda d: None)
    try:
        given = given_values(get, OPTION_CLASSES, plugin=True)
        from_keywords = keyword_updates(OPTION_CLASSES, keywords, "conformance_tests")
    except OptionError as e:
        raise pytest.UsageError(f"gruverify: {e}") from None
    values = _layered(_settings().for_target(spec), given, from_keywords)
    if values.get("python") is not None:
        values.setdefault("isolate", True)  # a worker's Python implies a worker
    declaration, run = instances(OPTION_CLASSES, values)
    return declaration, run


def _impl(target: Any, device: str, declaration: Any, run: Any) -> tuple[Any, Any]:
    """The ``Implementation`` for a target spec or the class itself and the time limits of its
    calls (``CallLimits``), cached per session; the class is resolved exactly like its
    ``module:attr`` (``gruverify.targets.resolve_target``; in a worker, that name is what the
    worker imports), built as ``declaration`` says, where ``run`` says (``isolate``, ``python``,
    ``memory_limit``, ``timeout``)."""
    declared = repr(sorted(declaration.to_record().items()))  # a mapping field is unhashable
    key = (target, device, declared, run.dtype, run.isolate, run.python, run.memory_limit,
           run.timeout)  # fmt: skip
    if key not in _CACHE:
        from gruverify.conformance.building import Isolation, build_one
        from gruverify.conformance.runner import allow_compilation
        from gruverify.guard import DEFAULT_TIMEOUT, CallLimits
        from gruverify.targets import resolve_target, target_spec

        timeout = DEFAULT_TIMEOUT if run.timeout is None else run.timeout
        if run.isolate:
            limits = CallLimits(ceiling=timeout)
            impl = build_one(target_spec(target), device, run.dtype, declaration, limits,
                             Isolation(True, run.python, run.memory_limit))  # fmt: skip
            allow_compilation(limits, [impl])
        else:
            limits = CallLimits.fixed(timeout)
            impl = resolve_target(target, device=device, dtype=run.dtype, declaration=declaration)
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


def run_one_check(target: Any, check: str, *, node: Any = None, **keywords: Any) -> None:
    """Run one named check as a test: ``pytest.fail`` for a failure (or crash), a
    ``GruverifyWarning`` for a warning (a failure when strict), ``pytest.skip`` for a skip or an
    ignored check; an acknowledged one (in ``xfail``) marks ``node`` (default: the running test
    item) xfail. ``keywords``: any option (``device=``, ``dtype=``, ``strict=``, ``xfail=``,
    ``activation_error=``, ``max_hidden=``, ...: ``gruverify.conformance.options``) over the
    session's (``--gru-*`` options, then the settings file); ``device`` defaults to cpu."""

    from gruverify.conformance.cases import Sizes
    from gruverify.conformance.checks import CHECKS
    from gruverify.conformance.report import GruverifyWarning
    from gruverify.conformance.runner import reproduce_command, run_check
    from gruverify.targets import TargetError, target_spec
    from gruverify.targets.findings import finding_for

    spec = target_spec(target)
    declaration, run = _options(spec, keywords)
    device = _devices(run.device or "cpu")[0]  # the test's one device
    by_name = {c.name: c for c in CHECKS}
    if check not in by_name:
        raise ValueError(f"unknown check {check!r}; known: {sorted(by_name)}")
    strict = bool(run.strict)
    xfail = (run.xfail or {}).get(check)
    ignore = (run.ignore or {}).get(check)
    if ignore is not None:
        pytest.skip(f"gruverify: {check} ignored: {ignore}")
    try:
        impl, limits = _impl(target, device, declaration, run)
        sizes = Sizes(run.max_hidden, run.max_steps, run.max_batch)  # checked: no ValueError
    except TargetError as e:
        pytest.fail(f"gruverify: {e}", pytrace=False)
    node = node if node is not None else _SESSION.get("item")
    if xfail is not None:
        _acknowledge(node, xfail, strict)
    profile = run.profile or "ci"
    seed = 0 if run.seed is None else run.seed
    run = dataclasses.replace(run, device=device, profile=profile)
    repro = reproduce_command(spec, declaration, run, dtype=impl.dtype, seed=seed, check=check)
    _SESSION["ran"] = True
    with _sigterm_interrupts():
        result = run_check(by_name[check], impl, profile=profile, seed=seed, reproduce=repro,
                           sizes=sizes, timeout=limits, artifacts=run.artifacts,
                           spec={"target": spec, "declaration": declaration},
                           triage=_triage(impl))  # fmt: skip
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


def _devices(device: str | Sequence[str] | None) -> list[str]:
    if device is not None:
        return [device] if isinstance(device, str) else list(device)
    from gruverify.conformance.runner import available_devices

    return available_devices()


def conformance_tests(
    target: Any, *, device: str | None = "cpu", **keywords: Any
) -> Callable[..., None]:
    """A test function parametrized over gruverify's checks for ``target``.

    ``target``: a built-in name, ``"package.module:attr"`` or the module class itself (checked
    exactly as its ``"module:qualname"``, which the reproduce commands name). ``device`` None
    means every available device. ``keywords``: any option of ``gruverify.conformance.options``
    (``checks``, ``dtype``, ``cell``, ``profile``, ``seed``, ``strict``, ``xfail`` (check ->
    reason), ``ignore`` (check -> reason, or names), ``activation_error``, ``accumulator``,
    ``max_hidden``, ``isolate``, ...), which add to, or override, the session's settings (module
    docstring). Assign the result to a ``test_*`` name.
    """
    from gruverify.conformance.checks import CHECKS
    from gruverify.conformance.options import OPTION_CLASSES
    from gruverify.core.options import OptionError, keyword_values

    try:
        _, run = keyword_values(OPTION_CLASSES, keywords, "conformance_tests")
    except OptionError as e:
        raise ValueError(str(e)) from None
    names = list(run.checks) if run.checks else [c.name for c in CHECKS]
    params = [(d, n) for d in _devices(device) for n in names]

    @pytest.mark.parametrize(
        ("gru_device", "gru_check"), params, ids=[f"{d}-{check_id(n)}" for d, n in params]
    )
    def test_gru_conformance(gru_device: str, gru_check: str) -> None:
        run_one_check(target, gru_check, device=gru_device, **keywords)

    return test_gru_conformance


class GruCheckItem(pytest.Item):
    """One check of one ``--gru-target`` on one device, collected without a test file."""

    def __init__(self, *, target: str, device: str, check: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target, self.device, self.check = target, device, check

    def runtest(self) -> None:
        run_one_check(self.target, self.check, device=self.device, node=self)

    def reportinfo(self) -> tuple[str, int | None, str]:
        return "gruverify", None, self.name


def check_id(name: str) -> str:
    """A check's name as a test id that ``-k`` can select: pytest's ``-k`` takes letters, digits,
    ``_ : - . [ ] / \\`` only, so a space and ``=`` become ``_`` and ``+`` becomes ``_and_``
    (``h0=None equals zeros`` -> ``h0_None_equals_zeros``, ``gradient[output+h_n]`` ->
    ``gradient[output_and_h_n]``)."""
    return name.replace("+", "_and_").replace("=", "_").replace(" ", "_")


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
    """One ``GruCheckItem`` per target, device and selected check (the settings' and
    ``--gru-*`` options: ``device``, ``checks``), reported as collected (so that pytest's
    counts, ``-k`` deselection included, add up)."""
    from gruverify.conformance.checks import CHECKS

    items: list[pytest.Item | pytest.Collector] = []
    for target in targets:
        _, run = _options(target, {})
        items += [
            GruCheckItem.from_parent(
                session, name=f"gruverify[{target}][{device}]::{check_id(check)}", target=target,
                device=device, check=check,
            )
            for device in _devices(run.device)
            for check in run.checks or [c.name for c in CHECKS]
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
    _, run = _options("", {})  # --gru-check, or the settings' checks
    if not run.checks:
        return
    drop = [i for i in items if _check_param(i) not in (None, *run.checks)]
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
    """SIGINT or SIGTERM while a check runs: pytest's interruption (a KeyboardInterrupt),
    remembered."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _interrupt_handler(signum: int, frame: Any) -> None:
    """Within a check: raise at once. Between tests: keep the signal for the next test's setup
    (``pytest_runtest_setup``) or the session's end, where pytest can report it (raised at an
    arbitrary instruction, a KeyboardInterrupt may carry a traceback entry without a line
    number, which pytest fails to format); a second signal raises at once."""
    pending = _SESSION.setdefault("pending_signals", [])
    pending.append(signum)
    if _SESSION.get("in_check") or len(pending) > 1:
        raise _Interrupted(signum)


def _deliver(pending: list[int]) -> None:
    """Raise the first kept signal, once: its exception is on its way to pytest."""
    signum = pending[0]
    pending.clear()
    raise _Interrupted(signum)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A signal kept between tests (``_interrupt_handler``) ends the session here."""
    pending = _SESSION.get("pending_signals")
    if pending:
        _deliver(pending)


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGINT and SIGTERM raise ``_Interrupted`` (the main thread only), so that pytest ends the
    session as for Ctrl-C and the session exits 130 or 143 (``pytest_sessionfinish``). The
    handler is installed at the first check and kept until the session ends (a signal between two
    checks is theirs too: it ends the session at the next test's setup), and the signal is kept:
    its exception can land where it is swallowed (hypothesis' garbage-collector callback), so a
    kept signal is raised again when a check begins or ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if "old_handlers" not in _SESSION:
        _SESSION["old_handlers"] = {
            s: signal.signal(s, _interrupt_handler) for s in (signal.SIGINT, signal.SIGTERM)
        }
    pending: list[int] = _SESSION.setdefault("pending_signals", [])
    if pending:
        _deliver(pending)
    _SESSION["in_check"] = True
    try:
        yield
    except KeyboardInterrupt:
        pending.clear()  # delivered: on its way to pytest
        raise
    finally:
        _SESSION["in_check"] = False
    if pending:
        _deliver(pending)


def _restore_signal_handlers() -> None:
    """The handlers the session had before its first check (``_sigterm_interrupts``)."""
    for s, h in _SESSION.pop("old_handlers", {}).items():
        signal.signal(s, h)


def pytest_keyboard_interrupt(excinfo: Any) -> None:
    """Remember the signal that interrupted a session that ran gruverify's checks."""
    if _SESSION.get("ran"):
        _SESSION["interrupted"] = getattr(excinfo.value, "signum", signal.SIGINT)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A session of gruverify's checks stopped by Ctrl-C or SIGTERM exits 130 or 143 (128 plus
    the signal), as ``gruverify check`` does."""
    _restore_signal_handlers()
    pending = _SESSION.get("pending_signals") or []
    if pending and _SESSION.get("ran"):
        _SESSION.setdefault("interrupted", pending[0])
    if "interrupted" in _SESSION:
        session.exitstatus = 128 + int(_SESSION["interrupted"])
