"""When the target itself breaks (issue 20): its traceback, triage of what triggers a crash, crash
versus usage error, no false pass on a bad h0, load errors in full.

The targets are in ``crashing_targets`` (GRUs written as a user would, each with one defect).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import numpy as np
import pytest
from cli_support import run_main

from gruverify.conformance.cases import CheckCase
from gruverify.conformance.checks import ALL_CHECKS, Check
from gruverify.conformance.report import CheckResult, Report, TracebackNotes, merged_triggers
from gruverify.conformance.runner import run_check, run_checks
from gruverify.conformance.triage import Crash, Triage, crash_of, search
from gruverify.core.params import random_gru_params
from gruverify.core.problem import Problem
from gruverify.core.tracebacks import error_key, own_frame, trimmed_traceback
from gruverify.guard import call
from gruverify.isolation import protocol
from gruverify.laws.metamorphic import law_rejects_bad_initial_state
from gruverify.strategies import Config
from gruverify.targets import TargetError, resolve_target

HERE = str(pathlib.Path(__file__).resolve())
TARGETS = str(pathlib.Path(__file__).resolve().parent / "crashing_targets.py")


def _check(name: str) -> Check:
    return next(c for c in ALL_CHECKS if c.name == name)


def _decode_json() -> None:
    json.loads("{")  # raises inside the standard library, a few frames down


def test_trimmed_traceback_keeps_the_own_frames_and_the_last_library_frame() -> None:
    with pytest.raises(ValueError) as info:
        call(_decode_json, timeout=5, what="a call")  # through the guard's thread
    text = trimmed_traceback(info.value)
    frames = [line for line in text.splitlines() if line.strip().startswith('File "')]
    # this test's frame (it called the guard), then _decode_json; the guard's and the thread's
    # frames left out, and json/__init__.py between the own frame and the raising one
    assert f'File "{HERE}"' in frames[1] and "_decode_json" in frames[1], text
    assert "json" in frames[-1] and "decoder.py" in frames[-1], text
    assert len(frames) == 3 and "  ...\n" in text, text
    assert "gruverify/" not in text and "threading" not in text, text
    assert text.splitlines()[-1].startswith("json.decoder.JSONDecodeError: Expecting"), text


def test_own_frame_is_the_users_code_not_gruverify_or_a_library() -> None:
    import torch

    import gruverify.guard

    assert own_frame(HERE) and own_frame("/home/me/my_gru.py")
    assert not own_frame(gruverify.guard.__file__) and not own_frame(torch.__file__)
    assert not own_frame(json.__file__) and not own_frame("<frozen importlib._bootstrap>")
    assert own_frame(torch.__file__, roots=[str(pathlib.Path(torch.__file__).parent)])


def test_error_key_is_the_type_and_frames_not_the_message() -> None:
    tb = 'Traceback\n  File "a.py", line 3, in f\n    x\nIndexError: {}'
    assert error_key("IndexError", tb.format(1)) == error_key("IndexError", tb.format(2))
    assert error_key("IndexError", tb.format(1)) != error_key("KeyError", tb.format(1))
    assert error_key("E", "", "one\ntwo") == "E: one" != error_key("E", "", "three")


def test_the_protocol_carries_a_crashs_traceback() -> None:
    try:
        _decode_json()
    except ValueError as e:
        data = protocol.encode_exception(e)
    back = protocol.decode_exception(data, AssertionError, {})
    assert HERE in back.gruverify_traceback and "_decode_json" in back.gruverify_traceback


def _case(**config: object) -> CheckCase:
    base = dict(steps=3, batch=1, input_size=2, hidden_size=3, initial_state=False)
    return CheckCase(Config(**{**base, **config}), "ordinary", "ordinary", 0)  # type: ignore[arg-type]


_CRASH = Crash("IndexError", "boom", "", "IndexError: boom")


def test_triage_names_a_single_feature_and_confirms_it_on_another_case() -> None:
    def run(c: CheckCase) -> BaseException | None:
        return IndexError("boom") if c.config.batch == 1 else None

    trigger = search(run, _case(), _CRASH)
    assert trigger is not None
    assert trigger.describe() == "raises IndexError whenever batch = 1; passes at batch = 2"
    assert trigger.matches(_case(batch=1, steps=7)) and not trigger.matches(_case(batch=3))


def test_triage_finds_a_disjunction_and_gives_up_on_a_crash_everywhere() -> None:
    def either(c: CheckCase) -> BaseException | None:
        crash = c.config.batch == 1 or c.config.input_size == 1
        return IndexError("boom") if crash else None

    trigger = search(either, _case(input_size=1), _CRASH)
    assert trigger is not None and trigger.any
    assert trigger.names() == "batch = 1 or input_size = 1", trigger.describe()
    assert search(lambda c: IndexError("boom"), _case(), _CRASH) is None

    def other_error_elsewhere(c: CheckCase) -> BaseException | None:
        return IndexError("boom") if c.config.batch == 1 else KeyError("k")

    # another error at batch 2 is another error (the next round's): this one is batch = 1's
    trigger = search(other_error_elsewhere, _case(), _CRASH)
    assert trigger is not None and trigger.names() == "batch = 1"


def test_triage_confirms_a_trigger_on_the_next_seed_wrapping_at_2_to_the_32() -> None:
    """The confirming case is the same case on the next seed (mod 2^32): never the same seed."""
    seen: list[int] = []

    def run(c: CheckCase) -> BaseException | None:
        seen.append(c.seed)
        return IndexError("boom") if c.config.batch == 1 else None

    for seed, following in ((0, 1), (32, 33), (2**32 - 1, 0)):
        trigger = search(run, dataclasses.replace(_case(), seed=seed), _CRASH)
        assert trigger is not None and trigger.whenever, seed
        assert seen[-1] == following, (seed, seen)


def test_triage_reuses_a_trigger_it_found_for_the_same_error() -> None:
    """One run's checks share a ``Triage``: a second check that crashes with the same error on
    a case the first trigger covers is explained by that trigger, without searching again."""
    impl = resolve_target("crashing_targets:SqueezesBatch")
    triage = Triage()
    first = run_check(_check("forward[basic]"), impl, triage=triage)
    runs = triage.runs
    assert runs > 0 and first.trigger, first
    second = run_check(_check("forward[basic]"), impl, triage=triage, seed=1)
    assert second.status == "error" and second.trigger == first.trigger, second
    assert triage.runs == runs


def test_a_crash_at_batch_1_is_triaged_and_the_other_cases_judged() -> None:
    impl = resolve_target("crashing_targets:SqueezesBatch")
    result = run_check(_check("forward[basic]"), impl, triage=Triage())
    assert result.status == "error", result.message
    assert result.trigger == "raises IndexError whenever batch = 1; passes at batch = 2", result
    assert result.cases >= 10, result.message  # judged on the cases that do not trigger it
    assert result.traceback is not None and f'File "{TARGETS}"' in result.traceback
    assert "rows.shape[2]" in result.traceback, result.traceback
    untriaged = run_check(_check("forward[basic]"), impl)
    assert untriaged.status == "error" and untriaged.trigger is None


def test_a_wrong_equation_behind_a_crash_is_still_found() -> None:
    impl = resolve_target("crashing_targets:SqueezesBatchScalesState")
    result = run_check(_check("forward[basic]"), impl, triage=Triage())
    assert result.status == "failed", result.message
    assert "forward equivalence" in result.message and "h_n" in result.message, result.message
    assert "also IndexError" in result.message and result.trigger, result.message


def test_a_crash_is_no_rejection_of_a_bad_initial_state() -> None:
    impl = resolve_target("crashing_targets:SqueezesBatch")
    params = random_gru_params(2, 3, rng=0)
    problem = Problem(params, np.ones((3, 1, 2)), np.zeros((1, 1, 3)))
    with pytest.raises(IndexError):
        law_rejects_bad_initial_state(impl, problem)
    law_rejects_bad_initial_state(impl, Problem(params, np.ones((3, 2, 2)), np.zeros((1, 2, 3))))


def test_a_crash_only_in_float64_is_exit_1_with_its_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    impl = resolve_target("crashing_targets:ZerosWithoutDtype", dtype="float64")  # no usage error
    assert impl.probe_crash is not None  # type: ignore[attr-defined]
    report = tmp_path / "r.json"
    code, out, err = run_main(
        capsys, "check", "crashing_targets:ZerosWithoutDtype", "--dtype", "float64", "--no-isolate",
        "--check", "forward[basic]", "--json", str(report),
    )  # fmt: skip
    assert code == 1 and not err, (out, err)
    # its own frame, then the last frame of the library it called (torch's GRU forward)
    assert f'File "{TARGETS}"' in out and "return super().forward(input, hx)" in out, out
    assert "torch/nn/modules/rnn.py" in out and "_VF.gru(" in out, out
    assert "raises RuntimeError whenever h0 None; passes at a given h0" in out, out
    data = json.loads(report.read_text())
    (group,) = data["errors"]
    assert (
        group["checks"] == ["forward[basic] on cpu"] and "ZerosWithoutDtype" not in group["error"]
    )
    assert "crashing_targets.py" in group["traceback"] and data["checks"][0]["traceback"]


def test_a_misnamed_parameter_lists_the_keys_and_the_closest_name() -> None:
    with pytest.raises(TargetError) as info:
        resolve_target("crashing_targets:Misnamed")
    message = str(info.value)
    assert "\n" not in message
    assert "missing keys (torch.nn.GRU's names): weight_hh_l0" in message, message
    assert "unexpected keys: w_hh_l0" in message, message
    assert "did you mean `weight_hh_l0` for `w_hh_l0`?" in message, message
    assert "gruverify_parameter_names = {'weight_hh_l0': 'w_hh_l0'}" in message, message
    assert message.endswith("or on the command line: --parameter-name weight_hh_l0=w_hh_l0")


def test_a_declared_parameter_map_loads_and_differentiates() -> None:
    impl = resolve_target("crashing_targets:MisnamedDeclared")
    for name in ("forward[basic]", "gradient[output+h_n]"):
        result = run_check(_check(name), impl, profile="quick")
        assert result.status == "passed", result.message


def test_the_rename_map_declared_from_outside_the_class() -> None:
    """``--parameter-name NN_GRU_NAME=YOURS`` (settings ``parameter_names = {...}``, keyword
    ``parameter_names=``): a class one cannot edit is checked under its own names; the declared
    map wins over the class's."""
    from gruverify.targets.declaration import Declaration

    declared = Declaration(parameter_names={"weight_hh_l0": "w_hh_l0"})
    impl = resolve_target("crashing_targets:Misnamed", declaration=declared)
    for name in ("forward[basic]", "gradient[output+h_n]"):
        result = run_check(_check(name), impl, profile="quick")
        assert result.status == "passed", result.message
    with pytest.raises(TargetError, match=r"missing keys \(torch.nn.GRU's names\): nope"):
        resolve_target("crashing_targets:MisnamedDeclared",
                       declaration=Declaration(parameter_names={"weight_hh_l0": "nope"}))  # fmt: skip
    report = run_checks("crashing_targets:Misnamed", checks=["forward[basic]"], profile="quick",
                        parameter_names=["weight_hh_l0=w_hh_l0"])  # fmt: skip
    assert report.verdict == "pass", report.render()
    assert report.declaration["parameter_names"] == {"weight_hh_l0": "w_hh_l0"}, report.declaration
    with pytest.raises(TargetError, match="expected NN_GRU_NAME=YOUR_NAME, got 'weight_hh_l0'"):
        run_checks("crashing_targets:Misnamed", parameter_names=["weight_hh_l0"])


