"""``--accumulator FORMAT``: a run declares the format its targets' products accumulate in, for a
target the user does not own (gruverify.targets.declaration), like ``--activation-error``.

The target (tests/accumulator_targets.py): ``HalfLibrary``, a float16 GRU behind the adapter API
that declares no arithmetic (torch's CPU ops behind it accumulate in float32), and
``HalfLibraryPlanted``, the same with its recurrent weights 3% too large at input and hidden sizes
of 100 or more. Checked with ``--max-hidden 128`` (forward[basic], seed 0: its twelve draws hold
such a problem with ordinary weights; of seeds 0 to 15, three do, so the declared run fails on
three and the undeclared passes on all sixteen):

- undeclared, the planted change passes (float16 accumulation's tolerance hides it); with
  ``--accumulator float32`` it fails; a 30% change fails undeclared too (the draws reach the
  planted sizes); the correct one passes both ways; a wrong declaration (a kernel that sums in
  float16, declared float32) brings its own rounding closer to a false alarm;
- the declaration is printed, carried by the reproduce command and by the counterexample file
  (``gruverify reproduce`` declares it again: without it the saved case passes);
- isolated targets take it on the checker's side (no round trip to the worker);
- the settings' ``accumulator`` key, the command line winning; bad values are usage errors that
  name the formats; the pytest plugin's ``--gru-accumulator``, its settings key and
  ``conformance_tests(accumulator=)``, in a child pytest.
"""

from __future__ import annotations

import json
import pathlib
import shlex

import pytest
from accumulator_targets import HalfLibrary, wrong_declaration_ratios
from cli_support import run_main, run_pytest

from gruverify.conformance import run_checks
from gruverify.conformance.replay import replay
from gruverify.conformance.report import Report
from gruverify.error_model import arithmetic_of
from gruverify.targets import TargetError
from gruverify.targets.declaration import Declaration

PLANTED = "accumulator_targets:HalfLibraryPlanted"
CORRECT = "accumulator_targets:HalfLibrary"
CHECK = "forward[basic]"
ARGS = ["--dtype", "float16", "--max-hidden", "128", "--check", CHECK]


def _run(target: object, **kw: object) -> Report:
    return run_checks(target, device="cpu", dtype="float16", profile="ci", seed=0,  # type: ignore[arg-type]
                      checks=[CHECK], max_hidden=128, **kw)  # type: ignore[arg-type]  # fmt: skip


def _status(report: Report) -> str:
    [result] = report.checks
    return result.status


# -- the verdict ---------------------------------------------------------------------------------


def test_the_declaration_flags_what_float16_accumulation_hides() -> None:
    assert _status(_run(PLANTED)) == "passed"
    report = _run(PLANTED, accumulator="float32")
    assert _status(report) == "failed", report.render()  # else: pick a seed that draws 128 x 128
    assert report.arithmetic["cpu"] == "float16 (u = 0.000488), float32 accumulation"
    assert "float32 accumulation" in report.checks[0].message
    case = report.checks[0].counterexample["case"]
    assert min(case["input_size"], case["hidden_size"]) >= HalfLibrary.PLANTED_FROM, case


def test_the_draws_reach_the_planted_sizes() -> None:
    """The undeclared pass is the tolerance's doing: ten times the change fails undeclared."""
    tenfold = type("HalfLibraryPlanted30", (HalfLibrary,), {"planted": 1.3})
    assert _status(_run(tenfold())) == "failed"


@pytest.mark.parametrize("accumulator", [None, "float32"])
def test_a_correct_float16_library_passes_both_ways(accumulator: str | None) -> None:
    assert _status(_run(CORRECT, accumulator=accumulator)) == "passed"


