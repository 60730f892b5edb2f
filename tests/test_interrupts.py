"""Ctrl-C and SIGTERM on an in-process check (issue 20): exit 130 / 143, every time.

An in-process run calls the target in a daemon thread (``gruverify.guard.call``). Interrupted
while that thread was inside torch's C++ code, the process used to abort at exit (``terminate
called without an active exception``, SIGABRT, exit status 134) in most runs: the main thread's
``Thread.join`` was interrupted, which in CPython 3.11 marks the still-running thread as stopped,
and the interpreter then finalized under it. The guard now waits on the call's own event and lets
an interrupted call finish (``guard.settle``). These tests interrupt a real check of torch.nn.GRU
at ten different moments.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from gruverify.conformance.report import CheckResult
from gruverify.guard import call, settle, unsettled_calls

TESTS = pathlib.Path(__file__).resolve().parent
REPO = TESTS.parent


def _interrupted_run(
    tmp_path: pathlib.Path, sig: signal.Signals, delay: float
) -> tuple[int, str, dict]:
    """``gruverify check torch-gru --no-isolate``, sent ``sig`` ``delay`` seconds after its first
    result is on disk; its exit status, stderr and report."""
    path = tmp_path / f"r-{sig.name}-{delay:g}.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(TESTS)])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gruverify", "check", "torch-gru", "--no-isolate", "--device",
         "cpu", "--json", str(path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if json.loads(path.read_text())["checks"]:
                    break
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be interrupted"
        time.sleep(delay)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err, json.loads(path.read_text())


def test_ctrl_c_on_an_in_process_check_exits_130_ten_times_of_ten(tmp_path: pathlib.Path) -> None:
    codes = []
    for i in range(10):
        code, err, report = _interrupted_run(tmp_path, signal.SIGINT, 0.13 * i)
        codes.append(code)
        assert "terminate called" not in err, err[-2000:]
        assert report["verdict"] == "interrupted" and report["interrupted"] == "SIGINT", report
    assert codes == [130] * 10, codes


def test_sigterm_on_an_in_process_check_exits_143(tmp_path: pathlib.Path) -> None:
    code, err, report = _interrupted_run(tmp_path, signal.SIGTERM, 0.3)
    assert code == 143 and "terminate called" not in err, (code, err[-2000:])
    assert report["verdict"] == "interrupted" and report["interrupted"] == "SIGTERM"


def test_an_interrupted_call_is_waited_for_and_a_hung_one_reported() -> None:
    """``call`` lets an interrupted call finish before it re-raises; ``unsettled_calls`` names a
    call still running (a hang), which the CLI then leaves with ``os._exit``."""
    finished = []

    def slow() -> None:
        time.sleep(0.5)
        finished.append(True)

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        with pytest.raises(KeyboardInterrupt):
            call(slow, timeout=10, what="slow")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert finished == [True]  # the call returned before the interrupt went on
    assert unsettled_calls(0.1) == []
    with pytest.raises(Exception, match="did not return"):
        call(lambda: time.sleep(1.0), timeout=0.05, what="hangs")
    assert unsettled_calls(0.05) == ["gruverify: hangs"]
    assert unsettled_calls(2.0) == []  # it returned in the end
    import threading

    assert settle(threading.current_thread(), 0.01) is False  # not a call thread: alive


def test_a_signal_whose_exception_was_swallowed_still_interrupts_after_the_result() -> None:
    """The handler's exception can land where it is swallowed (seen: hypothesis' garbage-collector
    callback printed it as 'Exception ignored' and the run went on to PASS, exit 0; or the lost
    exception broke a check into an error). The signal is kept, and the next result raises it,
    marked ``late``: that result ran while the signal came and is dropped from the report."""
    from gruverify import cli

    with cli._interrupts_raised() as signals:
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)  # the handler runs here; its exception is swallowed below
        except BaseException:
            pass
        printer = cli._progress_printer(signals)

        result = CheckResult("determinism", "cpu", "passed", "6 cases")
        with pytest.raises(cli._Interrupted) as raised:
            printer(result)
    assert raised.value.signum == signal.SIGINT and raised.value.late


def test_the_plugin_raises_a_signal_whose_exception_was_swallowed_when_the_check_ends() -> None:
    """The pytest plugin's twin of the above: a signal that came during a check, its exception
    swallowed, is raised when the check's call returns (the session then exits 128 + signal)."""
    from gruverify import pytest_plugin

    with pytest.raises(KeyboardInterrupt) as raised, pytest_plugin._sigterm_interrupts():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
        except BaseException:
            pass
    assert raised.value.signum == signal.SIGTERM  # type: ignore[attr-defined]
