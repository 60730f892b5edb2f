"""Guards around calls into code under test: global state, a per-call timeout, output contracts.

A checker runs other people's code unattended; whatever that code does, the checker must finish,
give a verdict that says what happened, and leave the process as it found it. Three guards:

- **Global state.** ``GlobalState.capture()`` records what a GRU call has no business changing:
  ``torch.get_default_dtype()``, the TF32 flags (``torch.backends.cuda.matmul.allow_tf32``,
  ``torch.backends.cudnn.allow_tf32``, ``torch.get_float32_matmul_precision()``), grad mode,
  inference mode, anomaly mode, the deterministic-algorithm flags
  (``torch.are_deterministic_algorithms_enabled()``, ``cudnn.deterministic``, ``cudnn.benchmark``,
  ``cudnn.enabled``), torch's thread count and the seed of torch's global generator
  (``torch.initial_seed()``, which ``torch.manual_seed`` changes). ``watch(what)`` compares it
  before and after a call: any change is restored and raised as a ``LawViolation`` naming it
  (``global state unchanged``). Drawing random numbers is not a change (building a module draws
  its initial weights); the generators' states (torch CPU and CUDA, numpy's global, Python's
  ``random``) are restored by ``preserved()``, which the checker wraps around each check and run.
- **Timeout.** ``call(fn, timeout=s)`` runs ``fn`` in a daemon thread and waits ``s`` seconds. A
  call that does not return raises ``CallTimeout`` (a ``LawViolation``). Python cannot kill a
  thread: the hung call is abandoned and may keep running (and holding a core) in the background
  until the process exits. ``SystemExit`` (and any other ``BaseException``) raised by the call
  becomes ``TargetCrash``, so a target cannot end the checker's process (``os._exit`` still can;
  ``gruverify.isolation`` runs the target in a worker process, whose death is ``TargetDied``).
  ``CallLimits`` is the per-call limit that adapts to the target: ``max(10 s, 20 x`` the slowest
  call seen so far), at most the ceiling (``--timeout``), and ``max(1 s, 5 x`` the slowest) once
  the target is known to hang (the rules: ``CallLimits``, docs/checker.md).
- **Output contract.** ``validate_outputs`` / ``validate_gradients`` check what an
  ``Implementation`` returns against the ``Problem``: the right types, shapes
  (``output (T, B, D H)``, ``h_n (L D, B, H)``; gradients shaped like what they differentiate) and,
  where the problem's pre-activations are within the dtype's range, finite values;
  ``validate_tensor`` checks a raw torch tensor's type, dtype and device. ``Guarded(impl)`` applies
  all of this to every ``forward`` / ``gradients`` call, plus the law that a call leaves its
  ``Problem`` (inputs, parameters, cotangents) unmodified.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import numpy as np

from gruverify.core.problem import Gradients, Implementation, Outputs, Problem
from gruverify.core.shapes import problem_shape
from gruverify.core.tracebacks import trimmed_traceback
from gruverify.laws.base import Inconclusive, LawViolation

__all__ = [
    "DEFAULT_TIMEOUT",
    "CallFailed",
    "CallLimits",
    "CallTimeout",
    "GlobalState",
    "Guarded",
    "TargetCrash",
    "TargetDied",
    "call",
    "crash_traceback",
    "preserved",
    "settle",
    "unsettled_calls",
    "validate_gradients",
    "validate_outputs",
    "validate_tensor",
    "watch",
]

DEFAULT_TIMEOUT = 60.0
"""Seconds one ``forward`` / ``gradients`` call may take (the CLI's ``--timeout``)."""

T = TypeVar("T")

_local = threading.local()
"""``abandoned``: set (an Event) in a worker whose call timed out; it then leaves state alone."""


def _abandoned() -> bool:
    event = getattr(_local, "abandoned", None)
    return event is not None and event.is_set()


class CallFailed(LawViolation):
    """A call into the target that did not finish: it hung (``CallTimeout``) or its process died
    (``TargetDied``). Never the behaviour a law expects (a rejection, an error): laws re-raise it."""


class CallTimeout(CallFailed):
    """A call did not return within its limit (abandoned in-process, or its worker killed)."""

    def __init__(
        self, what: str, timeout: float, case: str = "", *, rule: str = "", killed: bool = False
    ) -> None:
        then = (
            "the worker process running it was killed (and is restarted for the next call)"
            if killed
            else "the call was abandoned (Python cannot stop a thread: it may still run in the "
            "background until the process exits)"
        )
        super().__init__(
            "per-call timeout",
            f"every call returns within its limit ({rule or f'{timeout:g} s; --timeout'})",
            f"{what} did not return within {timeout:g} s; {then}",
            {"timeout s": timeout},
            case,
        )
        self.what = what
        self.timeout = timeout


class TargetDied(CallFailed):
    """The worker process running the target ended during a call: a signal (segmentation fault,
    abort, the out-of-memory killer) or an exit code (``os._exit``)."""

    def __init__(self, what: str, how: str, case: str = "", *, tail: str = "") -> None:
        detail = f"{what} ended the process running it: {how}"
        if tail:
            detail += "\n  the worker's last words (stderr):\n    " + tail.replace("\n", "\n    ")
        super().__init__(
            "the target's process survives every call",
            "a call returns or raises; it never ends the process it runs in",
            detail,
            {"how": how},
            case,
        )
        self.what = what
        self.how = how


class TargetCrash(Exception):
    """The target raised a ``BaseException`` that is not an ``Exception`` (e.g. ``SystemExit``)."""


FLOOR_SECONDS = 10.0
"""Adaptive limit: the least a call gets while the target has not hung."""
SLOWEST_FACTOR = 20.0
"""Adaptive limit: a call gets this many times the slowest call seen, until the target hangs."""
HUNG_FLOOR_SECONDS = 1.0
"""Adaptive limit: the least a call gets once the target has hung (a target known to hang)."""
HUNG_FACTOR = 5.0
"""Adaptive limit: a call gets this many times the slowest call seen, once the target has hung."""
STARTUP_SECONDS = 60.0
"""What building a target in a new worker may take beyond the ceiling (Python, the framework's
import)."""


@dataclasses.dataclass
class CallLimits:
    """The time limit of each call into a target, learnt from the target's calls.

    Rules (``adaptive``): until the target first hangs, a call gets
    ``min(ceiling, max(10 s, 20 x slowest))``, ``slowest`` being the slowest call that returned
    so far; once it has hung (``hangs`` > 0: the verdict is a failure already), every later call,
    in every later check, gets ``min(ceiling, max(1 s, 5 x slowest))``, so that a target that
    hangs on many inputs costs seconds per check, not the ceiling. ``ceiling`` is ``--timeout``
    (default 60 s; None: no limit at all). Not ``adaptive`` (``CallLimits.fixed``): every call
    gets ``ceiling``. One ``CallLimits`` is shared by every check of a run, so what it learns
    carries over. Building the target in a worker process (``gruverify.isolation``: starting
    Python, importing the framework, the probe call) may take ``build_limit()``, the ceiling plus
    ``startup`` (60 s).
    """

    ceiling: float | None = DEFAULT_TIMEOUT
    adaptive: bool = True
    floor: float = FLOOR_SECONDS
    factor: float = SLOWEST_FACTOR
    hung_floor: float = HUNG_FLOOR_SECONDS
    hung_factor: float = HUNG_FACTOR
    startup: float = STARTUP_SECONDS
    slowest: float = 0.0
    calls: int = 0
    hangs: int = 0
    deaths: int = 0
    """Calls that killed their worker (``TargetDied``): the runner shrinks through deaths only
    in the first check where one happens (each costs a new worker)."""

    @classmethod
    def fixed(cls, seconds: float | None) -> CallLimits:
        """Every call gets ``seconds`` (None: no limit)."""
        return cls(ceiling=seconds, adaptive=False)

    def _terms(self) -> tuple[float, float]:
        return (self.hung_floor, self.hung_factor) if self.hangs else (self.floor, self.factor)

    def limit(self) -> float | None:
        """Seconds the next call may take (None: no limit)."""
        if self.ceiling is None or not self.adaptive:
            return self.ceiling
        floor, factor = self._terms()
        return min(self.ceiling, max(floor, factor * self.slowest))

    def build_limit(self) -> float | None:
        """Seconds building the target in a new worker may take (None: no limit)."""
        return None if self.ceiling is None else self.ceiling + self.startup

    def rule(self) -> str:
        """How ``limit()`` was chosen, in words (for a timeout's message)."""
        if self.ceiling is None:
            return "no limit"
        if not self.adaptive:
            return f"{self.ceiling:g} s; --timeout"
        floor, factor = self._terms()
        return (
            f"adaptive: max({floor:g} s, {factor:g} x {self.slowest:.3g} s, the slowest of "
            f"{self.calls} calls{', once the target has hung' if self.hangs else ''}), at most "
            f"--timeout {self.ceiling:g} s"
        )

    def record(self, seconds: float) -> None:
        """A call returned after ``seconds``."""
        self.calls += 1
        self.slowest = max(self.slowest, seconds)

    def record_hang(self) -> None:
        """A call did not return within its limit."""
        self.hangs += 1

    def record_death(self) -> None:
        """A call ended the process running it."""
        self.deaths += 1


def _torch() -> Any:
    import torch

    return torch


def _torch_if_loaded() -> Any:
    """torch when something imported it already, else None (a worker may run without torch)."""
    return sys.modules.get("torch")


@dataclasses.dataclass(frozen=True)
class GlobalState:
    """torch's process-wide settings a GRU call must leave alone (see the module docstring)."""

    values: tuple[tuple[str, Any], ...]

    @classmethod
    def capture(cls) -> GlobalState:
        """The settings now; empty where torch is not imported (a target without torch)."""
        torch = _torch_if_loaded()
        if torch is None:
            return cls(())
        b = torch.backends
        return cls(
            (
                ("torch.get_default_dtype()", torch.get_default_dtype()),
                ("torch.get_float32_matmul_precision()", torch.get_float32_matmul_precision()),
                ("torch.backends.cuda.matmul.allow_tf32", b.cuda.matmul.allow_tf32),
                ("torch.backends.cudnn.allow_tf32", b.cudnn.allow_tf32),
                ("torch.backends.cudnn.deterministic", b.cudnn.deterministic),
                ("torch.backends.cudnn.benchmark", b.cudnn.benchmark),
                ("torch.backends.cudnn.enabled", b.cudnn.enabled),
                (
                    "torch.are_deterministic_algorithms_enabled()",
                    (
                        torch.are_deterministic_algorithms_enabled(),
                        torch.is_deterministic_algorithms_warn_only_enabled(),
                    ),
                ),
                ("torch.is_grad_enabled()", torch.is_grad_enabled()),
                ("torch.is_inference_mode_enabled()", torch.is_inference_mode_enabled()),
                ("torch.is_anomaly_enabled()", torch.is_anomaly_enabled()),
                ("torch.get_num_threads()", torch.get_num_threads()),
                ("torch.initial_seed() (torch.manual_seed)", torch.initial_seed()),
            )
        )

    def changes(self, after: GlobalState) -> list[str]:
        """``"name: before -> after"`` for every setting that differs (none when either side was
        captured without torch)."""
        if not self.values or not after.values:
            return []
        return [
            f"{name}: {a!r} -> {b!r}"
            for (name, a), (_, b) in zip(self.values, after.values, strict=True)
            if a != b
        ]

    def restore(self) -> None:
        """Put every setting back (a reseeded generator gets its old seed; ``preserved`` restores
        the generator's position)."""
        if not self.values:
            return
        torch = _torch()
        b = torch.backends
        v = dict(self.values)
        torch.set_default_dtype(v["torch.get_default_dtype()"])
        torch.set_float32_matmul_precision(v["torch.get_float32_matmul_precision()"])
        b.cuda.matmul.allow_tf32 = v["torch.backends.cuda.matmul.allow_tf32"]
        b.cudnn.allow_tf32 = v["torch.backends.cudnn.allow_tf32"]
        b.cudnn.deterministic = v["torch.backends.cudnn.deterministic"]
        b.cudnn.benchmark = v["torch.backends.cudnn.benchmark"]
        b.cudnn.enabled = v["torch.backends.cudnn.enabled"]
        mode, warn_only = v["torch.are_deterministic_algorithms_enabled()"]
        now = (torch.are_deterministic_algorithms_enabled(),
               torch.is_deterministic_algorithms_warn_only_enabled())  # fmt: skip
        if now != (mode, warn_only):  # the call imports torch._inductor (about 2 s): only if needed
            torch.use_deterministic_algorithms(mode, warn_only=warn_only)
        torch.set_grad_enabled(v["torch.is_grad_enabled()"])
        torch.autograd.set_detect_anomaly(v["torch.is_anomaly_enabled()"])
        if torch.get_num_threads() != v["torch.get_num_threads()"]:
            torch.set_num_threads(v["torch.get_num_threads()"])
        seed = v["torch.initial_seed() (torch.manual_seed)"]
        if torch.initial_seed() != seed:
            state = torch.get_rng_state()
            torch.manual_seed(seed)
            torch.set_rng_state(state)


@contextlib.contextmanager
def watch(what: str, case: str = "") -> Iterator[None]:
    """Raise ``LawViolation`` (after restoring it) if the body changes ``GlobalState``.

    Law: a call leaves torch's global settings as it found them. An exception from the body wins
    over the violation (the settings are restored either way).
    """
    before = GlobalState.capture()
    failed = True
    try:
        yield
        failed = False
    finally:
        after = GlobalState.capture()
        changed = [] if _abandoned() else before.changes(after)
        if changed:
            before.restore()
            if not failed:
                raise LawViolation(
                    "global state unchanged",
                    "a call leaves torch's global settings as it found them",
                    f"{what} changed " + "; ".join(changed) + " (restored by gruverify)",
                    {"changed": [c.split(":")[0] for c in changed]},
                    case,
                )


@contextlib.contextmanager
def preserved() -> Iterator[None]:
    """Restore ``GlobalState`` and the random generators (torch CPU and initialised CUDA devices,
    numpy's global, Python's ``random``) on exit, whatever the body did. torch's only when
    something had imported it on entry: a checker whose target runs in a worker never imports
    torch, and a torch first imported by the body starts from torch's defaults anyway."""
    torch = _torch_if_loaded()
    state = GlobalState.capture()
    cpu_rng = None if torch is None else torch.get_rng_state()
    cuda_rng = None
    if torch is not None and torch.cuda.is_initialized():
        cuda_rng = torch.cuda.get_rng_state_all()
    np_rng = np.random.get_state()
    py_rng = random.getstate()
    try:
        yield
    finally:
        state.restore()
        if torch is not None:
            torch.set_rng_state(cpu_rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)
        np.random.set_state(np_rng)
        random.setstate(py_rng)


SETTLE_SECONDS = 5.0
"""How long an interrupted call may take to finish before the checker exits anyway."""


def settle(thread: threading.Thread, seconds: float = SETTLE_SECONDS) -> bool:
    """Wait (at most ``seconds``, whatever further signals arrive) for the call running in
    ``thread`` (a ``call`` thread) to return; whether it has.

    A process that exits while a daemon thread is inside torch's C++ code aborts at exit
    (``terminate called without an active exception``, SIGABRT, exit status 134: the thread,
    woken to take the GIL of a finalizing interpreter, is unwound through a C++ destructor that
    may not throw). An interrupted run therefore waits for its call, so that it exits 130 or
    143; a call that does not return in time is left to ``os._exit``. The wait is on the call's
    own event, never ``Thread.join``: a join interrupted by Ctrl-C marks a still-running thread
    as stopped in CPython 3.11 (it releases the thread's state lock), after which ``is_alive()``
    is False and every join returns at once."""
    done: threading.Event | None = getattr(thread, "gruverify_done", None)
    if done is None:
        return not thread.is_alive()
    deadline = time.monotonic() + seconds
    while not done.is_set() and time.monotonic() < deadline:
        try:
            done.wait(max(0.0, deadline - time.monotonic()))
        except BaseException:  # another Ctrl-C while waiting: keep waiting, briefly
            continue
    return done.is_set()


CALL_THREAD = "gruverify: "
"""The name prefix of the threads ``call`` runs calls in."""


def unsettled_calls(seconds: float = SETTLE_SECONDS) -> list[str]:
    """Wait (at most ``seconds`` in all) for every call thread (``call``) still running, e.g.
    one abandoned past its time limit or interrupted; the names of those still running then.
    A process that has any must leave with ``os._exit`` (see ``settle``)."""
    deadline = time.monotonic() + seconds
    running = [t for t in threading.enumerate() if t.name.startswith(CALL_THREAD)]
    return [t.name for t in running if not settle(t, max(0.0, deadline - time.monotonic()))]


def call(
    fn: Callable[[], T], *, timeout: float | None, what: str, case: str = "", rule: str = ""
) -> T:
    """``fn()`` in a daemon thread, waiting at most ``timeout`` seconds (None: no limit, run here).

    Raises ``CallTimeout`` when it does not return in time (the thread is abandoned),
    ``TargetCrash`` for a ``SystemExit`` or other non-``Exception`` it raises, else re-raises
    what it raised. The caller's grad mode carries into the thread. ``rule``: how the limit was
    chosen, for the message (``CallLimits.rule``).
    """
    if timeout is None:
        try:
            return fn()
        except Exception:
            raise
        except BaseException as e:  # SystemExit, GeneratorExit, ...: not the checker's to die of
            if isinstance(e, KeyboardInterrupt):
                raise
            raise TargetCrash(f"{what} raised {type(e).__name__}({e})") from e
    if timeout <= 0:
        raise ValueError(f"timeout must be positive seconds or None, got {timeout}")
    torch = _torch_if_loaded()
    grad = None if torch is None else torch.is_grad_enabled()
    box: dict[str, Any] = {}
    abandoned = threading.Event()

    done = threading.Event()

    def body() -> None:
        _local.abandoned = abandoned  # a late return must not "restore" settings changed since
        try:
            if torch is not None:
                torch.set_grad_enabled(grad)
            box["value"] = fn()
        except BaseException as e:  # handed to the caller's thread below
            box["error"] = e
        finally:
            done.set()

    thread = threading.Thread(target=body, name=f"{CALL_THREAD}{what}", daemon=True)
    thread.gruverify_done = done  # type: ignore[attr-defined]
    try:
        thread.start()  # waits for the thread to start: a signal may arrive here too
        done.wait(timeout)
    except BaseException:  # Ctrl-C, SIGTERM: let the call finish before the process ends
        settle(thread)
        raise
    if not done.is_set():
        abandoned.set()
        raise CallTimeout(what, timeout, case, rule=rule)
    if "error" in box:
        err = box["error"]
        if isinstance(err, Exception):
            raise err
        raise TargetCrash(f"{what} raised {type(err).__name__}({err})") from err
    return box["value"]  # type: ignore[no-any-return]


def crash_traceback(e: BaseException) -> str:
    """The target's traceback of the crash ``e``, trimmed to its own frames
    (``core.tracebacks``): the one a worker process sent (``gruverify_traceback``), else ``e``'s
    own; ``""`` for a law violation (not a crash) or an exception without a traceback."""
    if isinstance(e, LawViolation):
        return ""
    sent = getattr(e, "gruverify_traceback", None)
    return str(sent) if sent else trimmed_traceback(e)


def _contract(detail: str, numbers: dict[str, Any], problem: Problem) -> LawViolation:
    return LawViolation(
        "output contract",
        "forward returns Outputs(output (T, B, D*H), h_n (L*D, B, H)) of finite floats; "
        "gradients are shaped like x, h0 and the parameters",
        detail,
        numbers,
        problem.describe(),
    )


def _in_range(problem: Problem, impl: Implementation) -> bool:
    from gruverify.error_model import arithmetic_of, require_in_range

    try:
        require_in_range(problem, arithmetic_of(impl))
    except Inconclusive:
        return False
    return True


def _finite(name: str, a: np.ndarray, problem: Problem, impl: Implementation, what: str) -> None:
    bad = ~np.isfinite(a)
    if not bad.any():
        return
    if not _in_range(problem, impl):
        raise Inconclusive(f"{what} gave non-finite {name} on a problem near the dtype's range")
    idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), a.shape))
    raise _contract(
        f"{what} returned {name} with {int(bad.sum())} non-finite of {a.size} entries "
        f"(first {a[idx]} at index {idx}); the reference is finite there",
        {"quantity": name, "non-finite": int(bad.sum()), "index": idx, "value": float(a[idx])},
        problem,
    )


