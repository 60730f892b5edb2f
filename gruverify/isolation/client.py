"""The checker's side of isolation: a target that runs in a worker process.

``build_isolated(target, device, dtype, declaration, limits=, python=, memory_limit=)`` starts a worker
(``PYTHON -m gruverify.isolation.worker``, by default this interpreter), has it build the target
and returns an ``IsolatedTarget``: an ``Implementation`` whose ``forward`` / ``gradients`` send
the problem to the worker as arrays and bring the results back. The laws, the reference and the
error model stay here; the worker runs the target's code and the guards on its own process's
state (``gruverify.guard.Guarded``), and only that.

Each call gets the time ``limits`` allows (``gruverify.guard.CallLimits``). A call past its limit
kills the worker (and its process group) and raises ``CallTimeout``; a worker that dies during a
call (a signal such as a segmentation fault or an abort, an exit code such as ``os._exit``)
raises ``TargetDied`` with what ended it and the last lines it wrote to stderr (the faulthandler's
stack). Either way the next call starts a fresh worker and rebuilds the target there, so the run
goes on. Starting or building that fails for a reason of the environment (the interpreter cannot
run, gruverify or the target cannot be imported there, the protocols differ) is a
``TargetError`` that says what that environment needs.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from gruverify.core.arithmetic import Arithmetic
from gruverify.core.params import StackParams, gru_params_from_record
from gruverify.core.problem import Capabilities, Gradients, Outputs, Problem
from gruverify.error_model import Inconclusive
from gruverify.guard import (
    CallFailed,
    CallLimits,
    CallTimeout,
    TargetCrash,
    TargetDied,
)
from gruverify.isolation.protocol import (
    PROTOCOL_VERSION,
    ProtocolError,
    ProtocolMismatch,
    decode_exception,
    gruverify_version,
    read_frame,
    write_frame,
)
from gruverify.laws.base import LawViolation
from gruverify.targets.declaration import Declaration, declaration_of
from gruverify.targets.errors import TargetError

__all__ = [
    "ENVIRONMENT_NEEDS",
    "START_SECONDS",
    "IsolatedTarget",
    "Worker",
    "build_isolated",
    "close_all",
    "closing_new_workers",
    "default_memory_limit",
    "live_workers",
]

START_SECONDS = 60.0
"""How long a worker may take to start (import numpy and gruverify) and say hello."""

ENVIRONMENT_NEEDS = (
    "numpy, gruverify (pip install --no-deps, the same version as the checker's) and the "
    "target's framework"
)

_KNOWN: dict[str, type[Exception]] = {
    "gruverify.error_model.Inconclusive": Inconclusive,
    "gruverify.guard.TargetCrash": TargetCrash,
    "gruverify.targets.errors.TargetError": TargetError,
}

_SIGNALS = {
    signal.SIGSEGV: "a segmentation fault",
    signal.SIGABRT: "an abort (abort(), a failed C assertion or a C++ exception nobody caught)",
    signal.SIGBUS: "a bus error",
    signal.SIGFPE: "a floating-point exception",
    signal.SIGILL: "an illegal instruction",
    signal.SIGKILL: "killed (the out-of-memory killer, or a kill from outside)",
}

_LIVE: set[Worker] = set()


def live_workers() -> list[int]:
    """The process ids of the workers running now (for tests: none after a run)."""
    return sorted(w.pid for w in _LIVE if w.pid is not None)


@contextlib.contextmanager
def closing_new_workers() -> Iterator[None]:
    """Close every worker started (or restarted) inside the body when it ends, however it ends."""
    before = set(_LIVE)
    try:
        yield
    finally:
        for worker in list(_LIVE - before):
            worker.close()


@atexit.register
def _close_all() -> None:
    for worker in list(_LIVE):
        worker.close()


def default_memory_limit(device: str) -> int:
    """Bytes of address space a worker may map: half the machine's memory, at least 4 GiB; none
    (0) on CUDA, whose driver maps the device's memory into the address space."""
    if str(device).startswith("cuda"):
        return 0
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 0
    return max(4 << 30, total // 2)


class _Gone(Exception):
    """The worker ended: ``how`` (a signal, an exit code) and the tail of its stderr."""

    def __init__(self, how: str, tail: str) -> None:
        super().__init__(how)
        self.how = how
        self.tail = tail


def _how(code: int | None) -> str:
    if code is None:
        return "it closed its pipe"
    if code < 0:
        try:
            sig = signal.Signals(-code)
        except ValueError:
            return f"killed by signal {-code}"
        return f"killed by {sig.name}: " + _SIGNALS.get(sig, "a signal")
    return f"exit code {code} (os._exit, or exit() in C code)"


class Worker:
    """One worker process at a time, started on demand; after a kill or a death the next
    request starts a new one."""

    def __init__(self, python: str | None = None, memory_limit: int = 0) -> None:
        self.python = python or sys.executable
        self.memory_limit = memory_limit
        self.proc: subprocess.Popen[bytes] | None = None
        self.stderr: Any = None
        self.built: set[int] = set()
        self.hello: dict[str, Any] = {}
        self.starts = 0

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def _spawn(self) -> subprocess.Popen[bytes]:
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by _tail
        cmd = [self.python, "-m", "gruverify.isolation.worker",
               "--memory-limit", str(self.memory_limit), "--parent", str(os.getpid())]  # fmt: skip
        try:
            return subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
                start_new_session=True, close_fds=True,
            )  # fmt: skip
        except OSError as e:
            raise TargetError(f"cannot run the worker's Python {self.python!r}: {e}") from e

    def start(self) -> None:
        """Start a worker and check its hello (its protocol version)."""
        self.close()
        proc = self._spawn()
        self.proc, self.built, self.starts = proc, set(), self.starts + 1
        _LIVE.add(self)
        try:
            hello = read_frame(self._out(), time.monotonic() + START_SECONDS)
        except ProtocolMismatch as e:
            self.close()
            raise TargetError(self._mismatch(e.version, "?")) from e
        except (EOFError, TimeoutError, ProtocolError) as e:
            gone = self._reap(kill=True)
            raise TargetError(
                f"the worker under {self.python} did not start ({type(e).__name__}: {e}; "
                f"{gone.how}); that environment needs {ENVIRONMENT_NEEDS}" + _quote(gone.tail)
            ) from e
        if hello.get("protocol") != PROTOCOL_VERSION:
            self.close()
            raise TargetError(self._mismatch(hello.get("protocol"), hello.get("gruverify")))
        self.hello = hello

    def _mismatch(self, theirs: Any, version: Any) -> str:
        return (
            f"the worker under {self.python} speaks gruverify's isolation protocol {theirs} "
            f"(gruverify {version}), this checker speaks protocol {PROTOCOL_VERSION} (gruverify "
            f"{gruverify_version()}): install the same gruverify there ({self.python} -m pip install "
            f"--no-deps gruverify=={gruverify_version()}, or the same source tree)"
        )

    def _out(self) -> int:
        assert self.proc is not None and self.proc.stdout is not None
        return self.proc.stdout.fileno()

    def request(self, message: dict[str, Any], limit: float | None) -> Any:
        """Send ``message``, wait ``limit`` seconds (None: no limit) for the reply. Raises
        ``TimeoutError`` (the worker is killed) or ``_Gone`` (it died)."""
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        assert self.proc is not None and self.proc.stdin is not None
        try:
            write_frame(self.proc.stdin.fileno(), message)
            return read_frame(self._out(), None if limit is None else time.monotonic() + limit)
        except TimeoutError:
            self._reap(kill=True)
            raise
        except (EOFError, BrokenPipeError, ProtocolError) as e:
            gone = self._reap(kill=True)
            if isinstance(e, ProtocolError):
                gone.how = f"it broke the protocol ({e}); {gone.how}"
            raise gone from e

    def _reap(self, *, kill: bool) -> _Gone:
        """End the worker (killing its process group when ``kill``), wait for it, and say how it
        ended with the tail of its stderr."""
        proc, self.proc = self.proc, None
        _LIVE.discard(self)
        if proc is None:
            return _Gone("it was not running", "")
        if kill:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL is not refused
            code = None
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()
        return _Gone(_how(code), self._tail())

    def _tail(self, lines: int = 12) -> str:
        if self.stderr is None:
            return ""
        self.stderr.seek(0, os.SEEK_END)
        size = self.stderr.tell()
        self.stderr.seek(max(0, size - 4096))
        text = self.stderr.read().decode("utf-8", "replace").strip()
        self.stderr.close()
        self.stderr = None
        return _last_words(text, lines)

    def close(self) -> None:
        """Ask the worker to exit, then make sure it (and its process group) has."""
        if self.proc is None:
            return
        try:
            assert self.proc.stdin is not None
            write_frame(self.proc.stdin.fileno(), {"op": "exit"})
            self.proc.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired, AssertionError):
            pass
        self._reap(kill=True)


