"""The checker's plumbing, pinned where mutation testing found it unguarded (docs/mutation.md):
the catalogue's entries, pinned cases, the explanation of a failure, the counterexample a check
saves, the report's JSON and counts, the runner's error results and device handling."""

from __future__ import annotations

import dataclasses
import json
import pathlib

import numpy as np
import pytest
import torch

from gruverify.conformance import CHECKS, Check, CheckResult, Report, run_check, run_checks
from gruverify.conformance import checks as checks_module
from gruverify.conformance.cases import CheckCase, Pinned, Sizes
from gruverify.conformance.checks import BOX_WARNING_UNITS, Against
from gruverify.conformance.explain import enlarged, explain_failure
from gruverify.conformance.replay import save_counterexample
from gruverify.core.bounds import BOX_SLACK
from gruverify.core.features import BASIC
from gruverify.core.problem import Capabilities, Problem
from gruverify.error_model import ARITHMETICS, ErrorModel, arithmetic_of
from gruverify.laws import equivalence as eq
from gruverify.laws.base import LawViolation
from gruverify.reference.implementations import NumpyReference
from gruverify.strategies import Config
from gruverify.targets import TargetError, resolve_target
from gruverify.targets.declaration import Declaration

BY_NAME = {c.name: c for c in CHECKS}
F32 = ARITHMETICS["float32"]


# -- the catalogue ----------------------------------------------------------------------------------


def test_forward_checks_force_their_feature_and_judge_equivalence() -> None:
    """The catalogue's entries, and the factories that build them (called here, so mutation
    testing sees them run under a test, not only at import)."""
    forward = [c for c in CHECKS if c.name.startswith("forward[")]
    assert [c.name for c in forward][:7] == [
        "forward[basic]", "forward[multilayer]", "forward[bidirectional]", "forward[bias=False]",
        "forward[batch_first]", "forward[unbatched]", "forward[lengths]",
    ]  # fmt: skip
    basic = checks_module._forward("basic", None)
    assert basic == BY_NAME["forward[basic]"] and basic.name == "forward[basic]"
    assert basic.law is eq.law_forward_equivalence and basic.forced == BASIC
    assert basic.requires == () and basic.diagnose is not None and basic.examples == 12
    assert basic.description == (
        "outputs and h_n equal the float64 reference (one layer, time-major, bias)"
    )
    for name, feature in (("multilayer", "multilayer"), ("bidirectional", "bidirectional"),
                          ("bias=False", "bias_false"), ("batch_first", "batch_first"),
                          ("unbatched", "unbatched"), ("lengths", "lengths")):  # fmt: skip
        c = checks_module._forward(name, feature)
        assert c == BY_NAME[f"forward[{name}]"] and c.name == f"forward[{name}]"
        assert c.law is eq.law_forward_equivalence, name
        assert c.requires == (feature,) and c.forced[feature] is True, name
        assert not any(on for f, on in c.forced.items() if f != feature), name
        assert c.description == f"outputs and h_n equal the float64 reference with {name}"
        assert c.diagnose is not None and c.examples == 12, name
    assert checks_module._forward("basic", None, examples=3).examples == 3


def test_gradient_checks_name_their_loss() -> None:
    for name, loss, law, formula in (
        ("gradient[output]", "output", eq.law_gradient_output, "sum(d_out * output)"),
        ("gradient[h_n]", "h_n", eq.law_gradient_h_n, "sum(d_hn * h_n)"),
        ("gradient[output+h_n]", "both", eq.law_gradient_output_and_h_n,
         "sum(d_out * output) + sum(d_hn * h_n)"),
    ):  # fmt: skip
        c = checks_module._gradient(loss)  # type: ignore[arg-type]
        assert c == BY_NAME[name] and c.name == name
        assert c.loss == loss and c.law is law and c.requires == ("gradients",), name
        assert c.description == f"d/d(x, h0, params) of {formula} equal the reference"
        assert c.examples == 10 and len(c.pinned) == 1, name
        assert c.pinned[0].config.num_layers == 3


