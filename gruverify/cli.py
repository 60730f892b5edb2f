"""The ``gruverify`` command line.

    gruverify check [TARGET] [OPTIONS] [--json PATH] [--config FILE]
    gruverify reproduce FILE [--timeout SECONDS] [--isolate | --no-isolate] [--python PATH]
                       [--standalone [-o PATH] [--issue PATH]]
    gruverify targets
    gruverify options [--write FILE]   (every option: flag, settings key, pytest option, meaning)
    gruverify suggest TARGET [--write FILE.toml]   (the declaration a hand-written GRU needs)
    gruverify matrix ...
    gruverify vanishing ...            (when gruverify.analysis.vanishing_cli is installed)

``check``'s options are derived from their one definition (``gruverify.core.options``: the
``Declaration`` of the target and the ``RunOptions`` of the run).

Exit status: 0 the target conforms (warnings, acknowledged findings and skips do not fail it), 1 a
check failed (or crashed; with --strict also a warning or an xpass), 2 a usage or import error
(one line on stderr, no traceback), a bad settings file included. Settings come from
``[tool.gruverify]`` in ./pyproject.toml or ``--config FILE``; the command line wins. ``check`` with no TARGET checks torch.nn.GRU on every device
of this machine (the CPU, plus CUDA when available). A failing check saves its case to a
counterexample file (under --artifacts, default: the --json report's directory, else
./.gruverify/) that ``gruverify reproduce FILE`` replays (exit 0 it holds now, 1 it fails again).
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import os
import re
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

from gruverify.core.names import closest_name

# numpy's BLAS single-threaded unless the user says otherwise, set before numpy is imported: the
# reference's matmuls are small and step by step, and a second OpenBLAS thread spins while it
# waits (8x the CPU time, 6x the wall time of a --max-hidden 256 check on a loaded 2-core machine;
# docs/benchmarks.md). torch's threads, which the target uses, are left as they are.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


__all__ = ["build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit 2) instead of a usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {_did_you_mean(message)} (see {self.prog} --help)\n")


def _did_you_mean(message: str) -> str:
    """argparse's "invalid choice: 'X' (choose from ...)" with the closest choice suggested."""
    m = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)$", message)
    if not m:
        return message
    close = closest_name(m.group(1), re.findall(r"'([^']*)'", m.group(2)))
    return message + (f"; did you mean {close!r}?" if close else "")


