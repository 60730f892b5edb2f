"""Verdicts people can act on (issue 11): failures, warnings, acknowledged findings.

- the two warning policies of ``gruverify.conformance.checks``, each shown to warn where it should
  and to leave a failure a failure (a larger box break, a NaN, a crash, another law);
- every status end to end through ``run_checks``: passed, failed, warning, skipped, error, xfail
  (of a failure and of a warning), xpass, ignored, and the verdict each gives with and without
  ``strict``; the JSON report's warning count;
- the CLI: a warning exits 0 and ``--strict`` 1, ``--xfail CHECK=REASON``, ``--ignore CHECK``,
  unknown check names (exit 2 with the closest name), a reproduce line that keeps ``--strict``,
  ``gruverify reproduce`` of a warning;
- the settings file (``[tool.gruverify]`` in ./pyproject.toml, ``--config FILE``), and every kind
  of mistake in it (exit 2, one line);
- the built-in targets' known findings: data that explains a result without changing its status.
"""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib

import numpy as np
import pytest
from cli_support import run_main

from gruverify.conformance import run_checks
from gruverify.conformance.checks import (
    BOX_WARNING_UNITS,
    CHECKS,
    lax_validation,
    within_a_few_units,
)
from gruverify.conformance.config import ConfigError, load_config, parse_acknowledgement
from gruverify.conformance.report import STATUSES, Report
from gruverify.core.params import StackParams, random_gru_params
from gruverify.core.problem import Problem
from gruverify.error_model import ARITHMETICS, arithmetic_of
from gruverify.laws.base import LawViolation
from gruverify.laws.metamorphic import law_box_invariance, law_rejects_bad_initial_state
from gruverify.targets import TARGETS, resolve_target
from gruverify.targets import findings as findings_module
from gruverify.targets.findings import FINDINGS, Finding, finding_for

LAX = "gruverify.zoo.mutants:AcceptsBadInitialState"
NO_BHN = "gruverify.zoo.mutants:NoResetBias"
BAD_H0 = "bad initial state rejected"
F32 = ARITHMETICS["float32"]


def _run(target: str, checks: list[str], **kw: object) -> Report:
    return run_checks(target, device="cpu", dtype="float32", profile="ci", seed=0, checks=checks,
                      **kw)  # type: ignore[arg-type]  # fmt: skip


# --- the warning policies ----------------------------------------------------------------------


def _one_saturated_step() -> Problem:
    """``W_in = 5, W_iz = -5, x = 20``: ``n = tanh(100)``, ``z = sigmoid(-100)``: ``h = n``."""
    zero = random_gru_params(1, 1, rng=0).map(lambda v: 0 * v)
    cell = zero.cells[0][0].replace(W_iz=np.array([[-5.0]]), W_in=np.array([[5.0]]))
    return Problem(StackParams(((cell,),), bias=True), np.array([[[20.0]]]))


@pytest.mark.parametrize(
    ("name", "units", "warns"),
    [("TanhEightUnitsOver", 8, True), ("TanhSixteenUnitsOver", 16, True),
     ("TanhFarOver", 256, False)],
)  # fmt: skip
def test_a_box_break_of_a_few_units_warns_and_a_larger_one_fails(
    name: str, units: int, warns: bool
) -> None:
    impl = resolve_target(f"verdict_targets:{name}")
    with pytest.raises(LawViolation) as info:
        law_box_invariance(impl, _one_saturated_step())
    assert info.value.numbers["excess"] == pytest.approx(units * F32.unit_roundoff)
    lax = within_a_few_units(info.value, arithmetic_of(impl))
    assert (lax is not None) == warns, lax
    assert BOX_WARNING_UNITS == 16
    if warns:
        assert f"broken by {units} u, within 16 u" in str(lax)


def test_a_nan_a_crash_or_another_law_is_never_a_warning() -> None:
    nan = LawViolation("box invariance", "", "", {"excess": math.nan, "bound": 1.0, "slack": 0.0})
    assert within_a_few_units(nan, F32) is None
    for policy in (within_a_few_units, lax_validation):
        assert policy(RuntimeError("the target crashed"), F32) is None
        assert policy(LawViolation("forward equivalence", "", "", {"excess": 0.0}), F32) is None


def test_an_accepted_bad_initial_state_is_a_warning() -> None:
    problem = Problem(random_gru_params(2, 3, rng=0), np.ones((4, 2, 2)), np.zeros((1, 2, 3)))
    with pytest.raises(LawViolation) as info:
        law_rejects_bad_initial_state(resolve_target(LAX), problem)
    assert "input validation" in str(lax_validation(info.value, F32))
    by_name = {c.name: c for c in CHECKS}
    assert by_name[BAD_H0].warns is lax_validation
    assert by_name["box invariance"].warns is within_a_few_units
    assert [c.name for c in CHECKS if c.warns is not None] == ["box invariance", BAD_H0]


