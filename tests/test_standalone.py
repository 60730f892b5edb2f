"""Standalone reproductions (issue 23): a counterexample file as a script a library's maintainers
can run without gruverify.

Every script here runs in a subprocess where gruverify cannot be imported (``python -I`` with
``sys.modules["gruverify"] = None``). For each known finding of the built-in targets whose library
is installed (docs/repros/: counterexample files saved by ``gruverify check``), the committed script
is what the generator writes today, exits 1 on the pinned library, and exits 0 when the same
script template calls a correct implementation of the same API (the file's target switched to
``torch-gru``) and, where the finding has a trigger, when the same library runs the case without
it (no lengths, ``b_hn = 0``, an input that does not saturate): so the template calls the library
right and the failure is the finding. The MNN scripts also pass when onnxruntime, not MNN's
converter and runtime, runs the very .onnx file they write. Zoo mutants and a user's ``module:attr`` class work the same
way, forward and gradient. The findings' scripts stay under 120 lines. The scripts of the
findings whose libraries live in environments of their own (Paddle, Keras on TensorFlow) are
compared with the generator's output here and run by tests/test_standalone_paddle.py and
tests/test_standalone_keras_tensorflow.py there; the crash and non-finite gradient scripts are
also run here on user GRUs that segfault or have a NaN backward.
"""

from __future__ import annotations

import importlib.util
import json
import pathlib
import re
from typing import Any

import numpy as np
import pytest
from standalone_support import (
    MAX_LINES,
    REPROS,
    load,
    regenerate_command,
    report,
    run_without_gruverify,
    script_from,
    with_problem,
)

from gruverify.cli import main as cli_main
from gruverify.conformance.checks import ALL_CHECKS
from gruverify.conformance.counterexample import (
    load_problem,
    problem_to_dict,
    write_counterexample,
)
from gruverify.conformance.standalone import (
    StandaloneError,
    issue_text,
    standalone_script,
    write_standalone,
)
from gruverify.core.problem import Problem
from gruverify.laws.base import LawViolation
from gruverify.laws.equivalence import cotangents
from gruverify.strategies import Config, make_case
from gruverify.targets import resolve_target

#: docs/repros/NAME.json -> the distribution its script needs.
FINDINGS = {
    "onnx-reference-lengths": "onnx",
    "onnx-reference-initial-state": "onnx",
    "openvino-lengths": "openvino",
    "onnxruntime-tanh": "onnxruntime",
    "keras-initial-state": "keras",
    "flax-nnx-b_hn": "flax",
    "mnn-lengths": "MNN",
    "mnn-initial-state": "MNN",
    "mnn-dynamic-time": "MNN",
    "mnn-origin-rnn": "MNN",
}