def test_pinned_cases_keep_the_check_minimums() -> None:
    check = dataclasses.replace(BY_NAME["chunked continuation"], min_steps=7, min_batch=3,
                                pinned=(Pinned(Config(2, 1, 3, 3, bidirectional=True), "short"),))  # fmt: skip
    (case,) = check.pinned_cases(Capabilities())
    assert case.config.steps == 7 and case.config.batch == 3
    assert case.config.bidirectional is False  # the check's forced feature, over the pin's


def test_pinned_case_adapts_to_the_target() -> None:
    pin = Pinned(Config(5, 2, 3, 3, bidirectional=True, padded=True, batch_first=True,
                        num_layers=2), "why", lengths=(5, 1), h0_fill=1.0)  # fmt: skip
    full = pin.case(Capabilities())
    c = full.config
    assert (c.padded, c.batch_first, c.bidirectional, c.num_layers) == (True, True, True, 2)
    assert c.initial_state is True and full.lengths == (5, 1) and full.h0_fill == 1.0
    assert full.problem().lengths.tolist() == [5, 1]
    lacking = Capabilities(missing={"lengths": "no", "batch_first": "no", "initial_state": "no"})
    bare = pin.case(lacking).config
    assert (bare.padded, bare.batch_first, bare.initial_state) == (False, False, False)
    assert pin.case(lacking).lengths is None
    # lengths that no longer fit the configuration fall back to the drawn ones
    assert pin.case(Capabilities(), min_batch=3).lengths is None
    assert pin.case(Capabilities(), {"lengths": False}).config.padded is False


def test_case_as_dict_names_what_it_fixed() -> None:
    case = CheckCase(Config(2, 2, 1, 1), "ordinary", "zeros", 5)
    d = case.as_dict()
    assert "h0_fill" not in d and "lengths" not in d and d["h0_scale"] == 1.0
    assert d["input_kind"] == "zeros" and d["seed"] == 5 and d["steps"] == 2
    fixed = dataclasses.replace(case, h0_fill=0.5, lengths=(2, 1)).as_dict()
    assert fixed["h0_fill"] == 0.5 and fixed["lengths"] == [2, 1]
    assert "h0_fill=0.5" in dataclasses.replace(case, h0_fill=0.5).describe()


def test_size_limits_must_be_positive_integers() -> None:
    assert Sizes().max_hidden == 9 and Sizes(hidden=64).max_hidden == 64
    for bad in ({"hidden": 0}, {"steps": 2.5}, {"batch": True}):
        (name,) = bad
        with pytest.raises(ValueError, match=f"^max_{name} must be a positive integer, got"):
            Sizes(**bad)  # type: ignore[arg-type]


def test_a_cross_device_check_binds_the_other_target() -> None:
    seen: list[tuple[object, object, object]] = []
    check = Check("pair", lambda i, p, m: None, "", against=Against("cpu", lambda a, b, p: seen.append((a, b, p))))  # fmt: skip
    other, impl = NumpyReference(), NumpyReference()
    problem = CheckCase(Config(1, 1, 1, 1), "ordinary", "ordinary", 0).problem()
    check.bound(other).law(impl, problem, None)
    assert seen == [(other, impl, problem)]
    with pytest.raises(ValueError, match="is not a cross-device check"):
        BY_NAME["determinism"].bound(other)


# -- explaining a failure ----------------------------------------------------------------------------


def test_a_failure_the_shrunk_case_cannot_explain_is_explained_on_it_enlarged() -> None:
    """Reset-before on one step from no initial state equals reset-after: nothing to explain
    there; enlarged (4 steps, an initial state) it is the other variant."""
    impl = resolve_target("gruverify.zoo.mutants:ResetBefore", device="cpu", dtype="float32")
    model = ErrorModel(arithmetic_of(impl))
    check = BY_NAME["forward[basic]"]
    tiny = CheckCase(Config(1, 1, 1, 1, initial_state=False), "ordinary", "ordinary", 0)
    text = explain_failure(check, impl, tiny, model)
    assert text is not None and text.startswith("the target matches the reset-before"), text
    bigger = enlarged(tiny, impl)
    assert text.endswith(f"(on the counterexample enlarged: {bigger.problem().describe()})")
    assert (bigger.config.steps, bigger.config.batch, bigger.config.initial_state) == (4, 2, True)
    # a case that shows the bug is explained on itself
    shown = dataclasses.replace(tiny, config=bigger.config)
    direct = explain_failure(check, impl, shown, model)
    assert direct is not None and "enlarged" not in direct and "reset-before" in direct
    assert explain_failure(BY_NAME["determinism"], impl, shown, model) is None