# --- every status, end to end ------------------------------------------------------------------


def _status(report: Report) -> tuple[str, str, str]:
    (result,) = report.checks
    strict = dataclasses.replace(report, strict=True)
    return result.status, report.verdict, strict.verdict


@pytest.mark.parametrize(
    ("target", "check", "kw", "expected"),
    [
        ("torch-gru", "forward[basic]", {}, ("passed", "pass", "pass")),
        (NO_BHN, "forward[basic]", {}, ("failed", "fail", "fail")),
        (LAX, BAD_H0, {}, ("warning", "pass", "fail")),
        ("verdict_targets:TanhEightUnitsOver", "box invariance", {}, ("warning", "pass", "fail")),
        ("verdict_targets:TanhFarOver", "box invariance", {}, ("failed", "fail", "fail")),
        ("torch-grucell", "forward[multilayer]", {}, ("skipped", "pass", "pass")),
        ("misbehaving_targets:RaisesOnLargeHidden", "forward[basic]", {},
         ("error", "fail", "fail")),
        (NO_BHN, "forward[basic]", {"xfail": {"forward[basic]": "b_hn known"}},
         ("xfail", "pass", "pass")),
        (LAX, BAD_H0, {"xfail": {BAD_H0: "we broadcast on purpose"}}, ("xfail", "pass", "pass")),
        ("torch-gru", "forward[basic]", {"xfail": {"forward[basic]": "fixed?"}},
         ("xpass", "pass", "fail")),
        ("torch-gru", "determinism", {"ignore": ["determinism"]}, ("ignored", "pass", "pass")),
    ],
)  # fmt: skip
def test_every_status_and_its_verdict(
    target: str, check: str, kw: dict[str, object], expected: tuple[str, str, str]
) -> None:
    report = _run(target, [check], **kw)
    assert _status(report) == expected, report.render()
    (result,) = report.checks
    if result.status in ("xfail", "xpass", "ignored"):
        assert result.reason and result.reason in report.render()
    if result.status == "xfail":
        assert result.outcome in ("failed", "warning") and result.message
    if result.status == "ignored":
        assert result.cases == 0 and "not run" in result.line()
    assert result.to_dict()["status"] == expected[0]


def test_statuses_are_the_issues() -> None:
    assert set(STATUSES) == {"passed", "failed", "warning", "skipped", "error", "xfail", "xpass",
                             "ignored"}  # fmt: skip


def test_a_warning_is_found_but_a_failure_in_the_same_check_wins() -> None:
    """A check whose cases warn keeps searching: a failure on a later case is the result."""
    report = _run("verdict_targets:TanhFarOver", ["box invariance"])
    assert report.checks[0].status == "failed"
    report = _run("verdict_targets:TanhEightUnitsOver", ["box invariance"])
    (result,) = report.checks
    assert result.status == "warning" and result.counterexample is not None
    assert result.counterexample["case"]["steps"] == 1  # shrunk, like a failure
    assert "warning, not a failure: an exact invariant broken by 8 u" in result.message


def test_the_json_report_counts_warnings() -> None:
    report = _run(LAX, [BAD_H0, "forward[basic]"])
    d = json.loads(report.to_json())
    assert d["verdict"] == "pass" and d["warnings"] == 1 and d["strict"] is False
    assert d["counts"]["warning"] == 1 and d["counts"]["passed"] == 1
    assert [c["status"] for c in d["checks"]] == ["passed", "warning"]
    strict = json.loads(dataclasses.replace(report, strict=True).to_json())
    assert strict["verdict"] == "fail" and strict["warnings"] == 1


# --- the command line --------------------------------------------------------------------------


