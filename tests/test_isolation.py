"""Isolation (issue 12): the target in a worker process, time limits that adapt and learn, crashes
and hangs as failed checks that say what happened, and nothing left running afterwards.

The planted targets are in misbehaving_targets.py (torch.nn.GRU plus one misbehaviour each). Slow
misbehaviours are kept quick by short limits (``timeout=``, ``CallLimits``); the default limits'
verdict times are measured in docs/checker.md ("Isolation").
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import numpy as np
import pytest
from cli_support import no_process_left

from gruverify.conformance import run_checks
from gruverify.conformance.building import BUILD_FAILED
from gruverify.conformance.report import Report
from gruverify.core.params import random_gru_params
from gruverify.core.problem import Gradients, Outputs, Problem
from gruverify.guard import CallLimits, CallTimeout, Guarded, TargetDied
from gruverify.isolation import protocol
from gruverify.isolation.client import build_isolated, live_workers
from gruverify.laws.base import LawViolation
from gruverify.laws.metamorphic import law_rejects_bad_initial_state
from gruverify.reference.implementations import NumpyReference
from gruverify.targets import TargetError

OTHER = "h0=None equals zeros"  # a second check: the run goes on after the first one's crash
TESTS = pathlib.Path(__file__).resolve().parent


def _problem(seed: int = 0, **kw: int) -> Problem:
    sizes = {"input_size": 3, "hidden_size": 4, "num_layers": 2, "steps": 5, "batch": 2} | kw
    params = random_gru_params(
        sizes["input_size"], sizes["hidden_size"], num_layers=sizes["num_layers"], rng=seed
    )
    x = np.random.default_rng(seed).normal(
        size=(sizes["steps"], sizes["batch"], sizes["input_size"])
    )
    return Problem(params, x)


@pytest.fixture
def nothing_left(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The test leaves no worker process behind (workers inherit a marker in their environment)."""
    with no_process_left("a worker process outlived the run") as (key, value):
        monkeypatch.setenv(key, value)
        yield
    assert live_workers() == []


