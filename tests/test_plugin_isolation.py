"""The pytest plugin can run its targets in worker processes, as ``gruverify check`` does: a target
that segfaults fails its tests and the pytest session goes on (``--gru-isolate``, ``isolate =
true`` in the settings); in pytest's own process the same target ends the whole session, which
is what isolation is for. Run as a user's project would be, pytest in a child process."""

from __future__ import annotations

import pathlib
import re
import signal
import subprocess
import sys

from cli_support import child_env

TESTS = """
from gruverify.pytest_plugin import conformance_tests
from gruverify.zoo.mutants import NoResetBias

test_crash = conformance_tests("misbehaving_targets:Segfaults",
                               checks=["forward[basic]", "determinism"])
test_class = conformance_tests(NoResetBias, checks=["forward[basic]"])
test_fine = conformance_tests("torch-gru", checks=["determinism"])

def test_after():
    pass
"""


def _pytest(tmp_path: pathlib.Path, *args: str, settings: str = "") -> tuple[int, str]:
    (tmp_path / "pyproject.toml").write_text(f"[tool.gruverify]\n{settings}\n")
    (tmp_path / "test_gru.py").write_text(TESTS)
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
         "-rA", *args],
        cwd=tmp_path, env=child_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    return r.returncode, r.stdout + r.stderr


def _outcomes(out: str) -> dict[str, str]:
    """test id -> PASSED / FAILED, from ``-rA``'s short summary."""
    return {m[1]: m[0] for m in re.findall(r"^(PASSED|FAILED) test_gru\.py::(\S+)", out, re.M)}


def _assert_isolated_verdicts(code: int, out: str) -> None:
    got = _outcomes(out)
    assert code == 1, out[-3000:]
    assert got.get("test_crash[cpu-forward[basic]]") == "FAILED", out[-3000:]
    assert "killed by SIGSEGV" in out and "ended the process" in out, out[-3000:]
    assert got.get("test_class[cpu-forward[basic]]") == "FAILED", out[-3000:]  # b_hn dropped
    assert got.get("test_fine[cpu-determinism]") == "PASSED", out[-3000:]
    assert got.get("test_after") == "PASSED", out[-3000:]


def test_gru_isolate_turns_a_segfault_into_a_failed_test(tmp_path: pathlib.Path) -> None:
    """``--gru-isolate``: the segfaulting target's check fails with how its worker died; the
    class object is built in a worker by its ``module:qualname`` and its bug still found; the
    other tests run."""
    _assert_isolated_verdicts(*_pytest(tmp_path, "--gru-isolate"))


def test_the_settings_isolate_key_is_honoured(tmp_path: pathlib.Path) -> None:
    """``isolate = true`` in ``[tool.gruverify]`` means the same for pytest as for the CLI."""
    _assert_isolated_verdicts(*_pytest(tmp_path, settings="isolate = true\ntimeout = 30"))


def test_in_process_the_segfault_ends_the_session(tmp_path: pathlib.Path) -> None:
    """Without isolation (the plugin's default: the target is code the test calls) the same
    project dies with the target: no summary, a SIGSEGV exit."""
    code, out = _pytest(tmp_path)
    assert code == -signal.SIGSEGV, (code, out[-2000:])
    assert not _outcomes(out), out[-2000:]  # no summary: the session is gone


def test_a_bad_timeout_is_a_usage_error(tmp_path: pathlib.Path) -> None:
    code, out = _pytest(tmp_path, "--gru-timeout", "0", "-k", "test_fine")
    assert code == 4 and "--gru-timeout: the timeout must be positive seconds" in out, (
        code,
        out[-2000:],
    )