def test_a_warning_exits_0_and_strict_exits_1(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    args = ["check", LAX, "--check", BAD_H0, "--artifacts", str(tmp_path)]
    code, out, err = run_main(capsys, *args)
    assert code == 0, out + err
    assert f"{LAX}: PASS (1 warning: {BAD_H0}) on cpu" in out
    assert "WARN   cpu   bad initial state rejected" in out
    assert "Warnings (lax, not wrong; exit status 0, --strict fails them):" in out
    code, out, err = run_main(capsys, *args, "--strict", "--json", str(tmp_path / "r.json"))
    assert code == 1, out + err
    assert f"FAIL (--strict: 1 warning: {BAD_H0})" in out
    assert "First failure: bad initial state rejected on cpu (warning)" in out
    repro = next(x for x in out.splitlines() if x.startswith("reproduce: "))
    assert "--strict" in repro
    d = json.loads((tmp_path / "r.json").read_text())
    assert d["warnings"] == 1 and d["verdict"] == "fail" and d["strict"] is True


def test_reproducing_a_warning_says_warn_and_exits_0(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    run_main(capsys, "check", LAX, "--check", BAD_H0, "--artifacts", str(tmp_path))
    (saved,) = tmp_path.glob("*.json")
    code, out, err = run_main(capsys, "reproduce", str(saved))
    assert code == 0 and out.startswith("WARN  bad initial state rejected"), out + err
    assert "warning, not a failure: input validation" in out


def test_xfail_and_ignore_on_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(
        capsys, "check", NO_BHN, "--check", "forward[basic]", "--check", "determinism",
        "--xfail", "forward[basic]=our port drops b_hn (issue 7)", "--ignore", "determinism",
    )  # fmt: skip
    assert code == 0, out + err
    assert "XFAIL  cpu   forward[basic]             acknowledged (our port drops b_hn" in out
    assert "IGNORE cpu   determinism                not run, acknowledged:" in out
    assert "Acknowledged findings:" in out
    assert "xfail forward[basic] on cpu: our port drops b_hn (issue 7)" in out
    assert "PASS (1 xfail; 1 ignored)" in out


def test_an_xpass_passes_and_fails_under_strict(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["check", "torch-gru", "--device", "cpu", "--check", "forward[basic]",
            "--xfail", "forward[basic]=thought broken"]  # fmt: skip
    code, out, _ = run_main(capsys, *args)
    assert code == 0 and "XPASS" in out and "1 xpass: forward[basic]" in out, out
    code, out, _ = run_main(capsys, *args, "--strict")
    assert code == 1 and "FAIL (--strict: 1 xpass: forward[basic])" in out, out


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--xfail", "forwrd[basic]=x"], "--xfail: unknown check 'forwrd[basic]'; did you mean "
         "'forward[basic]'?"),
        (["--ignore", "box invarience"], "--ignore: unknown check 'box invarience'; did you mean "
         "'box invariance'?"),
        (["--xfail", "box invariance"], "--xfail: give a reason for 'box invariance', as "
         "'box invariance=why it is known'"),
        (["--activation-error", "0.5"], "must be in [0, 0.1)"),
        (["--config", "no/such/file.toml"], "--config no/such/file.toml: no such file"),
    ],
)  # fmt: skip
def test_mistakes_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], says: str
) -> None:
    code, out, err = run_main(capsys, "check", "torch-gru", "--device", "cpu", *args)
    assert code == 2, out + err
    assert says in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_a_check_name_holding_an_equals_sign_parses() -> None:
    assert parse_acknowledgement("h0=None equals zeros=our h0 default", "--xfail",
                                 need_reason=True) == ("h0=None equals zeros", "our h0 default")  # fmt: skip
    assert parse_acknowledgement("determinism", "--ignore", need_reason=False)[0] == "determinism"


# --- the settings file -------------------------------------------------------------------------

SETTINGS = """
[tool.gruverify]
strict = true
activation_error = 0.0

[[tool.gruverify.xfail]]
target = "gruverify.zoo.mutants:NoResetBias"
check = "forward[basic]"
reason = "b_hn is dropped on purpose"

[[tool.gruverify.xfail]]
target = "torch-gru"
check = "determinism"
reason = "not this target's"

[[tool.gruverify.ignore]]
check = "instance reuse"
reason = "stateless by construction"
"""