def test_an_ambiguity_the_enlarged_case_does_not_resolve_stays_on_the_shrunk_case() -> None:
    """Without biases r/z swapped in weights and biases is r/z swapped in the weights: both fit
    at every size, so the enlarged case explains no better and the shrunk one is reported."""
    impl = resolve_target("gruverify.zoo.mutants:GateOrderZRN", device="cpu", dtype="float32")
    model = ErrorModel(arithmetic_of(impl))
    case = CheckCase(Config(3, 2, 3, 3, bias=False), "ordinary", "ordinary", 0)
    text = explain_failure(BY_NAME["forward[basic]"], impl, case, model)
    assert text is not None and "also consistent with" in text, text
    assert "enlarged" not in text, text


# -- the saved counterexample ----------------------------------------------------------------------


def test_save_counterexample_writes_the_spec_and_defaults(tmp_path: pathlib.Path) -> None:
    impl = NumpyReference()
    case = CheckCase(Config(2, 1, 2, 2), "ordinary", "ordinary", 3)
    check = BY_NAME["gradient[h_n]"]
    path = save_counterexample(str(tmp_path), check=check, impl=impl, case=case, seed=9,
                               profile="quick", counterexample={"law": "L"},
                               spec={"target": "pkg:GRU", "declaration": Declaration(cell=True)})  # fmt: skip
    data = json.loads(pathlib.Path(path).read_text())
    assert (data["target"], data["cell"], data["seed"], data["profile"]) == ("pkg:GRU", True, 9,
                                                                           "quick")  # fmt: skip
    assert (data["law"], data["numbers"], data["hypothesis_blob"]) == ("L", {}, None)
    assert data["check"] == "gradient[h_n]" and data["case"] == case.as_dict()
    assert data["cotangents"]["d_output"] is None and data["cotangents"]["d_h_n"] is not None
    path2 = save_counterexample(str(tmp_path / "b"), check=BY_NAME["determinism"], impl=impl,
                                case=case, seed=0, profile="ci", counterexample={}, spec={})  # fmt: skip
    data2 = json.loads(pathlib.Path(path2).read_text())
    assert (data2["target"], data2["cell"], data2["law"]) == (impl.name, False, "")
    assert data2["rerun_check"] == "" and data["rerun_check"] == ""  # no reproduce line given
    assert "cotangents" not in data2
    assert "error" not in data2 and "traceback" not in data2  # only a crash has them
    crashed = {"law": "", "error": "IndexError: boom", "traceback": "Traceback ...", "x": 1}
    path3 = save_counterexample(str(tmp_path / "c"), check=BY_NAME["determinism"], impl=impl,
                                case=case, seed=0, profile="ci", counterexample=crashed,
                                spec={})  # fmt: skip
    data3 = json.loads(pathlib.Path(path3).read_text())
    assert (data3["error"], data3["traceback"]) == ("IndexError: boom", "Traceback ...")
    empty = {**crashed, "traceback": ""}
    path4 = save_counterexample(str(tmp_path / "d"), check=BY_NAME["determinism"], impl=impl,
                                case=case, seed=0, profile="ci", counterexample=empty, spec={})  # fmt: skip
    assert "traceback" not in json.loads(pathlib.Path(path4).read_text())


# -- the report --------------------------------------------------------------------------------------


def _report() -> Report:
    checks = [
        CheckResult("a", "cpu", "passed", "1 case"), CheckResult("b", "cpu", "passed", "2 cases"),
        CheckResult("c", "cpu", "failed", "wrong", counterexample={"case": {}}, diagnosis="d"),
        CheckResult("e", "cpu", "skipped", "lacks"),
    ]  # fmt: skip
    return Report("t", ["cpu"], "float32", {"cpu": "float32"}, "ci", 0, checks, 1.23456)


