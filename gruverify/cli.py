"""The ``gruverify`` command line.

    gruverify check [TARGET] [--device cpu|cuda] [--dtype float64|float32|float16|bfloat16]
                    [--profile quick|ci|thorough] [--seed N] [--json PATH] [--cell] [--check NAME]
                    [--timeout SECONDS] [--artifacts DIR] [--strict] [--xfail CHECK=REASON]
                    [--ignore CHECK[=REASON]] [--config FILE] [--activation-error EPS]
                    [--accumulator FORMAT] [--max-hidden N] [--max-steps T] [--max-batch B]
    gruverify reproduce FILE [--timeout SECONDS]
    gruverify targets
    gruverify vanishing ...            (when gruverify.analysis.vanishing_cli is installed)

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
import os
import re
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

from gruverify.core.arguments import positive_int
from gruverify.core.names import closest_name

# numpy's BLAS single-threaded unless the user says otherwise, set before numpy is imported: the
# reference's matmuls are small and step by step, and a second OpenBLAS thread spins while it
# waits (8x the CPU time, 6x the wall time of a --max-hidden 256 check on a loaded 2-core machine;
# docs/benchmarks.md). torch's threads, which the target uses, are left as they are.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from gruverify.core.dtypes import DTYPES

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
    from gruverify.conformance.checks import check_names
    from gruverify.guard import DEFAULT_TIMEOUT
    from gruverify.profiles import PROFILES

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
        "returning a gruverify Implementation (docs/adapters.md).",
    )
    check.add_argument("target", nargs="?", default=None, help="built-in name or module:attr")
    check.add_argument(
        "--device", choices=("cpu", "cuda"), help="default: cpu, plus cuda if available"
    )
    check.add_argument("--dtype", choices=DTYPES, help="default: the target's (float32 for torch)")
    check.add_argument(
        "--profile", choices=PROFILES, default=None, help="hypothesis profile (default ci)"
    )
    check.add_argument("--seed", type=int, default=None, help="fix the draw (default 0 under ci)")
    check.add_argument("--json", metavar="PATH", help="write the JSON report to PATH")
    check.add_argument("--cell", action="store_true", help="TARGET is torch.nn.GRUCell-shaped")
    check.add_argument(
        "--check", action="append", metavar="NAME", choices=check_names(),
        help="run only this check (repeatable)",
    )  # fmt: skip
    check.add_argument(
        "--timeout", type=_seconds, default=None, metavar="SECONDS",
        help=f"the most one call into the target may take (default {DEFAULT_TIMEOUT:g}); each "
        "call gets a limit below it that adapts to the target's speed and shortens once it has "
        "hung (docs/checker.md); a call that does not return fails its check",
    )  # fmt: skip
    check.add_argument(
        "--artifacts", metavar="DIR",
        help="where failing cases are saved (default: the --json report's directory, else "
        "./.gruverify)",
    )  # fmt: skip
    _add_verdict_options(check)
    _add_size_options(check)
    _add_isolation_options(check)
    rep = sub.add_parser(
        "reproduce", help="replay a saved counterexample file",
        description="Rerun the check saved in FILE (written by 'gruverify check' when a check "
        "fails) on exactly its case. Exit 0: it holds now; 1: it fails again; 2: FILE or its "
        "target cannot be used.",
    )  # fmt: skip
    rep.add_argument("file", metavar="FILE", help="a counterexample file")
    rep.add_argument(
        "--timeout", type=_seconds, default=DEFAULT_TIMEOUT, metavar="SECONDS",
        help=f"limit per call into the target (default {DEFAULT_TIMEOUT:g})",
    )  # fmt: skip
    _add_isolation_options(rep)
    sub.add_parser("targets", help="list the built-in targets")
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


def _activation_error(text: str) -> float:
    """A declared activation error in [0, 0.1) (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value < 0.1:
        raise argparse.ArgumentTypeError(f"must be in [0, 0.1), got {text!r}")
    return value


def _add_verdict_options(check: argparse.ArgumentParser) -> None:
    """``check``'s options for the verdict: strictness, acknowledged findings, declared
    arithmetic, the settings file."""
    check.add_argument(
        "--strict", action="store_true", default=None,
        help="warnings (and xpasses of acknowledged findings) fail the verdict: exit 1",
    )  # fmt: skip
    check.add_argument(
        "--xfail", action="append", default=[], metavar="CHECK=REASON",
        help="acknowledge a known finding: CHECK still runs; failing is xfail, passing xpass "
        "(repeatable)",
    )  # fmt: skip
    check.add_argument(
        "--ignore", action="append", default=[], metavar="CHECK[=REASON]",
        help="do not run CHECK; it is listed as ignored (repeatable)",
    )  # fmt: skip
    check.add_argument(
        "--config", metavar="FILE",
        help="read [tool.gruverify] from FILE (default: ./pyproject.toml when it has one)",
    )  # fmt: skip
    check.add_argument(
        "--activation-error", type=_activation_error, default=None, metavar="EPS",
        help="the target's sigmoid and tanh values may be off by EPS (declared approximate "
        "activations; folded into the tolerances and printed)",
    )  # fmt: skip
    check.add_argument(
        "--accumulator", choices=DTYPES, default=None, metavar="FORMAT",
        help=f"the target's matrix products accumulate in FORMAT ({', '.join(DTYPES)}): "
        "tighter tolerances for long products; declare only what you know (docs/checker.md)",
    )  # fmt: skip


def _add_size_options(check: argparse.ArgumentParser) -> None:
    """``check``'s size options (``max_hidden``, ``max_steps``, ``max_batch`` in the settings)."""
    check.add_argument(
        "--max-hidden", type=positive_int, metavar="N",
        help="draw input and hidden sizes up to N, favouring tile boundaries (multiples of 8, "
        "16, 32, 64, 128 and one either side) and N itself (default 9)",
    )  # fmt: skip
    check.add_argument(
        "--max-steps", type=positive_int, metavar="T",
        help="draw sequences of up to T steps, favouring powers of two and one past them, and T "
        "(default 9; the forward[long] check runs 33 to max(130, T) steps)",
    )  # fmt: skip
    check.add_argument(
        "--max-batch", type=positive_int, metavar="B",
        help="draw batches of up to B, favouring multiples of 8 to 128 and one either side, and "
        "B (default 4)",
    )  # fmt: skip


def _verdict_settings(args: argparse.Namespace, target: str) -> dict[str, object]:
    """``run_checks`` keywords from the settings file and the command line (which wins);
    ``ConfigError`` for either's mistakes."""
    from gruverify.conformance.config import load_config, parse_acknowledgement

    settings = load_config(args.config)
    xfail, ignore = settings.acknowledged(target)
    for text in args.xfail:
        check, reason = parse_acknowledgement(text, "--xfail", need_reason=True)
        xfail[check] = reason
    for text in args.ignore:
        check, reason = parse_acknowledgement(text, "--ignore", need_reason=False)
        ignore[check] = reason
    if args.profile is None:
        args.profile = settings.profile
    if args.seed is None:
        args.seed = settings.seed
    return {
        "strict": bool(args.strict if args.strict is not None else settings.strict),
        "xfail": xfail, "ignore": ignore,
        **{k: getattr(args, k) if getattr(args, k) is not None else getattr(settings, k)
           for k in ("activation_error", "accumulator", "max_hidden", "max_steps", "max_batch")},
        **_isolation_settings(args, settings),
    }  # fmt: skip


def _gibibytes(text: str) -> float:
    """A memory size in GiB, 0 for none (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of GiB: {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be 0 (no limit) or positive GiB, got {text!r}")
    return value


def _add_isolation_options(check: argparse.ArgumentParser) -> None:
    """``check``'s options for running the target in a worker process (``isolate`` in the
    settings)."""
    check.add_argument(
        "--isolate", action=argparse.BooleanOptionalAction, default=None,
        help="run the target in a worker process (the default for a named target): a call past "
        "its limit kills the worker, a crash (segfault, abort, os._exit) fails its check, and "
        "the run goes on with a new worker; --no-isolate runs it in this process",
    )  # fmt: skip
    check.add_argument(
        "--python", metavar="PATH",
        help="run the worker under this Python (another virtualenv); it needs numpy, gruverify "
        "(pip install --no-deps) and the target's framework",
    )  # fmt: skip
    check.add_argument(
        "--memory-limit", type=_gibibytes, default=None, metavar="GIB",
        help="the worker's address-space limit in GiB (default: half the machine's memory, at "
        "least 4; none on CUDA; 0: none); an allocation beyond it raises MemoryError",
    )  # fmt: skip


def _isolation_settings(args: argparse.Namespace, settings: Any) -> dict[str, object]:
    """``run_checks`` keywords for isolation and time limits, from the command line and the
    settings (the command line wins)."""
    from gruverify.conformance.building import DEFAULT_ISOLATE
    from gruverify.guard import DEFAULT_TIMEOUT

    limit = None if args.memory_limit is None else int(args.memory_limit * 2**30)
    timeout = args.timeout if args.timeout is not None else settings.timeout
    return {
        "isolate": next(
            v for v in (args.isolate, settings.isolate, DEFAULT_ISOLATE) if v is not None
        ),
        "python": args.python, "memory_limit": limit,
        "timeout": DEFAULT_TIMEOUT if timeout is None else float(timeout),
    }  # fmt: skip


class _Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM during a check run (a KeyboardInterrupt, so no code under test and no
    hypothesis search takes it for a failure)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def _interrupts_raised() -> Iterator[None]:
    """SIGINT and SIGTERM raise ``_Interrupted`` in the body (the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise _Interrupted(signum)

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _write_json(report: Any, path: str) -> None:
    """The report as JSON at ``path``, atomically (a reader never sees half a file)."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".gruverify-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(report.to_json() + "\n")
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

    def interrupted(self, signum: int) -> int:
        """Say what finished before signal ``signum`` and write it; the exit status."""
        name = signal.Signals(signum).name
        report = self.report
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
    from gruverify.conformance.config import ConfigError
    from gruverify.conformance.report import CheckResult, TracebackNotes
    from gruverify.conformance.runner import run_checks
    from gruverify.targets import DEFAULT_TARGET, TARGETS, TargetError

    target = args.target or ("torch-grucell" if args.cell else DEFAULT_TARGET)
    if target == "torch-grucell":
        args.cell = False
    if args.cell and target in TARGETS:
        return _err(
            f"--cell is for package.module:attr targets; {target} is a built-in target (for "
            "torch.nn.GRUCell use torch-grucell)"
        )
    if args.json and not os.path.isdir(os.path.dirname(os.path.abspath(args.json))):
        return _err(f"--json {args.json}: directory {os.path.dirname(args.json)!r} does not exist")
    artifacts = args.artifacts or (
        os.path.dirname(os.path.abspath(args.json)) if args.json else ".gruverify"
    )
    if os.path.exists(artifacts) and not os.path.isdir(artifacts):
        return _err(f"--artifacts {artifacts}: exists and is not a directory")

    try:
        verdict_settings = _verdict_settings(args, target)
    except ConfigError as e:
        return _err(str(e).splitlines()[0])

    tracebacks = TracebackNotes()

    def progress(result: CheckResult) -> None:
        print(result.line(), flush=True)
        for note in [*result.notes(), *tracebacks.notes(result)]:
            print(note)
        ce = result.counterexample or {}
        if ce.get("file"):
            print(f"{'':13} counterexample saved: {ce['file']} (gruverify reproduce {ce['file']})")
        elif ce.get("file_error"):
            print(f"{'':13} {ce['file_error']}")

    partial = _PartialReport(args.json)
    try:
        with _interrupts_raised():
            report = run_checks(
                target, device=args.device, dtype=args.dtype, profile=args.profile,
                seed=args.seed, checks=args.check, cell=args.cell, progress=progress,
                artifacts=artifacts, on_result=partial.update,
                **verdict_settings,  # type: ignore[arg-type]
            )  # fmt: skip
    except TargetError as e:
        return _err(str(e).splitlines()[0])
    except _Interrupted as e:
        return _interrupted_exit(partial.interrupted(e.signum))
    report.complete = True
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
    from gruverify.targets import TargetError

    isolate = DEFAULT_ISOLATE if args.isolate is None else args.isolate
    limit = None if args.memory_limit is None else int(args.memory_limit * 2**30)
    try:
        code, text = replay(
            args.file, timeout=args.timeout, isolation=Isolation(isolate, args.python, limit)
        )
    except (CounterexampleError, TargetError) as e:
        return _err(str(e).splitlines()[0])
    print(text)
    return code


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
    matrix.add_argument("--config", metavar="FILE", help="read [tool.gruverify.matrix] from FILE")
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
        checks=tuple(args.check),
    )  # fmt: skip


def _previous_matrix(path: str | None) -> Any:
    """The ``--fail-on-regression`` report, or None; an error that names the option."""
    import json

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