def _last_words(text: str, lines: int) -> str:
    """What to quote of a dead worker's stderr: from the faulthandler's ``Fatal Python error``
    (its stack, most recent call first) when there is one, else the last ``lines`` lines."""
    rows = text.splitlines()
    fatal = [i for i, row in enumerate(rows) if row.startswith("Fatal Python error")]
    if fatal:
        return "\n".join(rows[fatal[-1] : fatal[-1] + lines])
    return "\n".join(rows[-lines:])


def _quote(tail: str) -> str:
    return ("\n  its stderr:\n    " + tail.replace("\n", "\n    ")) if tail else ""


@dataclasses.dataclass(frozen=True)
class _Recipe:
    """How to build one target in a worker (again, after a restart)."""

    handle: int
    target: str
    device: str
    dtype: str | None
    declaration: Declaration
    dropout: float | None = None

    def message(self) -> dict[str, Any]:
        return {
            "op": "build", "handle": self.handle, "target": self.target, "device": self.device,
            "dtype": self.dtype, "declaration": self.declaration.to_record(),
            "dropout": self.dropout, "path": _user_paths(),
        }  # fmt: skip


def _user_paths() -> list[str]:
    """This process's import path without the interpreter's own directories: where module:attr
    targets are found (the working directory, a test directory), for the worker to add."""
    prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    out = []
    for entry in sys.path:
        real = os.path.realpath(entry or os.getcwd())
        if os.path.isdir(real) and not any(real.startswith(p + os.sep) for p in prefixes):
            out.append(real)
    return out