def test_report_json_keeps_what_it_promises() -> None:
    d = _report().to_dict()
    assert d["seconds"] == 1.235 and isinstance(d["gruverify_version"], str)
    assert d["verdict"] == "fail" and d["target"] == "t" and d["seed"] == 0
    plain = d["checks"][0]
    assert "counterexample" not in plain and "diagnosis" not in plain
    assert d["checks"][2]["diagnosis"] == "d" and d["checks"][2]["counterexample"] == {"case": {}}
    assert d["profile"] == "ci" and d["declaration"] == {}
    declared = dataclasses.replace(_report(), declaration={"node": "GRU_1"}).to_dict()
    assert declared["declaration"] == {"node": "GRU_1"}


def test_an_acknowledged_result_keeps_what_it_was() -> None:
    """``--xfail``: a pass becomes ``xpass`` whose outcome is ``passed``; a failure ``xfail``
    with its own status as outcome; the reason goes with it. A note is one line under the
    result's, and no line without one."""
    from gruverify.conformance.report import acknowledge

    passed, failed = _report().checks[0], _report().checks[2]
    got = acknowledge(passed, "known")
    assert (got.status, got.outcome, got.reason) == ("xpass", "passed", "known")
    got = acknowledge(failed, "known")
    assert (got.status, got.outcome, got.reason) == ("xfail", "failed", "known")
    assert passed.notes() == []
    assert dataclasses.replace(passed, note="judged so").notes() == [" " * 14 + "judged so"]


def test_report_counts_each_status() -> None:
    text = _report().render()
    assert "2 passed" in text and "1 failed" in text and "0 errors" in text
    assert "1 skipped" in text


# -- the runner ---------------------------------------------------------------------------------------


class _Crashes(NumpyReference):
    def forward(self, problem: Problem):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")


def test_a_crash_is_an_error_without_a_diagnosis() -> None:
    result = run_check(BY_NAME["forward[basic]"], _Crashes())
    assert result.status == "error" and result.message.startswith("RuntimeError: boom")
    assert result.diagnosis is None and "diagnosis" not in (result.counterexample or {})
    assert "diagnosis:" not in result.message


def test_cuda_without_cuda_is_refused() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(TargetError, match="--device cuda: CUDA is not available"):
        run_checks("torch-gru", device="cuda", checks=["determinism"])
    with pytest.raises(TargetError, match="unknown device 'tpu'"):
        run_checks("torch-gru", device="tpu", checks=["determinism"])


def test_a_default_device_the_target_refuses_is_one_skipped_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With CUDA present (pretended), a CPU-only target is checked on the CPU, and the CUDA
    device it refuses is one skipped result that gives the reason."""
    from gruverify.conformance import building, runner

    monkeypatch.setattr(building, "available_devices", lambda: ["cpu", "cuda"])
    report = run_checks("numpy-reference", checks=["determinism"])
    refused = [c for c in report.checks if c.name == runner.REFUSED_DEVICE]
    assert len(refused) == 1 and (refused[0].device, refused[0].status) == ("cuda", "skipped")
    assert refused[0].message.startswith("the target does not run on cuda: "), refused[0].message
    assert [c.status for c in report.checks if c.name == "determinism"] == ["passed"]


# -- round 2 (docs/mutation.md, seed 14 on the tree of 1 December, 16:10) -------------------------


def test_a_forced_layout_keeps_a_pinned_case_batched_and_unbatched_follows_forced() -> None:
    """An unbatched pinned configuration under a check that forces ``batch_first`` gets a batch
    of one; a check that forces ``unbatched`` on or off wins over the pinned configuration."""
    unbatched = Pinned(Config(3, None, 2, 2), "why")
    laid_out = unbatched.case(Capabilities(), {"batch_first": True}).config
    assert (laid_out.batch, laid_out.batch_first) == (1, True)
    assert unbatched.case(Capabilities()).config.batch is None
    assert unbatched.case(Capabilities(), {"unbatched": False}).config.batch == 1
    batched = Pinned(Config(3, 2, 2, 2), "why")
    assert batched.case(Capabilities(), {"unbatched": True}).config.batch is None


def test_h0_fill_sets_every_initial_state_entry_keeping_its_sign() -> None:
    case = CheckCase(Config(2, 3, 2, 4), "ordinary", "ordinary", 1, h0_fill=1.0)
    drawn = dataclasses.replace(case, h0_fill=None).problem().h0
    h0 = case.problem().h0
    assert h0 is not None and drawn is not None
    assert np.array_equal(h0, np.where(drawn < 0, -1.0, 1.0))
    assert {-1.0, 1.0} <= set(h0.ravel().tolist())


def _box_break(
    units: float, slack_units: float = BOX_SLACK, u: float = F32.unit_roundoff, bound: float = 2.0
) -> LawViolation:
    """What ``law_box_invariance`` raises for a break of ``units`` u beyond the bound; its slack
    is ``BOX_SLACK`` u plus a declared activation error's allowance."""
    numbers = {"excess": units * u * bound, "bound": bound, "slack": slack_units * u * bound}
    return LawViolation("box invariance", "", "", numbers)