def _seconds(text: str) -> float:
    """A positive number of seconds (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"the timeout must be positive seconds, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from gruverify.conformance.options import OPTION_CLASSES, RunOptions
    from gruverify.core.options import add_arguments

    parser = _Parser(
        prog="gruverify", description="Verify GRU implementations against a float64 reference."
    )
    _add_version(parser)
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    check = sub.add_parser(
        "check",
        help="check a GRU implementation (default: torch.nn.GRU on this machine's devices)",
        description="Run gruverify's laws against TARGET: a built-in name (see 'gruverify "
        "targets') or package.module:attr naming a class or factory with torch.nn.GRU's "
        "constructor and state-dict layout (torch.nn.GRUCell's with --cell), or an adapter "
        "returning a gruverify Implementation (docs/adapters.md). Every option but --json and "
        "--config may also be set in [tool.gruverify] (docs/checker.md).",
    )
    check.add_argument(
        "target", nargs="?", default=None,
        help="built-in name, module:attr, or a model file (.onnx: docs/model-files.md)",
    )  # fmt: skip
    check.add_argument("--json", metavar="PATH", help="write the JSON report to PATH")
    check.add_argument(
        "--config", metavar="FILE",
        help="read [tool.gruverify] from FILE (default: ./pyproject.toml when it has one)",
    )  # fmt: skip
    add_arguments(check.add_argument, OPTION_CLASSES)
    rep = sub.add_parser(
        "reproduce", help="replay a saved counterexample file",
        description="Rerun the check saved in FILE (written by 'gruverify check' when a check "
        "fails) on exactly its case. Exit 0: it holds now; 1: it fails again; 2: FILE or its "
        "target cannot be used.",
    )  # fmt: skip
    rep.add_argument("file", metavar="FILE", help="a counterexample file")
    add_arguments(
        rep.add_argument, [RunOptions], only=("timeout", "isolate", "python", "memory_limit")
    )
    rep.add_argument(
        "--standalone", action="store_true",
        help="write a script that reproduces the case with the target's library and numpy only "
        "(no gruverify) instead of replaying it",
    )  # fmt: skip
    rep.add_argument("-o", "--output", metavar="PATH", help="--standalone: the script's path "
                     "(default: FILE with .py)")  # fmt: skip
    rep.add_argument("--issue", metavar="PATH", help="--standalone: also write an issue text "
                     "(Markdown) for the library's tracker")  # fmt: skip
    sub.add_parser("targets", help="list the built-in targets")
    options = sub.add_parser(
        "options", help="list every option: flag, settings key, pytest option, meaning",
        description="Print the table of options (a markdown table), generated from their one "
        "definition; --write FILE puts it between FILE's '<!-- options:begin -->' and "
        "'<!-- options:end -->' lines.",
    )  # fmt: skip
    options.add_argument("--write", metavar="FILE", help="update the table in FILE")
    sug = sub.add_parser(
        "suggest", help="find the declaration under which a hand-written GRU is the reference's",
        description="Search the catalogue of conventions (calling convention, variant, update "
        "convention, gate order, bias form, parameter layout) for the declaration under which "
        "TARGET (module:attr, built as attr(input_size, hidden_size)) matches the float64 "
        "reference, and print it as a [tool.gruverify.target] table. Exit 0: a declaration "
        "explains it; 1: none does (the closest candidates are printed: a real bug is not a "
        "convention); 2: TARGET cannot be used.",
    )  # fmt: skip
    sug.add_argument("target", help="package.module:attr")
    sug.add_argument("--write", metavar="FILE", help="write the declaration to FILE (TOML) for "
                     "'gruverify check TARGET --config FILE'")  # fmt: skip
    _add_matrix_parser(sub)
    try:
        from gruverify.analysis.vanishing_cli import add_vanishing_parser
    except ImportError:  # pragma: no cover - optional subcommand
        pass
    else:
        add_vanishing_parser(sub)
    return parser


def _add_version(parser: argparse.ArgumentParser) -> None:
    """``gruverify --version``: the installed version, and the Python it runs under."""
    from gruverify.conformance.report import gruverify_version

    python = ".".join(map(str, sys.version_info[:3]))
    parser.add_argument(
        "--version", action="version", version=f"gruverify {gruverify_version()} (Python {python})"
    )


def _run_options(args: argparse.Namespace, target: str) -> tuple[Any, Any]:
    """The run's ``Declaration`` and ``RunOptions``: the settings file's values for ``target``,
    overridden by the command line's (acknowledged findings add up); ``ConfigError`` or
    ``OptionError`` for either's mistakes."""
    from gruverify.conformance.building import DEFAULT_ISOLATE
    from gruverify.conformance.config import load_config
    from gruverify.conformance.options import OPTION_CLASSES
    from gruverify.core.options import given_values, instances

    values = load_config(args.config).for_target(target)
    for name, value in given_values(vars(args).get, OPTION_CLASSES).items():
        acknowledged = name in ("xfail", "ignore") and name in values
        values[name] = {**values[name], **value} if acknowledged else value
    if values.get("isolate") is None:
        values["isolate"] = DEFAULT_ISOLATE
    declaration, run = instances(OPTION_CLASSES, values)
    return declaration, run