def _error(name: str, key: str = "k") -> CheckResult:
    tb = 'Traceback\n  File "a.py", line 1, in f\n    x\nIndexError: boom'
    return CheckResult(name, "cpu", "error", "IndexError: boom", traceback=tb, error_key=key,
                       trigger=f"raises IndexError whenever {name}; passes at batch = 2")  # fmt: skip


def test_identical_errors_are_one_group_and_one_traceback_on_the_terminal() -> None:
    report = Report("t", ["cpu"], "float32", {"cpu": "float32"}, "ci", 0)
    report.checks = [_error("batch = 1"), _error("unbatched"), _error("steps = 1", key="other")]
    groups = report.to_dict()["errors"]
    assert [g["checks"] for g in groups] == [
        ["batch = 1 on cpu", "unbatched on cpu"], ["steps = 1 on cpu"]
    ]  # fmt: skip
    assert groups[0]["triggers"] == [
        "raises IndexError whenever batch = 1 or unbatched; passes at batch = 2"
    ]
    notes = TracebackNotes()
    first, second = notes.notes(report.checks[0]), notes.notes(report.checks[1])
    assert any('File "a.py"' in n for n in first)
    assert second == [" " * 13 + " the same error as batch = 1 on cpu (its traceback above)"]
    assert "Errors: the target raised 2 distinct errors" in report.render()