def _array(name: str, a: Any, want: tuple[int, ...], problem: Problem, what: str) -> np.ndarray:
    if not isinstance(a, np.ndarray):
        raise _contract(
            f"{what} returned {name} as {type(a).__name__}, expected a numpy array",
            {"quantity": name, "type": type(a).__name__}, problem,
        )  # fmt: skip
    if a.dtype.kind not in "fiu":
        raise _contract(
            f"{what} returned {name} of numpy dtype {a.dtype}, expected real floats",
            {"quantity": name, "dtype": str(a.dtype)}, problem,
        )  # fmt: skip
    if tuple(a.shape) != want:
        raise _contract(
            f"{what} returned {name} of shape {tuple(a.shape)}, expected {want}",
            {"quantity": name, "shape": tuple(a.shape), "expected shape": want}, problem,
        )  # fmt: skip
    return a


def _shapes(problem: Problem) -> tuple[tuple[int, ...], tuple[int, ...]]:
    # the shapes x and the parameters imply; h0 is not validated here: a target that accepts a
    # wrong-shaped h0 is the "bad initial state rejected" law's finding, not a ShapeError of ours
    s = problem_shape(problem, check_h0=False)
    return tuple(s.output_shape), tuple(s.state_shape)


def validate_outputs(out: Any, problem: Problem, impl: Implementation) -> Outputs:
    """``out`` is ``Outputs`` with arrays of the shapes ``problem`` implies, finite where the
    problem is within the dtype's range; raise ``LawViolation`` (``output contract``) if not."""
    what = f"{impl.name}.forward"
    if not isinstance(out, Outputs):
        raise _contract(
            f"{what} returned {type(out).__name__}, expected gruverify.interface.Outputs",
            {"type": type(out).__name__}, problem,
        )  # fmt: skip
    out_shape, state_shape = _shapes(problem)
    output = _array("output", out.output, out_shape, problem, what)
    h_n = _array("h_n", out.h_n, state_shape, problem, what)
    _finite("output", output, problem, impl, what)
    _finite("h_n", h_n, problem, impl, what)
    return out