def test_the_box_check_warns_for_a_few_units_beyond_a_declared_slack() -> None:
    """``Check.warning`` of the box check, in the checked arithmetic: a break of up to
    ``BOX_WARNING_UNITS`` = 16 u is a warning, more a failure; a declared activation error's
    allowance (in the law's slack) raises that ceiling by as many units; another law, or an
    excess that is not a float, is never a warning."""
    box = BY_NAME["box invariance"]
    assert BOX_WARNING_UNITS == 16
    text = box.warning(_box_break(14), F32)
    assert text is not None and "broken by 14 u, within 16 u" in text, text
    assert box.warning(_box_break(16.5), F32) is None
    declared = BOX_SLACK + 100  # an activation error's allowance of 100 u
    lax = box.warning(_box_break(110, slack_units=declared), F32)
    assert lax is not None and "within 116 u" in lax, lax
    assert box.warning(_box_break(117, slack_units=declared), F32) is None
    # units of the checked arithmetic: 14 float16 units are about 2^13 x 14 float32 units
    f16 = ARITHMETICS["float16"]
    assert box.warning(_box_break(14, u=f16.unit_roundoff), f16) is not None
    assert box.warning(_box_break(14, u=f16.unit_roundoff), F32) is None
    other = LawViolation("forward equivalence", "", "", {"excess": 0.0, "bound": 1.0})
    assert box.warning(other, F32) is None
    assert (
        box.warning(LawViolation("box invariance", "", "", {"excess": 1, "bound": 1.0}), F32)
        is None
    )


def test_an_ambiguity_on_a_case_already_enlarged_is_reported_on_it() -> None:
    """A case as large as ``enlarged`` makes it: no second diagnosis; the ambiguous answer is
    given as it is, and a conforming target's case has nothing to explain."""
    gates = resolve_target("gruverify.zoo.mutants:GateOrderZRN", device="cpu", dtype="float32")
    case = CheckCase(Config(4, 2, 3, 3, bias=False), "ordinary", "ordinary", 0)
    assert enlarged(case, gates) == case
    text = explain_failure(BY_NAME["forward[basic]"], gates, case, ErrorModel(arithmetic_of(gates)))
    assert text is not None and "also consistent with" in text and "enlarged" not in text, text
    assert text.startswith("the target matches r and z swapped"), text
    ref = NumpyReference()
    assert explain_failure(BY_NAME["forward[basic]"], ref, case, ErrorModel(F32)) is None


def test_the_enlarged_case_has_sizes_three_and_four_steps() -> None:
    """The documented enlargement (at least 4 steps, batch 2, input and hidden size 3), which the
    explanation names; sizes above it are kept."""
    impl = NumpyReference()
    tiny = CheckCase(Config(1, 1, 1, 1, initial_state=False), "ordinary", "ordinary", 7)
    c = enlarged(tiny, impl).config
    assert (c.steps, c.batch, c.input_size, c.hidden_size, c.initial_state) == (4, 2, 3, 3, True)
    large = CheckCase(Config(6, 5, 7, 8), "large", "zeros", 7)
    assert enlarged(large, impl) == large
    assert (
        enlarged(dataclasses.replace(tiny, config=Config(1, None, 1, 1)), impl).config.batch is None
    )