def test_pyproject_settings_are_read_from_the_working_directory(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text(SETTINGS)
    monkeypatch.chdir(tmp_path)
    settings = load_config()
    assert settings.strict is True and settings.source.endswith("[tool.gruverify]")
    assert settings.acknowledged(NO_BHN) == (
        {"forward[basic]": "b_hn is dropped on purpose"},
        {"instance reuse": "stateless by construction"},
    )
    code, out, err = run_main(capsys, "check", NO_BHN, "--check", "forward[basic]", "--check",
                              "instance reuse", "--check", "determinism")  # fmt: skip
    assert code == 0, out + err  # strict, but the failure is acknowledged and nothing warns
    assert "XFAIL" in out and "b_hn is dropped on purpose" in out and "IGNORE" in out
    assert "PASS   cpu   determinism" in out  # the other target's entry does not apply


def test_a_config_file_by_name_with_top_level_keys(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    path = tmp_path / "gruverify.toml"
    path.write_text('strict = true\n[[xfail]]\ncheck = "bad initial state rejected"\n'
                    'reason = "our API broadcasts h0 on purpose"\n')  # fmt: skip
    code, out, err = run_main(capsys, "check", LAX, "--check", BAD_H0, "--config", str(path),
                              "--artifacts", str(tmp_path))  # fmt: skip
    assert code == 0 and "our API broadcasts h0 on purpose" in out, out + err
    code, out, err = run_main(capsys, "check", LAX, "--check", BAD_H0, "--artifacts",
                              str(tmp_path))  # fmt: skip
    assert code == 0 and "WARN" in out, out + err  # without the file: a warning again


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[tool.gruverify]\nstict = true\n", "unknown key 'stict'; did you mean 'strict'?"),
        ("[tool.gruverify]\nstrict = \"yes\"\n", "strict: must be true or false, got 'yes'"),
        ("[tool.gruverify]\nseed = true\n", "seed: not a whole number: True"),
        ("[tool.gruverify]\nprofile = \"fast\"\n", "unknown profile 'fast'"),
        ("[tool.gruverify]\nactivation_error = 2\n", "activation_error must be in [0, 0.1)"),
        ("[tool.gruverify]\naccumulator = \"tf32\"\n",
         "unknown accumulator 'tf32'; expected one of float64, float32, float16, bfloat16"),
        ("[tool.gruverify]\naccumulator = 32\n", "accumulator must be None or one of"),
        ("[tool.gruverify]\nmax_steps = 0\n", "max_steps: must be at least 1, got 0"),
        ("[tool.gruverify]\nxfail = 3\n", "xfail must be an array of tables"),
        ("[[tool.gruverify.xfail]]\ncheck = \"box invariance\"\n",
         "[[xfail]] entry 1: reason = \"...\" is required"),
        ("[[tool.gruverify.xfail]]\ncheck = \"box invarance\"\nreason = \"r\"\n",
         "unknown check 'box invarance'; did you mean 'box invariance'?"),
        ("[[tool.gruverify.ignore]]\ncheck = \"determinism\"\nreason = \"r\"\ntarget = \"torch-gur\"\n",
         "unknown target 'torch-gur'; did you mean 'torch-gru'?"),
        ("[[tool.gruverify.ignore]]\ncheck = \"determinism\"\nwhy = \"r\"\n",
         "unknown key 'why'"),
        ("[tool.gruverify\n", "not valid TOML"),
    ],
)  # fmt: skip
def test_a_bad_settings_file_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch,
    text: str, says: str,
) -> None:  # fmt: skip
    (tmp_path / "pyproject.toml").write_text(text)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError):
        load_config()
    code, out, err = run_main(capsys, "check", "torch-gru", "--device", "cpu")
    assert code == 2, out + err
    assert says in err and "pyproject.toml" in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_the_matrix_table_belongs_to_gruverify_matrix(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.gruverify]\nstrict = true\n[tool.gruverify.matrix]\njobs = 2\n"
    )
    monkeypatch.chdir(tmp_path)
    assert load_config().strict is True


def test_a_pyproject_without_the_table_is_no_settings(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    monkeypatch.chdir(tmp_path)
    assert load_config().xfail == () and load_config().strict is None
    with pytest.raises(ConfigError, match=r"no \[tool.gruverify\] table"):
        load_config(str(tmp_path / "pyproject.toml"))


# --- known findings ----------------------------------------------------------------------------


def test_the_built_in_findings_name_real_targets_and_checks() -> None:
    names = {c.name for c in CHECKS}
    for f in FINDINGS:
        # a built-in name, or a conversion variant of one (mnn[origin-rnn]: MnnGRUTarget's options)
        assert {t.split("[")[0] for t in f.targets} <= set(TARGETS), f
        assert all(any(f.concerns(t, n) for n in names) for t in f.targets), f
        assert f.what and f.seen_in
    box = finding_for("onnx-torchscript", "box invariance")
    assert box is not None and "1 + 2^-21" in str(box) and "onnxruntime 1.32.0" in str(box)
    assert "keras-team/keras#21183" in str(finding_for("keras-reset-after", BAD_H0))
    nnx = finding_for("flax-nnx", "gradient[h_n]")
    assert nnx is not None and "google/flax#5594" in str(nnx) and "b_hn" in str(nnx)
    assert finding_for("torch-gru", "box invariance") is None
    assert finding_for("flax-nnx", "determinism") is None


def test_a_finding_is_printed_beside_its_result_and_keeps_its_status(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    planted = Finding((LAX,), (BAD_H0,), "this GRU broadcasts h0", "the zoo", "none")
    monkeypatch.setattr(findings_module, "FINDINGS", (planted,))
    report = _run(LAX, [BAD_H0, "forward[basic]"])
    warned, passed = sorted(report.checks, key=lambda c: c.status, reverse=True)
    assert warned.status == "warning" and warned.finding == str(planted)
    assert passed.status == "passed" and passed.finding is None  # a pass needs no explaining
    assert report.to_dict()["checks"][1]["finding"] == str(planted)
    code, out, _ = run_main(capsys, "check", LAX, "--check", BAD_H0, "--artifacts", str(tmp_path))
    assert code == 0 and "known finding: this GRU broadcasts h0 (seen in the zoo" in out