def test_merged_triggers_keep_a_phrase_they_cannot_read() -> None:
    assert merged_triggers(["odd"]) == ["odd"]


def test_reproduce_prints_the_traceback_isolated_or_not(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    code, out, _ = run_main(
        capsys, "check", "crashing_targets:SqueezesBatch", "--check", "forward[basic]",
        "--artifacts", str(tmp_path), "--isolate", "--profile", "quick", "--seed", "1",
    )  # fmt: skip
    assert code == 1 and f'File "{TARGETS}"' in out, out  # from the worker
    (saved,) = tmp_path.glob("*.json")
    assert "rows.shape[2]" in json.loads(saved.read_text())["traceback"]
    for isolate in ("--isolate", "--no-isolate"):
        code, out, _ = run_main(capsys, "reproduce", str(saved), isolate)
        assert code == 1 and f'File "{TARGETS}"' in out and "rows.shape[2]" in out, out


def test_crash_of_is_none_for_a_verdict() -> None:
    from gruverify.laws.base import LawViolation

    assert crash_of(LawViolation("l", "f", "d", {}, "")) is None
    assert crash_of(KeyError("k")) is not None


def test_triggers_in_words() -> None:
    """One trigger says itself; triggers of the same error are joined with ``or`` and say
    ``whenever`` only when each was confirmed; other errors follow after ``;``. A disjunction
    passes where all its features are off (``and``), a conjunction where any one is."""
    from gruverify.conformance.triage import FEATURES, Crash, Trigger, describe_triggers

    by_name = {f.name: f for f in FEATURES}
    index = Crash("IndexError", "boom", "", "IndexError@a")
    value = Crash("ValueError", "bad", "", "ValueError@b")
    batch1 = Trigger(index, (by_name["batch = 1"],), any=False, whenever=True)
    steps1 = Trigger(index, (by_name["steps = 1"],), any=False, whenever=False)
    either = Trigger(value, (by_name["batch = 1"], by_name["input_size = 1"]), any=True,
                     whenever=True)  # fmt: skip
    both = Trigger(value, (by_name["batch = 1"], by_name["input_size = 1"]), any=False,
                   whenever=True)  # fmt: skip
    assert (
        describe_triggers([batch1]) == "raises IndexError whenever batch = 1; passes at batch = 2"
    )
    assert describe_triggers([batch1, steps1]) == (
        "raises IndexError at batch = 1 or steps = 1; passes at batch = 2, steps = 2"
    )
    assert describe_triggers([batch1, batch1]) == (
        "raises IndexError whenever batch = 1 or batch = 1; passes at batch = 2"
    )
    assert describe_triggers([batch1, either]) == (
        "raises IndexError whenever batch = 1; passes at batch = 2; raises ValueError whenever "
        "batch = 1 or input_size = 1; passes at batch = 2 and input_size = 2"
    )
    assert both.instead() == "batch = 2, or at input_size = 2"