def test_the_explanation_is_judged_by_the_run_error_model() -> None:
    """The diagnosis uses the run's error model (its declared arithmetic, its safety factor), not
    a default one: under a model that tolerates every difference nothing needs explaining."""
    impl = resolve_target("gruverify.zoo.mutants:ResetBefore", device="cpu", dtype="float32")
    case = CheckCase(Config(4, 2, 3, 3), "ordinary", "ordinary", 0)
    check = BY_NAME["forward[basic]"]
    found = explain_failure(check, impl, case, ErrorModel(arithmetic_of(impl)))
    assert found is not None and "reset-before" in found, found
    assert explain_failure(check, impl, case, ErrorModel(arithmetic_of(impl), safety=1e12)) is None


def test_a_replayed_crash_is_an_error_that_names_the_exception() -> None:
    from gruverify.conformance.replay import _judge

    problem = CheckCase(Config(2, 1, 2, 2), "ordinary", "ordinary", 0).problem()
    verdict = _judge(BY_NAME["forward[basic]"], _Crashes(), problem, 10.0, "forward[basic] on t")
    assert verdict is not None
    status, text = verdict
    assert status == 1 and text.startswith("ERROR  forward[basic] on t\n"), text
    assert "RuntimeError: boom" in text, text
    assert _judge(BY_NAME["forward[basic]"], NumpyReference(), problem, 10.0, "h") is None


def _statuses(*statuses: str) -> Report:
    checks = [CheckResult(f"c{i}", "cpu", s, f"{s} message", reason="r")
              for i, s in enumerate(statuses)]  # fmt: skip
    return Report("t", ["cpu"], "float32", {"cpu": "float32"}, "ci", 0, checks, 1.0)


def test_report_phrases_count_warnings_and_acknowledged_checks() -> None:
    one = _statuses("passed", "warning")
    assert one.count_phrase().startswith("1 passed, 1 warning, 0 failed"), one.count_phrase()
    two = _statuses("warning", "warning")
    assert two.count_phrase().startswith("0 passed, 2 warnings, 0 failed"), two.count_phrase()
    acknowledged = _statuses("passed", "xfail", "xfail", "ignored")
    assert acknowledged.verdict_phrase() == "PASS (2 xfail; 1 ignored)"
    assert acknowledged.count_phrase().endswith("2 xfail, 1 ignored")


def test_the_warnings_block_appears_only_for_warnings_not_failing() -> None:
    """Without warnings there is no warnings block; under ``strict`` the warnings are failures
    (the first-failure block), not listed as lax."""
    assert _statuses("passed", "failed").explain_warnings() == ""
    warned = _statuses("passed", "warning")
    assert warned.explain_warnings().startswith("Warnings (lax, not wrong")
    assert "c1 on cpu: warning message" in warned.explain_warnings()
    assert dataclasses.replace(warned, strict=True).explain_warnings() == ""


def test_report_json_says_whether_the_run_completed() -> None:
    assert _report().to_dict()["complete"] is True
    cut = dataclasses.replace(_report(), complete=False, interrupted="SIGTERM")
    d = cut.to_dict()
    assert d["complete"] is False and d["interrupted"] == "SIGTERM", d
    assert d["verdict"] == "interrupted" and d["verdict_so_far"] == _report().verdict, d
    assert "verdict: INTERRUPTED" in cut.render()


def test_a_replay_judges_a_declared_quantization_with_the_targets_effective_weights() -> None:
    """``gruverify replay`` builds the error model as the run did: with a declared quantization,
    the target's own (``default_model``: its effective weights), so a correct quantized target
    passes and one whose effective weights are off the grid fails the effective-weights law."""
    from test_error_model_quantization import _problems as quantized_problems

    from gruverify.conformance.replay import _judge
    from gruverify.zoo.quantized import QuantizedGRU

    p = quantized_problems()[0]
    check = BY_NAME["forward[basic]"]
    assert _judge(check, QuantizedGRU(), p, 30.0, "head") is None
    code, text = _judge(check, QuantizedGRU(bug="zero_point"), p, 30.0, "head")
    assert code == 1 and text.startswith("FAIL  head\neffective weights violated: l0.W_hz"), text