class _Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM during a check run (a KeyboardInterrupt, so no code under test and no
    hypothesis search takes it for a failure)."""

    def __init__(self, signum: int, late: bool = False) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.late = late
        """Raised after the result of the check the signal came in (``_Signals.check``): that
        result is not to be trusted (the lost exception may have broken its run)."""


class _Signals:
    """The signal that interrupted the run, kept: the handler's exception can be swallowed where
    it lands (a garbage-collector callback, a ``__del__``: seen in hypothesis' gc callback), so
    the run asks again between results (``check``)."""

    def __init__(self) -> None:
        self.pending: int | None = None

    def check(self) -> None:
        """Raise ``_Interrupted`` if a signal came and its exception was lost."""
        if self.pending is not None:
            raise _Interrupted(self.pending, late=True)


@contextlib.contextmanager
def _interrupts_raised() -> Iterator[_Signals]:
    """SIGINT and SIGTERM raise ``_Interrupted`` in the body (the main thread only) and are kept
    in the ``_Signals`` it yields."""
    signals = _Signals()
    if threading.current_thread() is not threading.main_thread():
        yield signals
        return

    def handler(signum: int, frame: Any) -> None:
        signals.pending = signum
        raise _Interrupted(signum)

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield signals
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _write_json(report: Any, path: str) -> None:
    """The report as JSON at ``path``, atomically (a reader never sees half a file)."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".gruverify-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(report.to_dict(), indent=2) + "\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class _PartialReport:
    """The report as the run goes: rewritten (``complete`` false) after every result, so a run
    stopped from outside leaves every finished check on disk; its summary when interrupted."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.report: Any = None

    def update(self, report: Any) -> None:
        self.report = report
        report.complete = False
        if self.path:
            with contextlib.suppress(OSError):  # the final write reports a bad path
                _write_json(report, self.path)

    def interrupted(self, signum: int, late: bool = False) -> int:
        """Say what finished before signal ``signum`` and write it (``late``: without the last
        result, which ran while the signal came); the exit status."""
        name = signal.Signals(signum).name
        report = self.report
        if late and report is not None and report.checks:
            report.checks.pop()
        if report is None:
            print(f"gruverify: interrupted by {name} before any check finished", file=sys.stderr)
            return 128 + signum
        report.complete, report.interrupted = False, name
        print(
            f"\n{report.target}: INTERRUPTED by {name} after {len(report.checks)} results "
            f"(verdict so far {report.verdict_so_far.upper()}; incomplete); {report.count_phrase()}; "
            f"{report.seconds:.1f} s"
        )
        if report.failures:
            print("\n" + report.explain_first_failure())
        if self.path:
            try:
                _write_json(report, self.path)
            except OSError as e:
                return _err(f"cannot write {self.path}: {e}")
        return 128 + signum


def _err(message: str) -> int:
    print(f"gruverify: error: {message}", file=sys.stderr)
    return 2


def _check(args: argparse.Namespace) -> int:
    import dataclasses

    from gruverify.conformance.config import ConfigError
    from gruverify.conformance.runner import run_checks
    from gruverify.targets import DEFAULT_TARGET, TARGETS, TargetError
    from gruverify.targets.model_files import is_model_file

    target = args.target or ("torch-grucell" if args.cell else DEFAULT_TARGET)
    try:
        declaration, run = _run_options(args, target)
    except ConfigError as e:  # OptionError too: both are ValueErrors with one line
        return _err(str(e).splitlines()[0])
    except ValueError as e:
        return _err(str(e).splitlines()[0])
    if target == "torch-grucell":
        declaration = dataclasses.replace(declaration, cell=False)
    if declaration.cell and target in TARGETS:
        return _err(
            f"--cell is for package.module:attr targets; {target} is a built-in target (for "
            "torch.nn.GRUCell use torch-grucell)"
        )
    if args.json and not os.path.isdir(os.path.dirname(os.path.abspath(args.json))):
        return _err(f"--json {args.json}: directory {os.path.dirname(args.json)!r} does not exist")
    artifacts = run.artifacts or (
        os.path.dirname(os.path.abspath(args.json)) if args.json else ".gruverify"
    )
    if os.path.exists(artifacts) and not os.path.isdir(artifacts):
        return _err(f"--artifacts {artifacts}: exists and is not a directory")
    run = dataclasses.replace(run, artifacts=artifacts)

    if is_model_file(target):
        return _check_file(args, target, declaration, run)

    partial = _PartialReport(args.json)
    try:
        with _interrupts_raised() as signals:
            report = run_checks(
                target, declaration=declaration, options=run,
                progress=_progress_printer(signals), on_result=partial.update,
            )  # fmt: skip
            signals.check()
    except TargetError as e:
        return _err(str(e).splitlines()[0])
    except _Interrupted as e:
        return _interrupted_exit(partial.interrupted(e.signum, e.late))
    report.complete = True
    _print_verdict(report)
    if args.json:
        try:
            _write_json(report, args.json)
        except OSError as e:
            return _err(f"cannot write {args.json}: {e}")
    return 0 if report.verdict == "pass" else 1


def _progress_printer(signals: _Signals) -> Any:
    """The line a check's result prints as it completes: its status line, notes, the target's
    traceback (once per distinct error) and where its counterexample was saved; then a signal
    whose exception was lost is raised (``_Signals.check``)."""
    from gruverify.conformance.report import TracebackNotes

    tracebacks = TracebackNotes()

    def progress(result: Any) -> None:
        print(result.line(), flush=True)
        for note in [*result.notes(), *tracebacks.notes(result)]:
            print(note)
        ce = result.counterexample or {}
        if ce.get("file"):
            print(f"{'':13} counterexample saved: {ce['file']} (gruverify reproduce {ce['file']})")
        elif ce.get("file_error"):
            print(f"{'':13} {ce['file_error']}")
        signals.check()

    return progress


def _print_verdict(report: Any) -> None:
    """The run's verdict line, its warnings and errors, and its first failure explained."""
    print(
        f"{report.target}: {report.verdict_phrase()} on {', '.join(report.devices)} in "
        f"{report.dtype}, arithmetic {', '.join(f'{d}: {a}' for d, a in report.arithmetic.items())}; "
        f"{report.count_phrase()}; profile {report.profile}, seed {report.seed}, "
        f"{report.seconds:.1f} s"
    )
    for block in (report.explain_warnings(), report.explain_errors()):
        if block:
            print("\n" + block)
    if report.failures:
        print("\n" + report.explain_first_failure())
        ce = report.failures[0].counterexample or {}
        if ce.get("hypothesis_blob"):
            print(f"hypothesis: {ce['hypothesis_blob']} (seed {ce.get('seed')})")
        if ce.get("file"):
            print(f"replay this case: gruverify reproduce {ce['file']}")


def _check_file(args: argparse.Namespace, path: str, declaration: Any, run: Any) -> int:
    """``gruverify check FILE``: each GRU of a model file checked, one verdict each and one for
    the file (``gruverify.conformance.model_file``); exit 0 / 1 / 2 as for a target."""
    from gruverify.conformance.model_file import run_file_checks
    from gruverify.targets import TargetError

    def begin(entry: Any) -> None:
        matched = f" (source: {entry.source_name()})" if entry.source is not None else ""
        print(f"GRU {entry.name}: {entry.gru.shape()}, {entry.gru.variant}{matched}", flush=True)

    try:
        with _interrupts_raised() as signals:
            report = run_file_checks(
                path, declaration=declaration, options=run,
                progress=_progress_printer(signals), begin=begin,
            )  # fmt: skip
            signals.check()
    except TargetError as e:
        return _err(str(e).splitlines()[0])
    except _Interrupted as e:
        print(f"gruverify: interrupted by {signal.Signals(e.signum).name}", file=sys.stderr)
        return _interrupted_exit(128 + e.signum)
    print("\n".join(report.summary()))
    failing = [r for r in report.reports if r.failures]
    if failing:
        print("\n" + failing[0].explain_first_failure())
    if args.json:
        try:
            _write_json(report, args.json)
        except OSError as e:
            return _err(f"cannot write {args.json}: {e}")
    return 0 if report.verdict == "pass" else 1


def _reproduce(args: argparse.Namespace) -> int:
    from gruverify.conformance.building import DEFAULT_ISOLATE, Isolation
    from gruverify.conformance.counterexample import CounterexampleError
    from gruverify.conformance.replay import replay
    from gruverify.guard import DEFAULT_TIMEOUT
    from gruverify.targets import TargetError

    if args.standalone:
        return _standalone(args)
    isolate = DEFAULT_ISOLATE if args.isolate is None else args.isolate
    timeout = DEFAULT_TIMEOUT if args.timeout is None else args.timeout
    try:
        code, text = replay(
            args.file, timeout=timeout,
            isolation=Isolation(isolate, args.python, args.memory_limit),
        )  # fmt: skip
    except (CounterexampleError, TargetError) as e:
        return _err(str(e).splitlines()[0])
    print(text)
    return code


def _suggest(args: argparse.Namespace) -> int:
    from gruverify.conformance.suggest import suggest, toml
    from gruverify.targets import TargetError
    from gruverify.targets.resolve import load_attr

    try:
        found = suggest(load_attr(args.target), args.target)
    except TargetError as e:
        return _err(str(e).splitlines()[0])
    if found.found is None:
        print(f"{args.target}: no declaration of the catalogue explains it ({found.tried} tried, "
              f"{found.dtype}): a bug, not a convention. Closest candidates:")  # fmt: skip
        for c in found.closest:
            print(f"  max error {c.error:.3g}{'  (' + c.note + ')' if c.note else ''}")
            print("    " + toml(args.target, c.declaration).replace("\n", "\n    ").rstrip())
        return 1
    text = toml(args.target, found.found.declaration)
    print(f"# {args.target} matches the reference (max error {found.found.error:.3g}, "
          f"{found.dtype}, candidate {found.tried}) under:")  # fmt: skip
    print(text, end="")
    if args.write:
        try:
            with open(args.write, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as e:
            return _err(f"--write {args.write}: {e}")
        print(f"# written to {args.write}: gruverify check {args.target} --config {args.write}")
    return 0


def _options_table(path: str | None) -> int:
    from gruverify.conformance.options import options_table, write_readme_table

    if path is None:
        print(options_table())
        return 0
    try:
        changed = write_readme_table(path)
    except (OSError, ValueError) as e:
        return _err(f"--write {path}: {e}")
    print(f"{'updated' if changed else 'up to date'}: {path}")
    return 0


def _standalone(args: argparse.Namespace) -> int:
    from gruverify.conformance.counterexample import CounterexampleError
    from gruverify.conformance.standalone import StandaloneError, write_standalone

    try:
        path = write_standalone(args.file, args.output, args.issue)
    except (CounterexampleError, StandaloneError) as e:
        return _err(str(e).splitlines()[0])
    print(f"wrote {path}: run it with `python {path}` (exit 1 while the bug is present)")
    if args.issue:
        print(f"wrote {args.issue}: the issue text")
    return 0


def _targets() -> int:
    """Every built-in target, with what this environment lacks to run it (``find_spec`` only:
    no framework is imported)."""
    from gruverify.targets import TARGETS
    from gruverify.targets.requirements import unavailable

    width = max(len(n) for n in TARGETS)
    missing = 0
    for name, (_, description) in TARGETS.items():  # one line each, name first
        why = unavailable(name)
        missing += why is not None
        print(f"{name:{width}}  {description}" + (f"  [unavailable here: {why}]" if why else ""))
    if missing:
        print(
            f"{missing} of {len(TARGETS)} targets cannot run in this environment", file=sys.stderr
        )
    return 0


def _target_value(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` (argparse type for --python-for and --timeout-for)."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise argparse.ArgumentTypeError(f"expected TARGET=VALUE, got {text!r}")
    return name.strip(), value.strip()


def _add_matrix_parser(sub: Any) -> None:
    from gruverify.conformance.checks import check_names
    from gruverify.profiles import PROFILES

    matrix = sub.add_parser(
        "matrix", help="check every built-in target that can run here; a table and a picture",
        description="Check each built-in target in a process of its own (JOBS at a time) and "
        "write OUT/matrix.json, OUT/matrix.md and OUT/matrix.png (docs/conformance-matrix.md). "
        "A target whose framework is not installed for its interpreter is 'unavailable', with "
        "the reason. Settings may also come from [tool.gruverify.matrix] (targets, python, "
        "timeout, jobs). Exit 0 when it ran, whatever the verdicts; 1 with --fail-on-regression "
        "when something got worse; 2 a usage error.",
    )  # fmt: skip
    matrix.add_argument("--targets", metavar="NAME,...", help="default: every built-in target")
    matrix.add_argument("--profile", choices=PROFILES, default="ci", help="default ci")
    matrix.add_argument("--seed", type=int, default=0, help="the checks' seed (default 0)")
    matrix.add_argument(
        "--out", metavar="DIR", default="gruverify-matrix", help="default ./gruverify-matrix"
    )
    matrix.add_argument(
        "--jobs", type=int, default=None, metavar="N", help="targets checked at once (default 1)"
    )
    matrix.add_argument(
        "--python-for", type=_target_value, action="append", default=[], metavar="TARGET=PYTHON",
        help="check TARGET with this interpreter, e.g. paddle=.venv-paddle/bin/python (repeatable)",
    )  # fmt: skip
    matrix.add_argument(
        "--timeout-for", type=_target_value, action="append", default=[], metavar="TARGET=SECONDS",
        help="check --timeout for TARGET (default: torch-compile=300, others the checker's)",
    )  # fmt: skip
    matrix.add_argument(
        "--target-limit", type=_seconds, default=1800.0, metavar="SECONDS",
        help="the most one target's whole check may take (default 1800); then it is an error",
    )  # fmt: skip
    matrix.add_argument(
        "--fail-on-regression",
        metavar="PREVIOUS.json",
        help="exit 1 when a verdict or a check's status is worse than there",
    )
    matrix.add_argument(
        "--config", metavar="FILE",
        help="read [tool.gruverify.matrix] from FILE, and each target's check its [tool.gruverify] "
        "settings (default: ./pyproject.toml)",
    )  # fmt: skip
    matrix.add_argument(
        "--check", action="append", default=[], metavar="NAME", choices=check_names(),
        help="run only this check on every target (repeatable)",
    )  # fmt: skip


def _matrix_plan(args: argparse.Namespace) -> Any:
    from gruverify.conformance.matrix import MatrixError, MatrixPlan, load_matrix_table
    from gruverify.targets import TARGETS

    table = load_matrix_table(args.config)
    names = args.targets.split(",") if args.targets else table.get("targets", list(TARGETS))
    names = [n.strip() for n in names if n.strip()]
    for name in names:
        if name not in TARGETS:
            close = difflib.get_close_matches(name, list(TARGETS), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else " (run `gruverify targets`)"
            raise MatrixError(f"unknown target {name!r}{hint}")
    python_for = {k: str(v) for k, v in table.get("python", {}).items()}
    python_for.update(dict(args.python_for))
    timeout_for = {k: float(v) for k, v in table.get("timeout", {}).items()}
    try:
        timeout_for.update({k: float(v) for k, v in args.timeout_for})
    except ValueError as e:
        raise MatrixError(f"--timeout-for: {e}") from None
    jobs = args.jobs if args.jobs is not None else int(table.get("jobs", 1))
    if jobs < 1:
        raise MatrixError(f"--jobs must be at least 1, got {jobs}")
    return MatrixPlan(
        tuple(dict.fromkeys(names)), args.out, profile=args.profile, seed=args.seed, jobs=jobs,
        python_for=python_for, timeout_for=timeout_for, target_limit=args.target_limit,
        checks=tuple(args.check), config=args.config,
    )  # fmt: skip


def _previous_matrix(path: str | None) -> Any:
    """The ``--fail-on-regression`` report, or None; an error that names the option."""

    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise OSError(f"--fail-on-regression {path}: {e.strerror or e}") from None
    except ValueError as e:
        raise ValueError(f"--fail-on-regression {path}: not a matrix.json ({e})") from None


def _matrix(args: argparse.Namespace) -> int:
    from gruverify.conformance.matrix import MatrixError, regressions, run_matrix, write_matrix

    try:
        plan = _matrix_plan(args)
        previous = _previous_matrix(args.fail_on_regression)
    except (MatrixError, OSError, ValueError) as e:
        return _err(str(e))

    def progress(row: dict[str, Any]) -> None:
        reason = f": {row['reason']}" if row["reason"] else ""
        print(
            f"{row['verdict'].upper():11} {row['target']} ({row['seconds']:g} s){reason}",
            flush=True,
        )

    doc = run_matrix(plan, on_row=progress)
    paths = write_matrix(doc, plan.out)
    for path in paths:
        print(f"wrote {path}")
    if not any(p.endswith(".png") for p in paths):
        print("no picture (matrix.png): matplotlib is not installed; pip install 'gruverify[plot]'")
    if previous is not None:
        worse = regressions(previous, doc)
        for line in worse:
            print(f"REGRESSION {line}")
        return 1 if worse else 0
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gruverify`` console script; returns the exit status."""
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # module:attr targets from the working directory
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "check":
            return _check(args)
        if args.command == "targets":
            return _targets()
        if args.command == "suggest":
            return _suggest(args)
        if args.command == "options":
            return _options_table(args.write)
        if args.command == "matrix":
            return _matrix(args)
        if args.command == "reproduce":
            return _reproduce(args)
        if args.command == "vanishing":
            from gruverify.analysis.vanishing_cli import run_vanishing

            return run_vanishing(args)
    except KeyboardInterrupt:
        return _interrupted_exit(130)
    parser.print_help()
    return 2


def _interrupted_exit(code: int) -> int:
    """``code`` once no call into the target still runs in a thread of this process; when one
    does (a hung call), the process ends here with ``os._exit(code)``: Python's exit would
    abort inside torch (``terminate called without an active exception``, exit status 134;
    ``gruverify.guard.settle``)."""
    from gruverify.guard import unsettled_calls

    if unsettled_calls():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