class IsolatedTarget:
    """An ``Implementation`` whose calls run in a ``Worker`` (see the module doc)."""

    runs_elsewhere = True

    def __init__(self, worker: Worker, recipe: _Recipe, limits: CallLimits, info: dict[str, Any]):
        self.worker, self.recipe, self.limits = worker, recipe, limits
        self.name: str = info["name"]
        self.variant = info["variant"]
        self.dtype: str = info["dtype"]
        self.device: str = info["device"]
        self.capabilities = Capabilities(dict(info["missing"]))
        self.arithmetic = Arithmetic(**info["arithmetic"])
        self.methods: tuple[str, ...] = tuple(info["methods"])
        self.devices_seen: list[str] | None = info.get("devices")
        self.declaration_seen: dict[str, Any] | None = info.get("declaration")
        """The declaration the worker built the target with, as it received it."""
        if info.get("fixed_params") is not None:
            self.fixed_params = gru_params_from_record(info["fixed_params"])
        for key, value in info.get("attributes", {}).items():
            if not hasattr(self, key):
                setattr(self, key, value)

    def __getattr__(self, name: str) -> Any:
        if name == "with_dropout" and "with_dropout" in self.__dict__.get("methods", ()):
            return self._with_dropout
        if name == "effective_params" and name in self.__dict__.get("methods", ()):
            return self._effective_params
        raise AttributeError(name)

    def _effective_params(self, params: StackParams[Any]) -> StackParams[Any]:
        """The worker's target's ``effective_params(params)`` (a quantized target's dequantized
        weights), the params sent as a problem's."""
        problem = Problem(params, np.zeros((1, 1, params.input_size)))
        return self._call("effective_params", problem, {})  # type: ignore[no-any-return]

    def _with_dropout(self, dropout: float) -> IsolatedTarget:
        recipe = dataclasses.replace(self.recipe, handle=_next_handle(), dropout=dropout)
        return _build(self.worker, recipe, self.limits)

    def _call(self, op: str, problem: Problem, payload: dict[str, Any]) -> Any:
        what = f"{self.name}.{op}"
        _ensure_built(self.worker, self.recipe, self.limits)
        limit, rule = self.limits.limit(), self.limits.rule()
        start = time.monotonic()
        try:
            reply = self.worker.request(
                {"op": op, "handle": self.recipe.handle, "problem": problem, **payload}, limit
            )
        except TimeoutError:
            self.limits.record_hang()
            assert limit is not None
            raise CallTimeout(what, limit, problem.describe(), rule=rule, killed=True) from None
        except _Gone as gone:
            self.limits.record_death()
            raise TargetDied(what, gone.how, problem.describe(), tail=gone.tail) from None
        self.limits.record(time.monotonic() - start)
        if "error" in reply:
            raise decode_exception(reply["error"], LawViolation, _KNOWN)
        return reply["ok"]

    def forward(self, problem: Problem) -> Outputs:
        return self._call("forward", problem, {})  # type: ignore[no-any-return]

    def gradients(
        self, problem: Problem, d_output: np.ndarray | None, d_h_n: np.ndarray | None
    ) -> Gradients:
        return self._call("gradients", problem, {"d_output": d_output, "d_h_n": d_h_n})  # type: ignore[no-any-return]

    def close(self) -> None:
        self.worker.close()


