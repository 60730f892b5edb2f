"""The pytest plugin given a class object checks it exactly as its ``module:qualname`` spec: the
class's ``gruverify_variant`` and ``gruverify_missing`` count, and the reproduce command names
``module:qualname`` (a command that runs)."""

from __future__ import annotations

import pathlib
import shlex

import pytest
from cli_support import run_main
from plugin_class_targets import DeclaredResetBefore

from gruverify.pytest_plugin import conformance_tests, run_one_check
from gruverify.targets import resolve_target, target_spec
from gruverify.zoo.mutants import ResetBefore

SPEC = "plugin_class_targets:DeclaredResetBefore"


def test_a_class_resolves_like_its_module_attr() -> None:
    assert target_spec(DeclaredResetBefore) == SPEC
    by_object, by_name = resolve_target(DeclaredResetBefore), resolve_target(SPEC)
    for impl in (by_object, by_name):
        assert impl.name == SPEC
        assert impl.variant == "reset_before"
        assert not impl.capabilities.supports("dropout")
        assert impl.capabilities.reason("dropout") == "checked without dropout here"


def test_the_plugin_passes_a_correct_reset_before_class_object() -> None:
    """The class declares reset-before: forward[basic] holds, as it does for the spec."""
    run_one_check(DeclaredResetBefore, "forward[basic]")
    run_one_check(SPEC, "forward[basic]")
    test = conformance_tests(DeclaredResetBefore, checks=["forward[basic]"])
    test(gru_device="cpu", gru_check="forward[basic]")


def test_a_class_object_skips_what_it_declares_missing() -> None:
    with pytest.raises(pytest.skip.Exception, match="checked without dropout here"):
        run_one_check(DeclaredResetBefore, "eval without dropout")


def test_the_reproduce_line_of_a_class_object_names_module_attr_and_runs(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    """The undeclared reset-before class fails; its reproduce command is ``gruverify check
    gruverify.zoo.mutants:ResetBefore ...`` and fails the same way when run."""
    with pytest.raises(pytest.fail.Exception) as failed:
        run_one_check(ResetBefore, "forward[basic]")
    lines = [x for x in str(failed.value).splitlines() if x.startswith("reproduce: ")]
    assert len(lines) == 1, str(failed.value)
    argv = shlex.split(lines[0].removeprefix("reproduce: "))
    assert argv[:3] == ["gruverify", "check", "gruverify.zoo.mutants:ResetBefore"], argv
    code, out, err = run_main(capsys, *argv[1:], "--artifacts", str(tmp_path))
    assert code == 1 and "FAIL" in out and "forward[basic]" in out, out + err