def validate_gradients(g: Any, problem: Problem, impl: Implementation) -> Gradients:
    """``g`` is ``Gradients`` shaped like ``x``, the state and every parameter; finite in float32
    and float64 where the problem is in range (half-precision gradients may overflow honestly)."""
    what = f"{impl.name}.gradients"
    if not isinstance(g, Gradients):
        raise _contract(
            f"{what} returned {type(g).__name__}, expected gruverify.interface.Gradients",
            {"type": type(g).__name__}, problem,
        )  # fmt: skip
    _, state_shape = _shapes(problem)
    dx = _array("dx", g.dx, tuple(np.shape(problem.x)), problem, what)
    dh0 = _array("dh0", g.dh0, state_shape, problem, what)
    want = [(n, tuple(np.shape(a))) for n, a in problem.params.named()]
    try:
        got = [(n, tuple(np.shape(a))) for n, a in g.dparams.named()]
    except Exception as e:
        raise _contract(
            f"{what} returned dparams that are not StackParams ({e})", {}, problem
        ) from e
    if got != want:
        raise _contract(
            f"{what} returned parameter gradients {got}, expected {want}",
            {"quantity": "dparams"}, problem,
        )  # fmt: skip
    if impl.dtype in ("float32", "float64"):
        _finite("dx", dx, problem, impl, what)
        _finite("dh0", dh0, problem, impl, what)
        _finite("dparams", np.asarray(g.dparams.flat()), problem, impl, what)
    return g