def test_the_command_line_declares_it_prints_it_and_reproduces_it(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    code, out, err = run_main(capsys, "check", PLANTED, *ARGS, "--no-isolate")
    assert code == 0, out + err
    args = [*ARGS, "--accumulator", "float32", "--artifacts", str(tmp_path)]
    code, out, err = run_main(capsys, "check", PLANTED, *args)  # isolated: the CLI's default
    assert code == 1, out + err
    assert "arithmetic cpu: float16 (u = 0.000488), float32 accumulation" in out
    [line] = [x for x in out.splitlines() if x.startswith("reproduce: ")]
    rerun = shlex.split(line.removeprefix("reproduce: "))
    assert rerun[rerun.index("--accumulator") + 1] == "float32", line
    code, again, err = run_main(capsys, *rerun[1:], "--artifacts", str(tmp_path))
    assert code == 1 and "float32 accumulation" in again, again + err


def test_a_saved_counterexample_declares_it_again(tmp_path: pathlib.Path) -> None:
    report = _run(PLANTED, accumulator="float32", artifacts=str(tmp_path))
    assert _status(report) == "failed"
    [path] = tmp_path.glob("*.json")
    data = json.loads(path.read_text())
    assert (data["accumulator"], data["activation_error"]) == ("float32", 0.0)
    assert "--accumulator float32" in data["rerun_check"]
    code, text = replay(str(path))
    assert code == 1 and "float32 accumulation" in text, text
    data["accumulator"] = None  # the same case judged undeclared: it passes
    path.write_text(json.dumps(data))
    code, text = replay(str(path))
    assert code == 0 and text.startswith("PASS"), text


def test_an_isolated_target_takes_it_on_the_checkers_side() -> None:
    from gruverify.guard import CallLimits
    from gruverify.isolation.client import build_isolated

    impl = build_isolated(CORRECT, "cpu", "float16", False, limits=CallLimits())
    try:
        Declaration(accumulator="float32").apply([impl])
        assert impl.arithmetic.accumulator is None  # what the worker described: nothing declared
        assert arithmetic_of(impl).accumulator == "float32"  # type: ignore[arg-type]
    finally:
        impl.close()
    report = _run(PLANTED, accumulator="float32", isolate=True)
    assert _status(report) == "failed" and "float32 accumulation" in report.arithmetic["cpu"]


def test_it_reaches_a_built_in_target_and_overrides_a_declared_one() -> None:
    report = run_checks("numpy-reference", checks=[CHECK], accumulator="float64")
    assert report.arithmetic["cpu"].endswith(", float64 accumulation"), report.arithmetic
    report = run_checks("torch-reference", dtype="float16", checks=[CHECK], accumulator="float16")
    assert report.arithmetic["cpu"].endswith(", float16 accumulation"), report.arithmetic


def test_a_wrong_declaration_spends_the_margin() -> None:
    """A kernel that adds its products one by one in float16, declared float32: its rounding takes
    three to four times the share of the tolerance at hidden 256 (0.37 against 0.11; at 1024 0.75
    to 0.88, at 2048 1.19: a false alarm), so only a known accumulator is declared."""
    for seed in (0, 1):
        undeclared, declared = wrong_declaration_ratios(16, 4, 256, seed)
        assert undeclared < 0.2 and 2.5 * undeclared < declared < 1.0, (undeclared, declared)


# -- settings and mistakes -----------------------------------------------------------------------


def test_the_settings_declare_it_and_the_command_line_wins(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.gruverify]\naccumulator = "float32"\n')
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(capsys, "check", PLANTED, *ARGS, "--no-isolate")
    assert code == 1 and "float32 accumulation" in out, out + err
    code, out, err = run_main(capsys, "check", PLANTED, *ARGS, "--no-isolate",
                              "--accumulator", "float16")  # fmt: skip
    assert code == 0 and "float16 accumulation" in out, out + err


def test_a_bad_format_is_a_usage_error_naming_the_formats(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run_main(capsys, "check", CORRECT, "--accumulator", "tf32")
    assert code == 2 and "'float32', 'float16', 'bfloat16'" in err, out + err
    with pytest.raises(TargetError, match=r"accumulator=\.\.\.\): unknown accumulator 'tf32'"):
        run_checks(CORRECT, accumulator="tf32")
    with pytest.raises(
        TargetError, match=r"activation_error=\.\.\.\): activation_error must be in"
    ):
        run_checks(CORRECT, activation_error=0.5)


def test_the_options_say_what_is_declared() -> None:
    assert Declaration().options() == [] and Declaration().attributes() == {}
    both = Declaration(activation_error=1e-4, accumulator="float32")
    assert both.options() == ["--activation-error", "0.0001", "--accumulator", "float32"]
    assert both.attributes() == {"activation_error": 1e-4, "accumulator": "float32"}
    recorded = Declaration().recorded(HalfLibrary())
    assert Declaration.of_record(recorded) == Declaration()


# -- the pytest plugin ---------------------------------------------------------------------------

PLUGIN_TESTS = f"""
from gruverify.pytest_plugin import conformance_tests

test_keyword = conformance_tests("{PLANTED}", dtype="float16", checks=["{CHECK}"], max_hidden=128,
                                 accumulator="float32")
test_session = conformance_tests("{PLANTED}", dtype="float16", checks=["{CHECK}"], max_hidden=128)
"""


@pytest.mark.parametrize(
    ("settings", "args", "session_fails"),
    [("", (), False), ("", ("--gru-accumulator", "float32"), True),
     ('accumulator = "float32"', (), True)],
    ids=["keyword only", "option", "settings"],
)  # fmt: skip
def test_the_plugin_declares_it(
    tmp_path: pathlib.Path, settings: str, args: tuple[str, ...], session_fails: bool
) -> None:
    (tmp_path / "pyproject.toml").write_text(f"[tool.gruverify]\n{settings}\n")
    (tmp_path / "test_gru.py").write_text(PLUGIN_TESTS)
    code, out, counts = run_pytest(tmp_path, *args)
    assert code == 1, out
    assert counts == ({"failed": 2} if session_fails else {"failed": 1, "passed": 1}), out
    assert "--accumulator float32" in out and "float32 accumulation" in out, out


def test_the_plugin_refuses_a_bad_format(tmp_path: pathlib.Path) -> None:
    (tmp_path / "test_gru.py").write_text(PLUGIN_TESTS)
    code, out, _ = run_pytest(tmp_path, "--gru-accumulator", "float24")
    assert code == 4 and "invalid choice: 'float24'" in out, out
    (tmp_path / "pyproject.toml").write_text('[tool.gruverify]\naccumulator = "fp16"\n')
    code, out, _ = run_pytest(tmp_path)
    assert "unknown accumulator 'fp16'; expected one of float64, float32" in out, out
    assert code != 0, out