def _needs(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed")


def test_gruverify_is_unimportable_in_the_runner(tmp_path: pathlib.Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import gruverify\n", encoding="utf-8")
    result = run_without_gruverify(probe)
    assert result.returncode != 0 and "gruverify" in result.stderr, report(result)


@pytest.mark.parametrize("name", sorted(FINDINGS))
def test_committed_script_is_what_the_generator_writes(name: str) -> None:
    _needs(FINDINGS[name])
    want = standalone_script(load(name)).script
    got = (REPROS / f"{name}.py").read_text(encoding="utf-8")
    assert got == want, (
        f"docs/repros/{name}.py is stale: regenerate it with `{regenerate_command(name)}`"
    )


#: docs/repros/NAME.json whose libraries live in environments of their own (.venv-paddle,
#: .venv-tf, .venv-mindspore, .venv-jittor): their scripts are run by
#: tests/test_standalone_{paddle,keras_tensorflow,mindspore,jittor}.py there; writing them needs
#: no library.
OTHER_ENVS = {
    "paddle-reverse-lengths-gradient": "gradient",
    "paddle-nan-gradient": "nonfinite",
    "paddle-bias-false-crash": "crash",
    "keras-tensorflow-initial-state": "bad_state",
    "mindspore-tanh": "forward",
    "mindspore-initial-state": "bad_state",
    "jittor-initial-state": "bad_state",
}


@pytest.mark.parametrize("name", sorted(OTHER_ENVS))
def test_other_environments_scripts_are_what_the_generator_writes(name: str) -> None:
    rep = standalone_script(load(name))
    assert rep.kind == OTHER_ENVS[name]
    got = (REPROS / f"{name}.py").read_text(encoding="utf-8")
    assert got == rep.script, (
        f"docs/repros/{name}.py is stale: regenerate it with `{regenerate_command(name)}`"
    )
    if rep.kind in ("crash", "bad_state", "forward"):  # forward calls: they must fit an issue
        assert rep.script.count("\n") < MAX_LINES, f"{name}: {rep.script.count(chr(10))} lines"


@pytest.mark.parametrize("name", sorted(FINDINGS))
def test_finding_script_fails_on_the_pinned_library(name: str, tmp_path: pathlib.Path) -> None:
    _needs(FINDINGS[name])
    result = run_without_gruverify(script_from(load(name), tmp_path, name))
    assert result.returncode == 1 and "FAIL" in result.stdout, report(result)


@pytest.mark.parametrize("name", sorted(FINDINGS))
def test_finding_script_passes_against_torch_gru(name: str, tmp_path: pathlib.Path) -> None:
    """The same case and check, the library call replaced by torch.nn.GRU's (a correct GRU)."""
    data = load(name)
    data["target"] = "torch-gru"
    result = run_without_gruverify(script_from(data, tmp_path, name))
    assert result.returncode == 0 and "PASS" in result.stdout, report(result)


def _no_lengths(p: Problem) -> Problem:
    return Problem(p.params, p.x, p.h0, p.batch_first, None)


def _no_b_hn(p: Problem) -> Problem:
    cell = p.params.cell(0, 0)
    params = p.params.replace_cell(0, 0, cell.replace(b_hn=np.zeros_like(cell.b_hn)))
    return Problem(params, p.x, p.h0, p.batch_first, p.lengths)


def _small_input(p: Problem) -> Problem:
    return Problem(p.params, np.asarray(p.x) * 1e-3, p.h0, p.batch_first, p.lengths)


CONTROLS = {
    "onnx-reference-lengths": _no_lengths,
    "openvino-lengths": _no_lengths,
    "flax-nnx-b_hn": _no_b_hn,
    "onnxruntime-tanh": _small_input,
    "mnn-lengths": _no_lengths,
}


@pytest.mark.parametrize("name", sorted(CONTROLS))
def test_same_library_passes_without_the_trigger(name: str, tmp_path: pathlib.Path) -> None:
    """The template calls the library right: without the finding's trigger the script passes."""
    _needs(FINDINGS[name])
    data = load(name)
    changed = with_problem(data, CONTROLS[name](load_problem(data["problem"])))
    result = run_without_gruverify(script_from(changed, tmp_path, name))
    assert result.returncode == 0 and "PASS" in result.stdout, report(result)


_MNN_RUN = re.compile(r"    _tools\.mnnconvert\(.*? for r in out\]\n", re.S)
_ONNXRUNTIME_RUN = """    import onnxruntime
    session = onnxruntime.InferenceSession(src, providers=["CPUExecutionProvider"])
    return [np.asarray(a, np.float64) for a in session.run(None, inputs)]
"""


MNN_FINDINGS = sorted(name for name in FINDINGS if name.startswith("mnn-"))


@pytest.mark.parametrize("name", MNN_FINDINGS)
def test_mnn_script_passes_when_onnxruntime_runs_the_onnx_file_it_converts(
    name: str, tmp_path: pathlib.Path
) -> None:
    """The MNN scripts' ONNX file is the right GRU: the same script, its conversion and MNN run
    replaced by onnxruntime on the very .onnx file it wrote, passes (onnxruntime honours
    sequence_lens, rejects an initial_h of batch 1, runs a dynamic time axis and gives the reverse
    final state); only MNN's converter and runtime differ."""
    _needs("MNN")
    _needs("onnxruntime")
    script = script_from(load(name), tmp_path, name)
    text, swaps = _MNN_RUN.subn(_ONNXRUNTIME_RUN, script.read_text(encoding="utf-8"))
    assert swaps == 1, "the mnn template's conversion and run were not found in the script"
    script.write_text(text, encoding="utf-8")
    result = run_without_gruverify(script)
    assert result.returncode == 0 and "PASS" in result.stdout, report(result)


@pytest.mark.parametrize("name", ["mnn-dynamic-time", "mnn-origin-rnn"])
def test_mnn_variant_script_passes_with_the_default_conversion(
    name: str, tmp_path: pathlib.Path
) -> None:
    """The variants' trigger is the conversion: the same case through the ``mnn`` template (the
    time axis static, no --useOriginRNNImpl) passes on the same MNN."""
    _needs("MNN")
    data = load(name)
    script = script_from({**data, "target": "mnn"}, tmp_path, name)
    variant = script_from(data, tmp_path, f"{name}-variant").read_text(encoding="utf-8")
    assert variant != script.read_text(encoding="utf-8"), "the variant's template is the plain one"
    result = run_without_gruverify(script)
    assert result.returncode == 0 and "PASS" in result.stdout, report(result)


@pytest.mark.parametrize("name", sorted(FINDINGS))
def test_forward_scripts_fit_an_issue(name: str) -> None:
    rep = standalone_script(load(name))
    lines = rep.script.count("\n")
    assert lines < MAX_LINES, f"{name}: {lines} lines"
    assert "gruverify" not in "".join(
        line for line in rep.script.splitlines() if line.startswith(("import", "from"))
    )


# -- counterexamples made by the checks' own laws ------------------------------------------------


def _counterexample(
    tmp_path: pathlib.Path, target: str, check_name: str, problem: Problem
) -> dict[str, Any]:
    """The file ``gruverify check`` would save for ``check_name`` failing on ``problem``."""
    check = next(c for c in ALL_CHECKS if c.name == check_name)
    impl = resolve_target(target)
    with pytest.raises(LawViolation) as caught:
        check.law(impl, problem, None)
    meta = {
        "target": target, "cell": False, "device": "cpu", "dtype": impl.dtype,
        "check": check_name, "profile": "test", "seed": 0, "hypothesis_blob": None,
        "law": caught.value.law, "numbers": caught.value.numbers, "case": {},
        "rerun_check": f"gruverify check {target} --check '{check_name}'",
    }  # fmt: skip
    tangents = None if check.loss is None else cotangents(problem, check.loss)
    path = write_counterexample(str(tmp_path), meta, problem, tangents)
    return json.loads(pathlib.Path(path).read_text(encoding="utf-8"))


def _problem(cfg: Config, seed: int = 1) -> Problem:
    return make_case(cfg, "ordinary", "ordinary", seed).problem


@pytest.mark.parametrize(
    ("mutant", "check"),
    [("NoResetBias", "forward[basic]"), ("BackwardDropsUpdateGatePath", "gradient[output]")],
)
def test_zoo_mutant_script(mutant: str, check: str, tmp_path: pathlib.Path) -> None:
    """A zoo mutant's script carries the mutant's code (gruverify stays unimportable), fails,
    and passes once the target is torch.nn.GRU."""
    target = f"gruverify.zoo.mutants:{mutant}"
    data = _counterexample(tmp_path, target, check, _problem(Config(3, 2, 3, 3)))
    script = script_from(data, tmp_path, mutant)
    assert f"class {mutant}(ZooGRU)" in script.read_text(encoding="utf-8")
    result = run_without_gruverify(script)
    assert result.returncode == 1 and "FAIL" in result.stdout, report(result)
    data["target"] = "torch-gru"
    result = run_without_gruverify(script_from(data, tmp_path, "fixed"))
    assert result.returncode == 0 and "PASS" in result.stdout, report(result)


def test_check_without_template_falls_back_to_the_forward_comparison(
    tmp_path: pathlib.Path,
) -> None:
    """WrongAtBatch3 is caught by batch independence; on that case its forward call is already
    wrong (stale rows at batch >= 3 without h0), so the script compares the forward call. A
    mutant whose failure needs two calls (state left by the previous call) gets an error."""
    problem = _problem(Config(2, 3, 2, 3, initial_state=False))
    data = _counterexample(tmp_path, "gruverify.zoo.mutants:WrongAtBatch3", "batch independence",
                           problem)  # fmt: skip
    result = run_without_gruverify(script_from(data, tmp_path, "batch3"))
    assert result.returncode == 1 and "FAIL" in result.stdout, report(result)
    fixed = {**data, "target": "torch-gru", "check": "forward[basic]"}
    result = run_without_gruverify(script_from(fixed, tmp_path, "batch3_fixed"))
    assert result.returncode == 0 and "PASS" in result.stdout, report(result)
    stale = {**data, "target": "gruverify.zoo.mutants:StaleStateAcrossCalls",
             "check": "instance reuse"}  # fmt: skip
    with pytest.raises(StandaloneError, match="one forward call agrees with the GRU"):
        standalone_script(stale)


def test_gradient_script_differences_the_librarys_own_forward(tmp_path: pathlib.Path) -> None:
    target = "gruverify.zoo.mutants:BackwardDropsUpdateGatePath"
    data = _counterexample(tmp_path, target, "gradient[output]", _problem(Config(3, 2, 3, 3)))
    result = run_without_gruverify(script_from(data, tmp_path, "grad"))
    lines = result.stdout.splitlines()
    own = next(line for line in lines if "float64 forward differenced vs reference" in line)
    assert float(own.split("difference ")[1].split(",")[0]) < 1e-7, result.stdout
    backward = next(line for line in lines if "backward vs" in line and "own" in line)
    assert float(backward.split("difference ")[1].split(",")[0]) > 1e-4, result.stdout


USER_MODULE = '''
import torch


class ScaledGRU(torch.nn.GRU):
    """A user's GRU whose output is off by a relative 1e-3."""

    def forward(self, input, hx=None):
        out, h_n = super().forward(input, hx)
        return out * 1.001, h_n
'''


def test_user_module_script_imports_the_users_module(tmp_path: pathlib.Path, monkeypatch) -> None:
    (tmp_path / "user_gru_23.py").write_text(USER_MODULE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    data = _counterexample(tmp_path, "user_gru_23:ScaledGRU", "forward[basic]",
                           _problem(Config(3, 2, 3, 3)))  # fmt: skip
    script = script_from(data, tmp_path, "user")
    assert "from user_gru_23 import ScaledGRU as GRU" in script.read_text(encoding="utf-8")
    result = run_without_gruverify(script, str(tmp_path))
    assert result.returncode == 1 and "FAIL" in result.stdout, report(result)


SEGFAULTING_MODULE = '''
import os
import signal

import torch


class SegfaultsWithoutBias(torch.nn.GRU):
    """torch.nn.GRU that kills its process with SIGSEGV when built with bias=False."""

    def forward(self, input, hx=None):
        if not self.bias:
            os.kill(os.getpid(), signal.SIGSEGV)
        return super().forward(input, hx)


class NaNBackward(torch.nn.GRU):
    """torch.nn.GRU whose output's backward is NaN (0 * sqrt'(0)); its forward is exact."""

    def forward(self, input, hx=None):
        out, h_n = super().forward(input, hx)
        return out + 0.0 * torch.sqrt(out * 0.0), h_n
'''


def _crash_data(target: str, problem: Problem) -> dict[str, Any]:
    """The entries gruverify check saves when a forward call kills the worker (the guard's law)."""
    return {
        **_forward_data(target, problem, 1e-5), "check": "forward[bias=False]",
        "law": "the target's process survives every call",
        "numbers": {"how": "killed by SIGSEGV: a segmentation fault"},
    }  # fmt: skip


def test_crash_script_runs_the_call_in_a_child_and_names_the_signal(
    tmp_path: pathlib.Path, monkeypatch
) -> None:
    """A forward call that kills its process: the script reports the signal and exits 1; the
    same script with torch.nn.GRU (which returns, with the GRU's numbers) exits 0; a crash in a
    gradient check has no script (the forward call would not show it)."""
    (tmp_path / "segv_gru_23.py").write_text(SEGFAULTING_MODULE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    problem = _problem(Config(3, 2, 3, 2, bias=False), 5)
    data = _crash_data("segv_gru_23:SegfaultsWithoutBias", problem)
    rep = standalone_script(data)
    assert rep.kind == "crash"
    result = run_without_gruverify(script_from(data, tmp_path, "segv"), str(tmp_path))
    assert result.returncode == 1, report(result)
    assert "ended the process running it: killed by SIGSEGV" in result.stdout, report(result)
    fixed = script_from({**data, "target": "torch-gru"}, tmp_path, "segv_fixed")
    result = run_without_gruverify(fixed)
    assert result.returncode == 0 and "PASS: the call returned" in result.stdout, report(result)
    assert "h_n[" in result.stdout, report(result)  # the child compared the numbers
    with_bias = with_problem(data, _problem(Config(3, 2, 3, 2), 5))
    wrong = script_from({**with_bias, "target": "gruverify.zoo.mutants:NoResetBias"}, tmp_path, "w")
    result = run_without_gruverify(wrong)
    assert result.returncode == 1 and "returned, with wrong numbers" in result.stdout, report(
        result
    )
    with pytest.raises(StandaloneError, match="forward checks only"):
        standalone_script({**data, "check": "gradient[output]"})


def test_nonfinite_gradient_script(tmp_path: pathlib.Path, monkeypatch) -> None:
    """A NaN gradient where the GRU's is finite (the output contract): exit 1 naming the count;
    torch.nn.GRU's backward on the same case: exit 0."""
    (tmp_path / "segv_gru_23.py").write_text(SEGFAULTING_MODULE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    problem = _problem(Config(3, 2, 3, 2), 6)
    d_out, _ = cotangents(problem, "output")
    data = {
        **_forward_data("segv_gru_23:NaNBackward", problem, 1e-5), "check": "gradient[output]",
        "law": "output contract",
        "numbers": {"quantity": "dx", "non-finite": 18, "index": [0, 0, 0], "value": "nan"},
        "cotangents": {"d_output": d_out.tolist(), "d_h_n": None},
    }  # fmt: skip
    assert standalone_script(data).kind == "nonfinite"
    result = run_without_gruverify(script_from(data, tmp_path, "nan"), str(tmp_path))
    assert result.returncode == 1, report(result)
    assert "gradient of dx has 18 non-finite of 18 entries" in result.stdout, report(result)
    result = run_without_gruverify(script_from({**data, "target": "torch-gru"}, tmp_path, "ok"))
    assert result.returncode == 0 and "PASS" in result.stdout, report(result)


def test_a_changed_case_is_detected(tmp_path: pathlib.Path) -> None:
    script = script_from(load("onnx-reference-lengths"), tmp_path, "tampered")
    text = script.read_text(encoding="utf-8").replace("X = arr([1.30", "X = arr([1.31", 1)
    script.write_text(text, encoding="utf-8")
    result = run_without_gruverify(script)
    assert result.returncode != 0 and "not the case gruverify saved" in result.stderr


def test_issue_text_has_every_section() -> None:
    data = load("openvino-lengths")
    text = issue_text(data, standalone_script(data), "openvino-lengths.py")
    for part in ("# openvino:", "**Library**: openvino (openvino ", "**Platform**:", "## Expected",
                 "n = tanh(W_in x + b_in + r * (W_hn h + b_hn))", "## What happened",
                 "ignores sequence_lengths", "```python", "## How it was found",
                 "gruverify check openvino"):  # fmt: skip
        assert part in text, part


# -- what has no template ------------------------------------------------------------------------


def test_unsupported_check_and_target_are_one_line_errors() -> None:
    data = load("onnx-reference-lengths")
    for change, words in (
        ({"check": "determinism", "target": "torch-gru"},
         "no standalone template for check 'determinism'"),
        ({"target": "mlx"}, "no standalone template for target 'mlx'; supported: torch-gru"),
        ({"check": "gradient[output]"}, "gradient scripts need a target with a gradient template"),
    ):  # fmt: skip
        with pytest.raises(StandaloneError) as e:
            standalone_script({**data, **change})
        assert words in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(StandaloneError) as e:
        standalone_script({**data, "target": "mlx"})
    assert str(e.value).endswith(", and module:attr classes with torch.nn.GRU's constructor")


def test_cli_writes_script_and_issue(tmp_path: pathlib.Path, capsys) -> None:
    out, issue = tmp_path / "r.py", tmp_path / "r.md"
    code = cli_main(["reproduce", str(REPROS / "onnx-reference-lengths.json"), "--standalone",
                     "-o", str(out), "--issue", str(issue)])  # fmt: skip
    assert code == 0 and out.read_text(encoding="utf-8").startswith("#!/usr/bin/env python3")
    assert "## Reproduction" in issue.read_text(encoding="utf-8")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**load("onnx-reference-lengths"), "target": "mlx"}))
    assert cli_main(["reproduce", str(bad), "--standalone"]) == 2
    assert "no standalone template for target 'mlx'" in capsys.readouterr().err


def test_write_standalone_defaults_to_the_files_name(tmp_path: pathlib.Path) -> None:
    src = tmp_path / "case.json"
    src.write_text((REPROS / "onnx-reference-lengths.json").read_text(encoding="utf-8"))
    assert write_standalone(str(src)) == str(tmp_path / "case.py")


def test_write_standalone_names_a_path_it_cannot_write(tmp_path: pathlib.Path) -> None:
    src = tmp_path / "case.json"
    src.write_text((REPROS / "onnx-reference-lengths.json").read_text(encoding="utf-8"))
    out = tmp_path / "no such folder" / "r.py"
    with pytest.raises(StandaloneError) as e:
        write_standalone(str(src), str(out))
    assert str(e.value) == f"cannot write {out}: No such file or directory"


def test_script_and_issue_are_written_as_utf8_whatever_the_locale(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The files are UTF-8 (a module path or a message may hold any character), not the
    locale's encoding (cp1252 on many Windows machines)."""
    import builtins

    from gruverify.conformance.standalone import issue as issue_module

    opened: list[tuple[str, str | None]] = []

    def recording_open(path: str, mode: str = "r", *args: Any, **kw: Any) -> Any:
        opened.append((mode, kw.get("encoding")))
        return builtins.open(path, mode, *args, **kw)

    monkeypatch.setattr(issue_module, "open", recording_open, raising=False)
    src = tmp_path / "case.json"
    src.write_text((REPROS / "onnx-reference-lengths.json").read_text(encoding="utf-8"))
    write_standalone(str(src), str(tmp_path / "r.py"), str(tmp_path / "r.md"))
    assert opened == [("w", "utf-8"), ("w", "utf-8")], opened


def test_issue_text_is_markdown_with_a_blank_line_around_each_block() -> None:
    """Each heading, paragraph and code block stands alone (GitHub renders a heading glued to
    its text as one paragraph), and the last paragraph says how the script was written."""
    data = load("openvino-lengths")
    lines = issue_text(data, standalone_script(data), "r.py").splitlines()
    for heading in ("## Expected", "## What happened", "## How it was found"):
        i = lines.index(heading)
        assert lines[i - 1] == "" and lines[i + 1] == "" and lines[i + 2], heading
    assert lines[-1] == (
        f"`{data['rerun_check']}` (gruverify, a GRU conformance checker); the script was "
        "written from its counterexample by `gruverify reproduce FILE --standalone`."
    )


# -- the script's GRU and every template agree with correct libraries on every layout -----------

LAYOUTS = {
    "basic": Config(3, 2, 2, 3),
    "batch_first+bias=False": Config(3, 2, 3, 2, bias=False, batch_first=True),
    "unbatched": Config(4, None, 2, 3),
    "2 layers, bidirectional, lengths": Config(4, 3, 2, 3, num_layers=2, bidirectional=True,
                                               padded=True),
    "no h0": Config(3, 2, 2, 3, initial_state=False),
}  # fmt: skip

#: target -> (its module, the layouts it takes; the onnx-reference and openvino findings are the
#: lengths, so those run without them).
CORRECT_CALLS = {
    "torch-gru": ("torch", list(LAYOUTS)),
    "torch-grucell": ("torch", ["basic", "batch_first+bias=False", "unbatched", "no h0"]),
    "onnx-torchscript": ("onnxruntime", [*LAYOUTS]),
    "onnx-reference": ("onnx", ["basic", "batch_first+bias=False", "no h0"]),
    "openvino": ("openvino", ["basic", "batch_first+bias=False", "no h0"]),
    "keras-reset-after": ("keras", ["basic", "2 layers, bidirectional, lengths"]),
    "keras-reset-before": ("keras", ["basic", "batch_first+bias=False"]),
    "mnn": ("MNN", ["basic", "batch_first+bias=False", "unbatched", "no h0"]),
}


def _forward_data(target: str, problem: Problem, tol: float) -> dict[str, Any]:
    """A forward[basic] counterexample file's entries for ``problem`` (no law run: the script is
    expected to pass)."""
    return {
        "gruverify_counterexample": 1, "gruverify_version": "test", "target": target,
        "cell": False, "device": "cpu", "dtype": "float32", "check": "forward[basic]",
        "law": "forward equivalence", "numbers": {"tolerance": tol}, "case": {},
        "problem": problem_to_dict(problem), "rerun_check": "",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("target", "layout"), [(t, layout) for t, (_, ls) in CORRECT_CALLS.items() for layout in ls]
)
def test_template_and_reference_agree_with_a_correct_library(
    target: str, layout: str, tmp_path: pathlib.Path
) -> None:
    """Each template calls its library as the target does, and the script's float64 GRU (both
    variants: Keras' reset_after=False is reset-before) is the GRU: a correct library passes on
    every layout the target takes, within 1e-5 (float32 rounding on these sizes)."""
    _needs(CORRECT_CALLS[target][0])
    cfg = LAYOUTS[layout]
    if layout.startswith("2 layers"):
        problem = make_case(cfg, "ordinary", "ordinary", 3).problem
        problem = Problem(problem.params, problem.x, problem.h0, False, np.array([4, 1, 2]))
    else:
        problem = _problem(cfg, 2)
    script = script_from(_forward_data(target, problem, 1e-5), tmp_path, "correct")
    result = run_without_gruverify(script)
    assert result.returncode == 0 and "PASS" in result.stdout, report(result)


@pytest.mark.parametrize(
    ("target", "quantity"),
    [("torch-gru", "dx"), ("torch-gru", "l0_reverse.W_hz"), ("torch-gru", "l1.b_hn"),
     ("torch-grucell", "dh0"), ("torch-grucell", "l0.W_in")],
)  # fmt: skip
def test_gradient_template_passes_on_torch(
    target: str, quantity: str, tmp_path: pathlib.Path
) -> None:
    """The gradient template maps every quantity to the right leaf and gate rows of torch's
    packed parameters: torch's own backward passes against both central differences."""
    cell = target == "torch-grucell"
    cfg = Config(3, 2, 2, 3) if cell else Config(3, 2, 2, 3, num_layers=2, bidirectional=True)
    problem = _problem(cfg, 4)
    d_out, d_hn = cotangents(problem, "both")
    data = _forward_data(target, problem, 1e-5)
    data.update(check="gradient[output+h_n]", numbers={"quantity": quantity, "tolerance": 1e-5},
                cotangents={"d_output": d_out.tolist(), "d_h_n": d_hn.tolist()})  # fmt: skip
    result = run_without_gruverify(script_from(data, tmp_path, "grad"))
    assert result.returncode == 0 and "PASS" in result.stdout, report(result)
    assert result.stdout.count(", difference ") == 3, result.stdout


def test_a_forward_script_without_a_recorded_tolerance_takes_the_error_models() -> None:
    """A forward counterexample that records no tolerance gets the error model's for its dtype,
    device and declared activation error: the larger of output's and h_n's."""
    from gruverify.core.arithmetic import arithmetic_for
    from gruverify.error_model import ErrorModel

    problem = _problem(Config(3, 2, 2, 3), 2)
    data = {**_forward_data("torch-gru", problem, 1e-5), "numbers": {}}
    _, tol = ErrorModel(arithmetic_for("float32", "cpu")).forward(problem, "reset_after")
    want = max(tol.output, tol.h_n)
    assert f"TOL = {want!r}\n" in standalone_script(data).script
    wider = {**data, "activation_error": 1e-3}
    assert f"TOL = {want!r}\n" not in standalone_script(wider).script


def test_what_happened_names_the_law_its_figures_and_the_case() -> None:
    data = load("openvino-lengths")
    text = issue_text(data, standalone_script(data), "openvino-lengths.py")
    lines = text.splitlines()
    happened = lines[lines.index("## What happened") + 2]
    assert data["law"] and happened.startswith(f"{data['law']}: "), happened
    for k, v in data["numbers"].items():
        assert f"{k} = {v}" in happened, (k, happened)
    assert f"(case: {data['case']})." in happened
    for heading in ("## Expected", "## What happened", "## How it was found"):
        assert heading in lines, heading  # a heading of its own
    no_law = {k: v for k, v in data.items() if k != "law"}
    text = issue_text(no_law, standalone_script(no_law), "x.py").splitlines()
    assert text[text.index("## What happened") + 2].startswith(f"{data['check']}: ")


def test_only_a_zoo_class_is_inlined() -> None:
    """``zoo_source`` takes ``gruverify.zoo...:Class`` only: another module, or a name that is no
    identifier, is refused (one line)."""
    from gruverify.conformance.standalone.inline import zoo_source

    assert "class NoResetBias(ZooGRU)" in zoo_source("gruverify.zoo.mutants:NoResetBias")
    # the class itself verbatim, its docstring and comments kept (what the issue's reader sees)
    import inspect

    from gruverify.zoo import mutants

    # DetachedFinalState has comments, which ast.unparse would drop
    assert inspect.getsource(mutants.DetachedFinalState) in zoo_source(
        "gruverify.zoo.mutants:DetachedFinalState"
    )
    for spec in ("numpy:GRU", "gruverify.zoo.mutants:No-Reset", "user_gru:NoResetBias"):
        with pytest.raises(StandaloneError, match=r"is not a class of gruverify\.zoo"):
            zoo_source(spec)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_saturated_forward_script_checks_the_saturated_input(dtype: str) -> None:
    """``forward[saturated]`` ran on the input scaled until a gate saturates for the run's
    dtype (``saturated_problem``: 100 in float32, 1000 in float64): the script checks that
    input, not the saved one."""
    from gruverify.core.arithmetic import arithmetic_for
    from gruverify.laws.equivalence import saturated_problem

    data = {**load("onnx-reference-lengths"), "check": "forward[saturated]", "dtype": dtype}
    saved = load_problem(data["problem"])
    rep = standalone_script(data)
    want = saturated_problem(saved, arithmetic_for(dtype)).x
    assert np.array_equal(rep.problem.x, want) and not np.array_equal(want, saved.x)


def test_the_forward_fallback_reads_a_file_without_a_cell_entry_as_a_module(
    tmp_path: pathlib.Path,
) -> None:
    """A counterexample file written by hand or by an older gruverify may lack ``cell``: the
    target is then a module (a sequence GRU), as ``gruverify reproduce`` reads it."""
    from gruverify.conformance.standalone.script import forward_fallback

    problem = _problem(Config(2, 3, 2, 3, initial_state=False))
    data = _counterexample(tmp_path, "gruverify.zoo.mutants:WrongAtBatch3", "batch independence",
                           problem)  # fmt: skip
    del data["cell"]
    got = forward_fallback(data, problem)
    assert got["law"] == "forward equivalence" and got["numbers"], got


def test_a_target_needs_both_a_module_and_a_name() -> None:
    from gruverify.conformance.standalone.calls import call_for

    for target in ("my_gru:", ":GRU", "my_gru"):
        with pytest.raises(StandaloneError, match=f"no standalone template for target {target!r}"):
            call_for(target, cell=False)
    assert call_for("my_gru:GRU", cell=False).import_line == "from my_gru import GRU as GRU"


def test_flat_cells_are_float64_whatever_the_parameters_dtype() -> None:
    """The script's weights and the case's hash are of float64 vectors: float32 parameters
    are widened (exactly), not hashed or written in their own format."""
    from gruverify.conformance.standalone.case_text import flat_cells

    p = _problem(Config(2, 1, 2, 3))
    narrow = Problem(p.params.map(lambda a: np.asarray(a, np.float32)), p.x, p.h0)
    got, wide = flat_cells(narrow), flat_cells(p)
    assert got["l0"].dtype == np.float64
    assert np.array_equal(got["l0"], wide["l0"].astype(np.float32).astype(np.float64))