# -- fixed weights, warnings, replayed crashes (the evening's mutation run, docs/mutation.md) ------


def test_fixed_weights_conflict_with_a_forced_feature_they_decide_otherwise() -> None:
    """A model file's weights decide directions, biases and layers: a check that forces one of
    them the other way cannot run on them (the reason names what the weights have); a
    forward-equivalence check runs with the weights' configuration instead, unless it requires
    the feature."""
    from gruverify.conformance.cases import fixed_conflict
    from gruverify.core.params import random_gru_params

    one = random_gru_params(3, 4, rng=0)
    two_way = random_gru_params(3, 4, num_layers=3, bidirectional=True, bias=False, rng=0)
    for fixed, forced, why in (
        (two_way, {"bidirectional": False}, "its GRU has two directions"),
        (one, {"bidirectional": True}, "its GRU has one direction"),
        (two_way, {"bias_false": False}, "its GRU has no biases"),
        (one, {"bias_false": True}, "its GRU has biases"),
        (one, {"multilayer": True}, "its GRU has one layer"),
        (two_way, {"multilayer": False}, "its GRU has 3 layers"),
    ):  # fmt: skip
        feature = next(iter(forced))
        assert fixed_conflict(fixed, forced, (), forward=False) == why, forced
        assert fixed_conflict(fixed, forced, (feature,), forward=True) == why, forced
        assert fixed_conflict(fixed, forced, (), forward=True) is None, forced  # runs as they are
    assert fixed_conflict(one, {"bidirectional": False, "batch_first": True}, (), False) is None


def test_a_bad_initial_state_accepted_is_a_warning_that_says_what_is_judged_elsewhere() -> None:
    from gruverify.conformance.checks import lax_validation

    e = LawViolation("bad initial state rejected", "f", "d", {}, "case")
    assert lax_validation(e, F32) == (
        "input validation: a wrong-shaped h0 is accepted instead of rejected; outputs and "
        "gradients are judged by the other checks"
    )
    assert lax_validation(LawViolation("box invariance", "f", "d", {}, "c"), F32) is None


def test_a_replayed_crash_shows_the_targets_traceback_or_else_the_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``gruverify replay`` of a crash: the target's own frames when there are any, else the
    exception's type and message (an error raised with no frame of the target's code)."""
    from gruverify.conformance import replay

    def crashes(impl: object, problem: object, model: object) -> None:
        raise RuntimeError("kernel launch failed")

    check = dataclasses.replace(BY_NAME["forward[basic]"], law=crashes)
    p = CheckCase(Config(2, 1, 2, 2), "ordinary", "ordinary", 0).problem()
    monkeypatch.setattr(replay, "crash_traceback", lambda e: "")
    code, text = replay._judge(check, NumpyReference(), p, 30.0, "head")
    assert (code, text) == (1, "ERROR  head\nRuntimeError: kernel launch failed")
    monkeypatch.setattr(replay, "crash_traceback", lambda e: "Traceback: in forward")
    assert replay._judge(check, NumpyReference(), p, 30.0, "head") == (
        1, "ERROR  head\nTraceback: in forward"
    )  # fmt: skip


def test_an_unknown_check_with_no_close_name_lists_the_known_ones() -> None:
    from gruverify.conformance.options import _checks, check_names

    with pytest.raises(ValueError) as e:
        _checks(["qqqqqqqq"])
    assert str(e.value) == "unknown check 'qqqqqqqq'; known: " + ", ".join(check_names())


def test_a_report_written_to_a_file_is_its_json_and_one_newline(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "r.json"
    text = _report().to_json(str(path))
    assert path.read_text(encoding="utf-8") == text + "\n"
    assert json.loads(text)["target"] == "t"


def test_a_misspelt_keyword_names_run_checks_and_the_closest_option() -> None:
    """As Python says it of any function (a TypeError), with the option meant."""
    with pytest.raises(TypeError) as e:
        run_checks("numpy-reference", max_hiden=3)
    assert str(e.value) == (
        "run_checks() got an unexpected keyword argument 'max_hiden'; did you mean 'max_hidden'?"
    )
