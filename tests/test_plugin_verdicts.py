"""The pytest plugin gives the checker's verdicts (issue 11), in a project run by pytest in a child
process, as a user's would be:

- a warning passes its test with a ``gruverify.GruverifyWarning`` (in pytest's warnings summary);
  ``-W error::gruverify.GruverifyWarning`` or ``--gru-strict`` (or ``strict = true`` in the
  settings) fails it;
- a finding acknowledged in ``[tool.gruverify]`` is xfailed, an ignored check skipped with its
  reason, an acknowledged check that passes is XPASS (a failure under strict);
- class objects are resolved like their ``module:attr``: the settings' ``target`` matches them.
"""

from __future__ import annotations

import pathlib

from cli_support import run_pytest

TESTS = """
from gruverify.pytest_plugin import conformance_tests
from gruverify.zoo.mutants import AcceptsBadInitialState, NoResetBias

test_lax = conformance_tests(AcceptsBadInitialState, checks=["bad initial state rejected"])
test_no_bhn = conformance_tests(NoResetBias, checks=["forward[basic]", "determinism"])
test_torch = conformance_tests("torch-gru", checks=["forward[basic]"],
                               xfail={"forward[basic]": "thought broken"})
"""

SETTINGS = """
[tool.gruverify]
{strict}
[[tool.gruverify.xfail]]
target = "gruverify.zoo.mutants:NoResetBias"
check = "forward[basic]"
reason = "b_hn dropped on purpose"

[[tool.gruverify.ignore]]
target = "gruverify.zoo.mutants:NoResetBias"
check = "determinism"
reason = "not this one's"
"""


def _project(tmp_path: pathlib.Path, strict: str = "") -> pathlib.Path:
    (tmp_path / "pyproject.toml").write_text(SETTINGS.format(strict=strict))
    (tmp_path / "test_gru.py").write_text(TESTS)
    return tmp_path


def test_warnings_pass_with_a_pytest_warning_and_findings_are_xfail(
    tmp_path: pathlib.Path,
) -> None:
    code, out, counts = run_pytest(_project(tmp_path))
    assert code == 0, out
    assert counts == {"passed": 1, "skipped": 1, "xfailed": 1, "xpassed": 1, "warning": 1}, out
    assert "GruverifyWarning: bad initial state rejected warning on cpu" in out
    assert "gruverify: b_hn dropped on purpose" in out  # the xfail's reason
    assert "determinism ignored: not this one's" in out


def test_w_error_turns_the_warning_into_a_failure(tmp_path: pathlib.Path) -> None:
    code, out, counts = run_pytest(_project(tmp_path), "-W", "error::gruverify.GruverifyWarning")
    assert code == 1, out
    assert counts["failed"] == 1 and "test_lax[cpu-bad_initial_state_rejected]" in out, out


def test_strict_fails_warnings_and_xpasses(tmp_path: pathlib.Path) -> None:
    code, out, counts = run_pytest(_project(tmp_path, strict="strict = true"))
    assert code == 1, out
    assert counts["failed"] == 2 and counts["xfailed"] == 1, out
    assert "[XPASS(strict)]" in out and "--strict" in out  # the reproduce line keeps it