def validate_tensor(
    name: str, t: Any, dtype: Any, device: str, problem: Problem, what: str
) -> None:
    """A raw torch result: a ``torch.Tensor`` of the dtype and device the target was asked for."""
    torch = _torch()
    if not isinstance(t, torch.Tensor):
        raise _contract(
            f"{what} returned {name} as {type(t).__name__}, expected a torch.Tensor",
            {"quantity": name, "type": type(t).__name__}, problem,
        )  # fmt: skip
    if t.dtype != dtype:
        raise _contract(
            f"{what} returned {name} of dtype {t.dtype}, expected {dtype} (the dtype of its input "
            "and weights)", {"quantity": name, "dtype": str(t.dtype)}, problem,
        )  # fmt: skip
    if t.device != torch.device(device) and not (t.device.type == "cuda" and str(device) == "cuda"):
        raise _contract(
            f"{what} returned {name} on device {t.device}, expected {device} (the device of its "
            "input and weights)", {"quantity": name, "device": str(t.device)}, problem,
        )  # fmt: skip


def _fingerprint(*arrays: Any) -> list[bytes | None]:
    return [None if a is None else np.ascontiguousarray(a).tobytes() for a in arrays]


def _problem_arrays(problem: Problem) -> list[Any]:
    return [problem.x, problem.h0, problem.lengths, problem.params.flat()]


