"""Keras-on-TensorFlow's standalone reproduction (issue 23), run where TensorFlow is installed
(.venv-tf, ``KERAS_BACKEND=tensorflow``).

docs/repros/keras-tensorflow-initial-state.json is the counterexample ``gruverify check
keras-tensorflow --seed 0`` saved for its warning: ``keras.layers.GRU`` broadcasts an initial state
of batch 1 over a batch of 2 (the stateful case is keras-team/keras#21183). The script runs with
gruverify unimportable and exits 1 on the pinned keras 3.15.1 / tensorflow-cpu 2.20.0; with
``keras.layers.GRU`` patched to reject a state whose batch differs from the input's (the fix), it
exits 0; and the same template, given the right-shaped state, computes the GRU (a forward check
on the same case passes), so it calls Keras as the target does. The .venv-tf has no torch, so the
"correct library of the same API" is the patched Keras. Elsewhere these tests skip.

TFLite (``tflite``) has no finding (docs/library-targets.md): no script.
"""

from __future__ import annotations

import os
import pathlib

import pytest

pytest.importorskip("tensorflow", reason="tensorflow is an optional dependency (.venv-tf)")
if os.environ.get("KERAS_BACKEND") != "tensorflow":  # never make keras TensorFlow for the suite
    pytest.skip(
        "run with KERAS_BACKEND=tensorflow in a process of its own (keras picks one backend per "
        "process; the rest of the suite uses torch)",
        allow_module_level=True,
    )

from standalone_support import load, report, run_without_gruverify, script_from

from gruverify.conformance.counterexample import load_problem, problem_to_dict
from gruverify.conformance.standalone import standalone_script
from gruverify.strategies import Config, make_case

NAME = "keras-tensorflow-initial-state"

FIXED_KERAS = """
import os
os.environ["KERAS_BACKEND"] = "tensorflow"
import keras
_call = keras.layers.GRU.__call__
def _checked(self, inputs, initial_state=None, **kw):  # the fix: a state of another batch raises
    for s in initial_state or []:
        if s.shape[0] != inputs.shape[0]:
            raise ValueError(f"initial state of batch {s.shape[0]} for inputs of batch {inputs.shape[0]}")
    return _call(self, inputs, initial_state=initial_state, **kw)
keras.layers.GRU.__call__ = _checked
"""


def test_finding_script_fails_on_the_pinned_keras(tmp_path: pathlib.Path) -> None:
    result = run_without_gruverify(script_from(load(NAME), tmp_path, NAME))
    assert result.returncode == 1, report(result)
    assert "FAIL: keras (TensorFlow backend) accepted an initial state" in result.stdout
    assert "tensorflow-cpu 2." in result.stdout or "tensorflow 2." in result.stdout, result.stdout


def test_finding_script_passes_on_keras_that_rejects_the_state(tmp_path: pathlib.Path) -> None:
    result = run_without_gruverify(script_from(load(NAME), tmp_path, NAME), prelude=FIXED_KERAS)
    assert result.returncode == 0 and "PASS: h0 of shape (2, 1, 3) rejected" in result.stdout, (
        report(result)
    )


def test_the_template_computes_the_gru_with_the_right_state(tmp_path: pathlib.Path) -> None:
    """The same case with its own (right-shaped) h0, checked forward: Keras on TensorFlow is the
    GRU there, so the template calls it right (also with the fix patched in)."""
    data = {**load(NAME), "check": "forward[basic]", "law": "forward equivalence",
            "numbers": {"tolerance": 1e-5}}  # fmt: skip
    assert standalone_script(data).kind == "forward"
    for prelude in ("", FIXED_KERAS):
        result = run_without_gruverify(script_from(data, tmp_path, "right"), prelude=prelude)
        assert result.returncode == 0 and "PASS" in result.stdout, report(result)


def test_the_template_takes_two_directions_and_lengths(tmp_path: pathlib.Path) -> None:
    problem = make_case(Config(4, 3, 2, 3, num_layers=2, bidirectional=True, padded=True),
                        "ordinary", "ordinary", 3).problem  # fmt: skip
    data = {**load(NAME), "check": "forward[basic]", "law": "forward equivalence",
            "numbers": {"tolerance": 1e-5}, "problem": problem_to_dict(problem)}  # fmt: skip
    assert load_problem(data["problem"]).lengths is not None
    result = run_without_gruverify(script_from(data, tmp_path, "bidirectional"))
    assert result.returncode == 0 and "PASS" in result.stdout, report(result)