@pytest.fixture
def short_shrink(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shrinking through crashes restarts the worker each time: 1 s of it is enough here."""
    from gruverify.conformance import runner

    monkeypatch.setitem(runner.SHRINK_SECONDS, "quick", 1.0)


def _run(
    name: str, check: str, *, other: bool = False, **kw: object
) -> tuple[Report, dict[str, object]]:
    """``check`` (and with ``other`` a second check after it) on a planted target, under the
    quick profile (a crash shrinks through worker restarts, 5 s at most there)."""
    checks = [check, OTHER] if other else [check]
    report = run_checks(
        f"misbehaving_targets:{name}", device="cpu", checks=checks, seed=0, profile="quick", **kw
    )  # type: ignore[arg-type]
    by = {c.name: c for c in report.checks}
    assert set(by) == set(checks), report.render()  # with other: the run went on
    return report, by  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# The protocol.


def test_no_process_left_fails_for_a_process_that_outlives_the_block() -> None:
    """The check behind ``nothing_left`` (and test_isolation_cli's ``env``) can fail: a child
    holding the marker that is still running 5 s after the block fails it; an ended one does not."""
    with no_process_left("ended") as (key, value):
        subprocess.run([sys.executable, "-c", "pass"], env={**os.environ, key: value}, check=True)
    children = []
    try:
        with (
            pytest.raises(AssertionError, match="a child outlived the block"),
            no_process_left("a child outlived the block") as (key, value),
        ):
            sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
            children.append(subprocess.Popen(sleeper, env={**os.environ, key: value}))
    finally:
        for child in children:
            child.kill()
            child.wait()


def test_protocol_round_trips_problems_results_and_violations() -> None:
    problem = dataclasses.replace(_problem(), h0=np.zeros((2, 2, 4)), lengths=np.array([5, 3]))
    out = NumpyReference().forward(problem)
    grads = NumpyReference().gradients(problem, np.ones_like(out.output), None)
    message = {"problem": problem, "ok": out, "g": grads, "t": (0, 1), "nan": float("nan")}
    frame = protocol.encode(message)
    r, w = os.pipe()
    try:
        os.write(w, frame)
        back = protocol.read_frame(r, time.monotonic() + 5)
    finally:
        os.close(r)
        os.close(w)
    assert isinstance(back["problem"], Problem) and isinstance(back["ok"], Outputs)
    assert isinstance(back["g"], Gradients) and back["t"] == (0, 1) and np.isnan(back["nan"])
    np.testing.assert_array_equal(back["problem"].params.flat(), problem.params.flat())
    np.testing.assert_array_equal(back["problem"].lengths, problem.lengths)
    np.testing.assert_array_equal(back["ok"].output, out.output)
    np.testing.assert_array_equal(back["g"].dparams.flat(), grads.dparams.flat())
    v = LawViolation("a law", "f == g", "it differs", {"index": (0, 1)}, "case")
    again = protocol.decode_exception(protocol.encode_exception(v), LawViolation, {})
    assert isinstance(again, LawViolation) and str(again) == str(v)
    err = protocol.decode_exception(protocol.encode_exception(KeyError("k")), LawViolation, {})
    assert type(err) is KeyError
    odd = type("KernelError", (Exception,), {"__module__": "vendor.kernels"})("bad kernel")
    remote = protocol.decode_exception(protocol.encode_exception(odd), LawViolation, {})
    assert type(remote).__name__ == "KernelError" and str(remote) == "bad kernel"


def test_protocol_refuses_another_version_garbage_and_waits_no_longer_than_told() -> None:
    r, w = os.pipe()
    try:
        frame = protocol.encode({"op": "hello"})
        os.write(w, frame[:4] + (protocol.PROTOCOL_VERSION + 1).to_bytes(2, "big") + frame[6:])
        theirs, ours = protocol.PROTOCOL_VERSION + 1, protocol.PROTOCOL_VERSION
        with pytest.raises(protocol.ProtocolMismatch, match=f"protocol {theirs}, expected {ours}"):
            protocol.read_frame(r, time.monotonic() + 5)
        os.write(w, b"Hello from a print() in the target\n" + b"." * 20)
        with pytest.raises(protocol.ProtocolError, match="not a gruverify frame"):
            protocol.read_frame(r, time.monotonic() + 5)
        os.read(r, 1 << 16)
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            protocol.read_frame(r, time.monotonic() + 0.2)
        assert time.monotonic() - start < 2
    finally:
        os.close(r)
        os.close(w)


# ---------------------------------------------------------------------------------------------
# The worker and its client.


def test_an_isolated_target_computes_what_it_computes_in_process(nothing_left: None) -> None:
    impl = build_isolated("torch-gru", "cpu", "float32", False, limits=CallLimits())
    try:
        assert impl.name == "torch-gru" and impl.dtype == "float32" and impl.device == "cpu"
        problem = _problem()
        ref = NumpyReference().forward(problem)
        out = Guarded(impl).forward(problem)
        assert np.max(np.abs(out.output - ref.output)) < 1e-5
        g = Guarded(impl).gradients(problem, np.ones_like(ref.output), None)
        assert g.dparams.flat().shape == problem.params.flat().shape
        assert impl.with_dropout(0.5).forward(problem).output.shape == ref.output.shape  # type: ignore[attr-defined]
        assert live_workers() == [impl.worker.pid]
    finally:
        impl.close()


def test_the_worker_side_imports_neither_torch_nor_hypothesis(
    tmp_path: pathlib.Path, nothing_left: None
) -> None:
    """A worker whose Python cannot import torch or hypothesis still checks a numpy target."""
    block = tmp_path / "block"
    block.mkdir()
    (block / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'hypothesis'):\n"
        "            raise ImportError(f'{name} is not installed in this worker environment')\n"
        "sys.meta_path.insert(0, _Block())\n"
    )
    python = _wrapper(tmp_path, f'PYTHONPATH="{block}" exec "{sys.executable}" "$@"')
    impl = build_isolated("numpy-reference", "cpu", None, False, python=str(python))
    try:
        problem = _problem(num_layers=1)
        out = impl.forward(problem)
        np.testing.assert_array_equal(out.output, NumpyReference().forward(problem).output)
    finally:
        impl.close()
    report = run_checks(
        "numpy-reference", device="cpu", checks=["forward[basic]", "determinism"], seed=0,
        python=str(python),
    )  # fmt: skip
    assert report.verdict == "pass", report.render()


def _wrapper(tmp_path: pathlib.Path, body: str) -> pathlib.Path:
    path = tmp_path / f"python-{uuid.uuid4().hex[:6]}"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


FAKE_WORKER = """
import os, sys
sys.path.insert(0, {root!r})
from gruverify.isolation import protocol
protocol.PROTOCOL_VERSION = {version}
os.write(1, protocol.encode({{"op": "hello", "protocol": {version}, "gruverify": "9.9"}}))
sys.stdin.buffer.read()
"""


@pytest.mark.parametrize("version", [999, protocol.PROTOCOL_VERSION])
def test_a_worker_of_another_protocol_is_refused_with_what_to_install(
    tmp_path: pathlib.Path, version: int, nothing_left: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Frames of another version (999), or a hello that claims one (ours -> the hello says 7)."""
    code = FAKE_WORKER.format(root=str(TESTS.parent), version=version)
    if version == protocol.PROTOCOL_VERSION:
        code = code.replace(f'"protocol": {version}', '"protocol": 7')
    script = tmp_path / "fake_worker.py"
    script.write_text(code)
    python = _wrapper(tmp_path, f'exec "{sys.executable}" "{script}"')
    with pytest.raises(TargetError) as e:
        build_isolated("torch-gru", "cpu", None, False, python=str(python))
    text = str(e.value)
    theirs = 999 if version == 999 else 7
    assert f"speaks gruverify's isolation protocol {theirs}" in text, text
    assert f"this checker speaks protocol {protocol.PROTOCOL_VERSION}" in text, text
    assert "pip install --no-deps gruverify==" in text, text


def test_a_python_without_gruverify_says_what_the_environment_needs(
    tmp_path: pathlib.Path, nothing_left: None
) -> None:
    python = _wrapper(tmp_path, f'exec "{sys.executable}" -S "$@"')  # -S: no site-packages
    with pytest.raises(TargetError) as e:
        build_isolated("torch-gru", "cpu", None, False, python=str(python))
    text = str(e.value)
    assert "did not start" in text and "needs numpy, gruverify" in text, text
    assert "No module named" in text, text
    with pytest.raises(TargetError, match="cannot run the worker's Python"):
        build_isolated("torch-gru", "cpu", None, False, python=str(tmp_path / "no-such-python"))


def test_objects_cannot_be_isolated_and_python_needs_isolation() -> None:
    with pytest.raises(TargetError, match="is an object"):
        run_checks(NumpyReference(), isolate=True, checks=["forward[basic]"])
    with pytest.raises(TargetError, match="cannot go with --no-isolate"):
        run_checks("numpy-reference", isolate=False, python=sys.executable)


# ---------------------------------------------------------------------------------------------
# Crashes: a failed check that names what happened, the case saved, the run goes on.


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("Segfaults", "killed by SIGSEGV: a segmentation fault"),
        ("Aborts", "killed by SIGABRT: an abort"),
        ("ExitsHard", "exit code 7 (os._exit"),
    ],
)
def test_a_worker_that_dies_fails_the_check_with_its_case_and_the_run_goes_on(
    tmp_path: pathlib.Path, name: str, says: str, nothing_left: None, short_shrink: None
) -> None:
    report, by = _run(
        name, "forward[basic]", other=name == "Segfaults", isolate=True, artifacts=str(tmp_path)
    )
    got = by["forward[basic]"]
    assert got.status == "failed" and says in got.message, got.message  # type: ignore[attr-defined]
    assert "the target's process survives every call" in got.message  # type: ignore[attr-defined]
    ce = got.counterexample  # type: ignore[attr-defined]
    assert ce["case"]["input_size"] >= 3 and ce["file"].startswith(str(tmp_path)), ce
    assert report.verdict == "fail"
    if name == "Segfaults":  # the faulthandler's stack names the culprit
        assert "Fatal Python error: Segmentation fault" in got.message  # type: ignore[attr-defined]
        assert "misbehaving_targets.py" in got.message  # type: ignore[attr-defined]


