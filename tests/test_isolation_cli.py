"""Isolation through the real entry point (issue 12): ``gruverify check`` isolates by default, a
crash or a hang is exit 1 that says what happened, a run stopped by SIGTERM or SIGINT leaves a
report of every finished check (``complete: false``), ``--python`` checks a target in a second
virtualenv, and no process is left running afterwards.

The second virtualenv: ``GRUVERIFY_TEST_WORKER_PYTHON`` names its Python (CI creates it:
``.ci/run``); without it, one is created once per session in a temporary directory (numpy from
constraints.txt, gruverify with ``--no-deps``: no torch, no hypothesis). Failing to create it
fails the test: it never skips.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cli_support import no_process_left, processes_with

REPO = pathlib.Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
WORKER_PYTHON_ENV = "GRUVERIFY_TEST_WORKER_PYTHON"


@pytest.fixture
def env() -> Iterator[dict[str, str]]:
    """The CLI's environment: tests/ on the path, and a marker every worker inherits; after the
    test, no process holding the marker may remain."""
    with no_process_left("a process of the run outlived it") as (key, value):
        yield {**os.environ, "PYTHONPATH": str(TESTS), key: value}


def _check(
    args: list[str], env: dict[str, str], cwd: pathlib.Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gruverify", "check", *args], capture_output=True, text=True,
        env=env, cwd=cwd, timeout=300,
    )  # fmt: skip


def test_a_segfault_is_exit_1_by_default_and_the_report_is_complete(
    tmp_path: pathlib.Path, env: dict[str, str]
) -> None:
    r = _check(
        ["misbehaving_targets:Segfaults", "--device", "cpu", "--profile", "quick",
         "--check", "forward[basic]", "--check", "h0=None equals zeros", "--json", "r.json"],
        env, tmp_path,
    )  # fmt: skip
    assert r.returncode == 1, r.stdout + r.stderr
    assert "killed by SIGSEGV: a segmentation fault" in r.stdout, r.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["complete"] is True and "interrupted" not in report
    assert [c["status"] for c in report["checks"]] == ["failed", "failed"], report
    saved = report["checks"][0]["counterexample"]["file"]
    again = subprocess.run(
        [sys.executable, "-m", "gruverify", "reproduce", saved], capture_output=True, text=True,
        env=env, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert again.returncode == 1, again.stdout + again.stderr  # replayed in a worker: it survives
    assert "killed by SIGSEGV" in again.stdout, again.stdout


def test_a_target_that_hangs_on_every_call_is_exit_1_not_a_usage_error(
    tmp_path: pathlib.Path, env: dict[str, str]
) -> None:
    r = _check(
        ["misbehaving_targets:HangsAlways", "--device", "cpu", "--timeout", "1",
         "--no-isolate", "--check", "forward[basic]"],
        env, tmp_path,
    )  # fmt: skip
    assert r.returncode == 1, r.stdout + r.stderr
    assert "target builds" in r.stdout and "did not return within 1 s" in r.stdout, r.stdout


@contextlib.contextmanager
def _running_check(
    args: list[str], env: dict[str, str], cwd: pathlib.Path, *, capture: bool = False
) -> Iterator[subprocess.Popen[str]]:
    """``gruverify check ARGS`` running in the background (output captured, else discarded);
    killed on the way out if it still runs."""
    output = subprocess.PIPE if capture else subprocess.DEVNULL
    proc = subprocess.Popen(
        [sys.executable, "-m", "gruverify", "check", *args],
        stdout=output, stderr=output, text=True, env=env, cwd=cwd,
    )  # fmt: skip
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _wait_for_results(path: pathlib.Path, count: int, proc: subprocess.Popen[Any]) -> dict:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before it could be interrupted"
        try:
            report = json.loads(path.read_text())
        except (OSError, ValueError):  # not written yet (never half-written: atomic)
            report = {"checks": []}
        if len(report["checks"]) >= count:
            return report  # type: ignore[no-any-return]
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} checks finished in time")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_run_stopped_by_a_signal_reports_every_finished_check(
    tmp_path: pathlib.Path, env: dict[str, str], sig: signal.Signals
) -> None:
    """The JSON is rewritten after each check (``complete: false``) and once more on the way out
    (``interrupted``); the summary says what finished; the worker is gone."""
    path = tmp_path / "r.json"
    args = ["misbehaving_targets:Slow", "--device", "cpu", "--json", str(path)]  # not over yet
    with _running_check(args, env, tmp_path, capture=True) as proc:
        partial = _wait_for_results(path, 2, proc)
        assert partial["complete"] is False, partial
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, (proc.returncode, out, err)
    report = json.loads(path.read_text())
    said = f"report: {report}\nstdout: {out[-3000:]}\nstderr: {err[-3000:]}"
    assert report["complete"] is False and report.get("interrupted") == sig.name, said
    assert report["verdict"] == "interrupted" and report["verdict_so_far"] == "pass", said
    finished = len(report["checks"])
    assert finished >= 2 and all(c["status"] == "passed" for c in report["checks"]), said
    assert f"INTERRUPTED by {sig.name} after {finished} results" in out, said
    assert "verdict so far PASS" in out, said


def test_a_checker_killed_outright_leaves_its_report_so_far_and_no_worker(
    tmp_path: pathlib.Path, env: dict[str, str]
) -> None:
    """SIGKILL cannot be caught: the report on disk is the one written after the last finished
    check, and the worker dies with the checker (PR_SET_PDEATHSIG); the ``env`` fixture checks
    that no process of the run remains."""
    path = tmp_path / "r.json"
    with _running_check(
        ["misbehaving_targets:Slow", "--device", "cpu", "--json", str(path)], env, tmp_path
    ) as proc:
        _wait_for_results(path, 2, proc)
        proc.kill()
        proc.wait(timeout=60)
    report = json.loads(path.read_text())
    assert report["complete"] is False and len(report["checks"]) >= 2, report


def test_a_worker_in_a_hung_call_dies_with_its_checker(
    tmp_path: pathlib.Path, env: dict[str, str]
) -> None:
    """The worker is asleep in the target's constructor (300 s) when the checker is killed: it
    must not sleep on (``env`` checks within 5 s that no process of the run remains)."""
    marker = next(f"{k}={v}" for k, v in env.items() if k == "GRUVERIFY_TEST_MARK")
    with _running_check(
        ["misbehaving_targets:HangsAlways", "--device", "cpu"], env, tmp_path
    ) as proc:
        deadline = time.monotonic() + 120
        while len(processes_with(marker)) < 2:  # the checker and its worker
            assert time.monotonic() < deadline and proc.poll() is None, "no worker started"
            time.sleep(0.2)
        time.sleep(3)  # the worker is in the target's constructor by now
        proc.kill()
        proc.wait(timeout=60)


@pytest.fixture(scope="session")
def worker_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The Python of a second virtualenv with numpy and gruverify (no deps): CI's, or one made
    here once per session. Never skipped: a failure to make it fails the test."""
    given = os.environ.get(WORKER_PYTHON_ENV)
    if given:
        assert os.access(given, os.X_OK), f"{WORKER_PYTHON_ENV}={given} is not executable"
        return given
    venv = tmp_path_factory.mktemp("worker-venv") / "venv"
    python = venv / "bin" / "python"
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [str(python), "-m", "pip", "install", "-q", "-c", str(REPO / "constraints.txt"), "numpy"],
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "-e", str(REPO)],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{' '.join(step)} failed:\n{done.stdout}\n{done.stderr}"
    return str(python)


def test_python_checks_a_target_in_a_second_virtualenv(
    tmp_path: pathlib.Path, env: dict[str, str], worker_python: str
) -> None:
    no_torch = subprocess.run([worker_python, "-c", "import torch"], capture_output=True)
    assert no_torch.returncode != 0, "the worker environment has torch: it proves nothing"
    prefix = subprocess.run(
        [worker_python, "-c", "import sys; print(sys.prefix)"], capture_output=True, text=True
    ).stdout.strip()
    base = ["--python", worker_python, "--device", "cpu", "--dtype", "float64"]
    ok = _check(
        ["worker_env_targets:numpy_gru", *base, "--check", "forward[basic]",
         "--check", "gradient[output]", "--check", "determinism"],
        env, tmp_path,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stdout + ok.stderr
    crash = _check(
        ["worker_env_targets:numpy_gru_segfaults", *base, "--profile", "quick",
         "--check", "forward[basic]"],
        env, tmp_path,
    )  # fmt: skip
    assert crash.returncode == 1, crash.stdout + crash.stderr
    assert f"numpy-gru under {prefix}.forward ended the process" in crash.stdout, crash.stdout
    assert "killed by SIGSEGV" in crash.stdout, crash.stdout
