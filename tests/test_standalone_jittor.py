"""Jittor's standalone reproduction (issue 23), run where jittor is installed (.venv-jittor).

docs/repros/jittor-initial-state.json is the counterexample ``gruverify check jittor --profile
quick --seed 0`` saved (jittor 1.3.11, CPU): ``jittor.nn.GRU`` broadcasts an initial state of
batch 1 over a larger batch instead of rejecting it. The script calls ``jittor.nn.GRU`` on the CPU
as the target does (``nvcc_path=""``, ``use_mkl=0`` set before the import; compiled ops cached in
``~/.cache/jittor``). It runs with gruverify unimportable and exits 1 on the pinned jittor; it
exits 0 when the same script calls torch.nn.GRU (torch 2.13.0 is in the env: the same API shape)
and 0 on jittor with ``jittor.nn.GRU.execute`` patched to reject such a state (the fix); and the
template, given the right-shaped state, computes the GRU (a forward check on the same case passes,
also for two layers and two directions), so it calls jittor right.

This environment is not built by CI. Build it and run these tests with::

    scripts/library_envs.sh --frameworks          # makes .venv-jittor (and .venv-mindspore)
    PYTHONPATH=$PWD .venv-jittor/bin/python -m pytest -q -p no:cacheprovider \\
        tests/test_standalone_jittor.py

The first run compiles Jittor's ops (minutes); elsewhere these tests skip.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
from typing import Any

import pytest

from gruverify.targets.jittor_target import JITTOR_ENV

for _key, _value in JITTOR_ENV.items():  # as the target: before jittor is first imported
    os.environ.setdefault(_key, _value)
pytest.importorskip("jittor", reason="jittor is an optional dependency (.venv-jittor)")

from standalone_support import load, report, run_without_gruverify, script_from  # noqa: E402

from gruverify.conformance.counterexample import problem_to_dict  # noqa: E402
from gruverify.conformance.standalone import standalone_script  # noqa: E402
from gruverify.strategies import Config, make_case  # noqa: E402

NAME = "jittor-initial-state"

FIXED_JITTOR = """
import os
for key, value in {"nvcc_path": "", "use_mkl": "0", "log_silent": "1"}.items():
    os.environ.setdefault(key, value)
import jittor
_execute = jittor.nn.GRU.execute
def _checked(self, x, hx=None):  # the fix: a state of another batch raises
    if hx is not None and hx.shape[1] != x.shape[1]:
        raise ValueError(f"initial state of batch {hx.shape[1]} for input of batch {x.shape[1]}")
    return _execute(self, x, hx)
jittor.nn.GRU.execute = _checked
"""


def test_finding_script_fails_on_the_pinned_jittor(tmp_path: pathlib.Path) -> None:
    result = run_without_gruverify(script_from(load(NAME), tmp_path, NAME))
    assert result.returncode == 1, report(result)
    assert "FAIL: jittor accepted an initial state of the wrong shape" in result.stdout
    assert "jittor 1." in result.stdout, result.stdout


def test_finding_script_passes_on_jittor_that_rejects_the_state(tmp_path: pathlib.Path) -> None:
    result = run_without_gruverify(script_from(load(NAME), tmp_path, NAME), prelude=FIXED_JITTOR)
    assert result.returncode == 0 and "PASS: h0 of shape" in result.stdout, report(result)


def test_finding_script_passes_against_torch_gru(tmp_path: pathlib.Path) -> None:
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed here")
    data = {**load(NAME), "target": "torch-gru"}
    result = run_without_gruverify(script_from(data, tmp_path, NAME))
    assert result.returncode == 0 and "PASS" in result.stdout, report(result)


def _forward(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "check": "forward[basic]", "law": "forward equivalence",
            "numbers": {"tolerance": 1e-5}}  # fmt: skip


def test_the_template_computes_the_gru_with_the_right_state(tmp_path: pathlib.Path) -> None:
    data = _forward(load(NAME))
    assert standalone_script(data).kind == "forward"
    for prelude in ("", FIXED_JITTOR):
        result = run_without_gruverify(script_from(data, tmp_path, "right"), prelude=prelude)
        assert result.returncode == 0 and "PASS" in result.stdout, report(result)


def test_the_template_takes_two_layers_and_directions(tmp_path: pathlib.Path) -> None:
    problem = make_case(Config(4, 3, 2, 3, num_layers=2, bidirectional=True),
                        "ordinary", "ordinary", 3).problem  # fmt: skip
    data = _forward({**load(NAME), "problem": problem_to_dict(problem)})
    result = run_without_gruverify(script_from(data, tmp_path, "stack"))
    assert result.returncode == 0 and "PASS" in result.stdout, report(result)