def test_a_huge_allocation_is_a_memory_error_not_the_end_of_the_machine(
    nothing_left: None,
) -> None:
    _, by = _run("AllocatesHuge", "forward[basic]", isolate=True)
    got = by["forward[basic]"]
    assert got.status == "error" and "MemoryError" in got.message, got.message  # type: ignore[attr-defined]


def test_the_worker_memory_limit_applies(nothing_left: None) -> None:
    """6 GiB mapped (untouched): fine in this process, a MemoryError under a 2 GiB limit."""
    _, by = _run("AllocatesTooMuch", "forward[basic]", isolate=True, memory_limit=2 << 30)
    got = by["forward[basic]"]
    assert got.status == "error" and "MemoryError" in got.message, got.message  # type: ignore[attr-defined]
    _, by = _run("AllocatesTooMuch", "forward[basic]", isolate=False)
    assert by["forward[basic]"].status == "passed"  # type: ignore[attr-defined]


def test_system_exit_and_exceptions_come_back_from_the_worker(nothing_left: None) -> None:
    _, by = _run("ExitsProcess", "forward[basic]", isolate=True)
    got = by["forward[basic]"]
    assert got.status == "error" and "raised SystemExit(3)" in got.message, got.message  # type: ignore[attr-defined]
    _, by = _run("ChangesDefaultDtype", "forward[basic]", isolate=True)  # the worker's state
    assert (
        "torch.get_default_dtype(): torch.float32 -> torch.float64" in by["forward[basic]"].message
    )  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------
# Hangs: bounded time, the worker killed and restarted, the limits learn.


def test_a_hung_call_kills_its_worker_which_restarts_for_the_next_check(
    nothing_left: None,
) -> None:
    start = time.monotonic()
    _, by = _run("Hangs", "forward[basic]", other=True, isolate=True, timeout=1.0)
    got = by["forward[basic]"]
    assert got.status == "failed" and "did not return within 1 s" in got.message  # type: ignore[attr-defined]
    assert "the worker process running it was killed" in got.message  # type: ignore[attr-defined]
    assert time.monotonic() - start < 60