_HANDLES = iter(range(1, 1 << 62))


def _next_handle() -> int:
    return next(_HANDLES)


def _ensure_built(worker: Worker, recipe: _Recipe, limits: CallLimits) -> dict[str, Any]:
    """Build ``recipe`` in ``worker`` unless it is there; its description. A build that hangs
    or kills the worker raises ``CallTimeout`` / ``TargetDied``; any other failure to build is a
    ``TargetError``."""
    if worker.proc is not None and recipe.handle in worker.built and worker.proc.poll() is None:
        return {}
    what = f"building {recipe.target} on {recipe.device} in a worker"
    limit = limits.build_limit()
    try:
        reply = worker.request(recipe.message(), limit)
    except TimeoutError:
        assert limit is not None
        rule = f"--timeout {limits.ceiling:g} s plus {limits.startup:g} s to start a worker"
        raise CallTimeout(what, limit, rule=rule, killed=True) from None
    except _Gone as gone:
        raise TargetDied(what, gone.how, tail=gone.tail) from None
    if "error" in reply:
        e = decode_exception(reply["error"], LawViolation, _KNOWN)
        message = str(e) if isinstance(e, TargetError) else f"{type(e).__name__}: {e}"
        raise TargetError(message.splitlines()[0] if message else what) from e
    worker.built.add(recipe.handle)
    return reply["ok"]  # type: ignore[no-any-return]


def _build(worker: Worker, recipe: _Recipe, limits: CallLimits) -> IsolatedTarget:
    info = _ensure_built(worker, recipe, limits)
    return IsolatedTarget(worker, recipe, limits, info)


def build_isolated(
    target: str,
    device: str,
    dtype: str | None,
    declaration: Declaration | bool,
    *,
    limits: CallLimits | None = None,
    python: str | None = None,
    memory_limit: int | None = None,
) -> IsolatedTarget:
    """``target`` (a built-in name or ``module:attr``) built in a new worker (see the module
    doc). ``python``: the worker's interpreter (default: this one); ``memory_limit``: bytes of
    address space for the worker (None: ``default_memory_limit(device)``; 0: none). Raises
    ``TargetError`` when the worker cannot start or the target cannot be built there; one whose
    cause is a ``CallTimeout`` / ``TargetDied`` when building it hangs or kills the worker (the
    target misbehaves: the checker reports that as a failure, not a usage error)."""
    limits = limits or CallLimits()
    memory = default_memory_limit(device) if memory_limit is None else memory_limit
    worker = Worker(python, memory)
    recipe = _Recipe(_next_handle(), target, device, dtype, declaration_of(declaration))
    try:
        return _build(worker, recipe, limits)
    except CallFailed as e:
        worker.close()
        raise TargetError(e.detail) from e
    except BaseException:
        worker.close()
        raise


def close_all(targets: Sequence[Any]) -> None:
    """Close the workers of the isolated targets among ``targets``."""
    for t in targets:
        if isinstance(t, IsolatedTarget):
            t.close()
