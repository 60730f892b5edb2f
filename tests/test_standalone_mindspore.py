"""MindSpore's standalone reproductions (issue 23), run where mindspore is installed.

docs/repros/ holds two counterexamples ``gruverify check mindspore --profile quick --seed 0`` saved
(mindspore 2.10.0, CPU): ``mindspore-tanh`` (forward[multilayer]: the float32 Tanh kernel is an
approximation, the output off by 9.8e-5 where the tolerance is 5.4e-6) and
``mindspore-initial-state`` (an initial state of another batch accepted). The scripts call
``mindspore.nn.GRU`` in ``GRAPH_MODE``, as the target does (PyNative runs the same CPU kernels).
Each runs with gruverify unimportable and exits 1 on the pinned mindspore; it exits 0 when the same
script calls torch.nn.GRU (torch 2.13.0 is in the env: the same API shape, torch's names and
gate order). The tanh script also exits 0 on mindspore itself with only ``Tanh`` in the GRU cell
computed by MindSpore's float64 kernel (``rnn_cells._gru_cell`` patched), which shows the failure
is the float32 Tanh; the state script's template computes the GRU with the right-shaped state
(with that Tanh patch), so it calls mindspore right.

This environment is not built by CI. Build it and run these tests with::

    scripts/library_envs.sh --frameworks          # makes .venv-mindspore (and .venv-jittor)
    PYTHONPATH=$PWD .venv-mindspore/bin/python -m pytest -q -p no:cacheprovider \\
        tests/test_standalone_mindspore.py

Elsewhere these tests skip.
"""

from __future__ import annotations

import importlib.util
import pathlib

import pytest

pytest.importorskip("mindspore", reason="mindspore is an optional dependency (.venv-mindspore)")

from standalone_support import (
    MAX_LINES,
    REPROS,
    load,
    regenerate_command,
    report,
    run_without_gruverify,
    script_from,
)

from gruverify.conformance.standalone import standalone_script

FINDINGS = ("mindspore-tanh", "mindspore-initial-state")

EXACT_TANH = '''
"""rnn_cells._gru_cell with its Tanh computed by MindSpore's float64 kernel (the fix)."""
import mindspore
import mindspore.nn.layer.rnns as rnns
from mindspore import ops


def exact_tanh(a):
    return ops.Tanh()(a.astype(mindspore.float64)).astype(a.dtype)


def gru_cell(inputs, hidden, w_ih, w_hh, b_ih, b_hh):
    gi = ops.MatMul(False, True)(inputs, w_ih)
    gh = ops.MatMul(False, True)(hidden, w_hh)
    if b_ih is not None:
        gi, gh = gi + b_ih, gh + b_hh
    i_r, i_i, i_n = ops.Split(1, 3)(gi)
    h_r, h_i, h_n = ops.Split(1, 3)(gh)
    resetgate = ops.Sigmoid()(i_r + h_r)
    inputgate = ops.Sigmoid()(i_i + h_i)
    newgate = exact_tanh(i_n + resetgate * h_n)
    return newgate + inputgate * (hidden - newgate)


rnns._gru_cell = gru_cell  # read when a GRU is constructed
'''
"""Graph mode compiles from source files only, so the test writes this as a module and imports
it before the script runs."""


def _exact_tanh(tmp_path: pathlib.Path) -> dict[str, str]:
    (tmp_path / "exact_tanh_gru.py").write_text(EXACT_TANH, encoding="utf-8")
    return {"path": str(tmp_path), "prelude": "import exact_tanh_gru"}


@pytest.mark.parametrize("name", FINDINGS)
def test_finding_script_fails_on_the_pinned_mindspore(name: str, tmp_path: pathlib.Path) -> None:
    result = run_without_gruverify(script_from(load(name), tmp_path, name))
    assert result.returncode == 1 and "FAIL" in result.stdout, report(result)
    assert "mindspore 2." in result.stdout, result.stdout
    want = {
        "mindspore-tanh": "FAIL: mindspore is not the GRU of its variant",
        "mindspore-initial-state": "FAIL: mindspore accepted an initial state of the wrong shape",
    }[name]
    assert want in result.stdout, report(result)


def test_tanh_script_passes_with_mindspores_float64_tanh(tmp_path: pathlib.Path) -> None:
    name = "mindspore-tanh"
    result = run_without_gruverify(script_from(load(name), tmp_path, name), **_exact_tanh(tmp_path))
    assert result.returncode == 0 and "PASS" in result.stdout, report(result)


@pytest.mark.parametrize("name", FINDINGS)
def test_finding_script_passes_against_torch_gru(name: str, tmp_path: pathlib.Path) -> None:
    """The same case and check, mindspore's call replaced by torch.nn.GRU's."""
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed here")
    data = {**load(name), "target": "torch-gru"}
    result = run_without_gruverify(script_from(data, tmp_path, name))
    assert result.returncode == 0 and "PASS" in result.stdout, report(result)


def test_state_template_computes_the_gru_with_the_right_state(tmp_path: pathlib.Path) -> None:
    """The state finding's case with its own (right-shaped) h0, checked forward with the float64
    Tanh patched in: mindspore is the GRU there, so the template calls it right."""
    data = {**load("mindspore-initial-state"), "check": "forward[basic]",
            "law": "forward equivalence", "numbers": {"tolerance": 1e-5}}  # fmt: skip
    assert standalone_script(data).kind == "forward"
    result = run_without_gruverify(script_from(data, tmp_path, "right"), **_exact_tanh(tmp_path))
    assert result.returncode == 0 and "PASS" in result.stdout, report(result)


@pytest.mark.parametrize("name", FINDINGS)
def test_committed_files_are_regenerated_and_short(name: str, tmp_path: pathlib.Path) -> None:
    """docs/repros/NAME.py is what `gruverify reproduce --standalone` writes today."""
    script = standalone_script(load(name)).script
    committed = (REPROS / f"{name}.py").read_text(encoding="utf-8")
    assert committed == script, f"regenerate with: {regenerate_command(name)}"
    assert len(script.splitlines()) < MAX_LINES