def test_the_limits_learn_from_the_first_hang(nothing_left: None) -> None:
    limits = CallLimits(ceiling=30.0, floor=3.0)
    checks = ["forward[basic]", "forward[multilayer]", "forward[bidirectional]"]
    start = time.monotonic()
    report = run_checks(
        "misbehaving_targets:Hangs", device="cpu", checks=checks, seed=0, isolate=True,
        timeout=limits, profile="quick",
    )  # fmt: skip
    took = time.monotonic() - start
    messages = [c.counterexample["formula"] for c in report.checks if c.counterexample]
    assert len(messages) == 3, report.render()
    assert "max(3 s, 20 x" in messages[0] and "once the target has hung" not in messages[0]
    assert all("max(1 s, 5 x" in m and "once the target has hung" in m for m in messages[1:])
    assert limits.hangs == 3 and took < 3 + 2 * 1 + 60, took


def test_call_limits_rules() -> None:
    limits = CallLimits(ceiling=60.0)
    assert limits.limit() == 10.0  # the floor, before any call
    limits.record(0.01)
    assert limits.limit() == 10.0
    limits.record(1.0)
    assert limits.limit() == 20.0  # 20 x the slowest
    limits.record(5.0)
    assert limits.limit() == 60.0  # at most the ceiling
    limits.record_hang()
    assert limits.limit() == 25.0  # 5 x the slowest once it has hung
    quick = CallLimits(ceiling=60.0)
    quick.record(0.01)
    quick.record_hang()
    assert quick.limit() == 1.0  # the short floor
    assert CallLimits.fixed(3.0).limit() == 3.0 and CallLimits.fixed(None).limit() is None
    assert CallLimits(ceiling=None).limit() is None
    assert "at most --timeout 60 s" in limits.rule() and "once the target has hung" in limits.rule()


def test_a_target_that_hangs_when_built_fails_instead_of_being_a_usage_error(
    nothing_left: None,
) -> None:
    for isolate, within in ((True, "6 s"), (False, "2 s")):  # a worker gets 4 s more to start
        report = run_checks(
            "misbehaving_targets:HangsAlways", device="cpu", checks=["forward[basic]"],
            isolate=isolate, timeout=CallLimits(ceiling=2.0, startup=4.0),
        )  # fmt: skip
        assert [c.name for c in report.checks] == [BUILD_FAILED], report.render()
        got = report.checks[0]
        assert got.status == "failed" and report.verdict == "fail", got
        assert f"did not return within {within}" in got.message, got.message


# ---------------------------------------------------------------------------------------------
# A timeout or a dead worker is never the behaviour a law expects.


class _HangsOnBadState:
    """The numpy reference, except that a wrong-shaped h0 hangs (as a guarded call reports it)."""

    name, variant, dtype, device = "hangs-on-bad-h0", "reset_after", "float64", "cpu"
    capabilities = NumpyReference().capabilities

    def __init__(self, error: LawViolation) -> None:
        self.error = error

    def forward(self, problem: Problem) -> Outputs:
        if problem.h0 is not None and problem.h0.shape[-1] != problem.params.hidden_size:
            raise self.error
        return NumpyReference().forward(problem)

    def gradients(self, problem: Problem, d_output: object, d_h_n: object) -> Gradients:
        raise NotImplementedError


@pytest.mark.parametrize(
    "error",
    [
        CallTimeout("f.forward", 1.0),
        TargetDied("f.forward", "killed by SIGSEGV: a segmentation fault"),
    ],
)
def test_the_bad_initial_state_law_never_takes_a_timeout_or_a_death_for_a_rejection(
    error: LawViolation,
) -> None:
    with pytest.raises(type(error)):
        law_rejects_bad_initial_state(_HangsOnBadState(error), _problem(num_layers=1))


@pytest.mark.parametrize(("name", "isolate", "says"), [
    ("HangsOnBadState", False, "did not return within 1 s"),
    ("HangsOnBadState", True, "did not return within 1 s"),
    ("SegfaultsOnBadState", True, "killed by SIGSEGV"),
])  # fmt: skip
def test_the_bad_initial_state_check_fails_a_target_that_hangs_or_dies_on_one(
    name: str, isolate: bool, says: str, nothing_left: None
) -> None:
    report = run_checks(
        f"misbehaving_targets:{name}", device="cpu", checks=["bad initial state rejected"],
        seed=0, isolate=isolate, timeout=1.0,
    )  # fmt: skip
    got = report.checks[0]
    assert got.status == "failed" and says in got.message, report.render()