class Guarded:
    """``impl`` with every ``forward`` / ``gradients`` call guarded: timeout, global state, output
    contract, and the law that the call leaves its ``Problem`` and cotangents unmodified. Other
    attributes are ``impl``'s.

    ``timeout``: seconds per call (a fixed limit; None: none) or a ``CallLimits`` (the adaptive
    limit, shared with whoever else holds it). An ``impl`` that runs in another process
    (``runs_elsewhere``: ``gruverify.isolation``) applies the limits and watches its process's
    state itself; here only its outputs are validated.
    """

    def __init__(
        self, impl: Implementation, *, timeout: float | CallLimits | None = DEFAULT_TIMEOUT
    ) -> None:
        self._impl = impl
        self._limits = timeout if isinstance(timeout, CallLimits) else CallLimits.fixed(timeout)
        self._remote = bool(getattr(impl, "runs_elsewhere", False))

    @property
    def unguarded(self) -> Implementation:
        return self._impl

    @property
    def limits(self) -> CallLimits:
        return self._limits

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_impl", "_limits", "_remote"):  # copy, half-built
            raise AttributeError(name)
        value = getattr(self._impl, name)
        if name == "with_dropout":  # the rebuilt target is guarded the same way
            return lambda dropout: Guarded(value(dropout), timeout=self._limits)
        return value

    def _timed(self, fn: Callable[[], T], what: str, problem: Problem) -> T:
        """``fn()`` under the current limit; the limits learn from the call."""
        start = time.monotonic()
        try:
            result = call(
                fn, timeout=self._limits.limit(), what=what, case=problem.describe(),
                rule=self._limits.rule(),
            )  # fmt: skip
        except CallTimeout:
            self._limits.record_hang()
            raise
        self._limits.record(time.monotonic() - start)
        return result

    def _run(self, fn: Callable[[], T], what: str, problem: Problem, extra: list[Any]) -> T:
        if self._remote:
            return fn()
        before = _fingerprint(*_problem_arrays(problem), *extra)

        def guarded() -> T:
            with watch(what, problem.describe()):
                return fn()

        result = self._timed(guarded, what, problem)
        after = _fingerprint(*_problem_arrays(problem), *extra)
        names = ["x", "h0", "lengths", "params", "d_output", "d_h_n"]
        changed = [n for n, a, b in zip(names, before, after, strict=False) if a != b]
        if changed:
            raise LawViolation(
                "inputs unchanged", "a call must not modify its arguments in place",
                f"{what} modified {', '.join(changed)} in place", {"modified": changed},
                problem.describe(),
            )  # fmt: skip
        return result

    def forward(self, problem: Problem) -> Outputs:
        what = f"{self._impl.name}.forward"
        out = self._run(lambda: self._impl.forward(problem), what, problem, [])
        return validate_outputs(out, problem, self._impl)

    def gradients(
        self, problem: Problem, d_output: np.ndarray | None, d_h_n: np.ndarray | None
    ) -> Gradients:
        what = f"{self._impl.name}.gradients"
        g = self._run(
            lambda: self._impl.gradients(problem, d_output, d_h_n), what, problem, [d_output, d_h_n]
        )
        return validate_gradients(g, problem, self._impl)
