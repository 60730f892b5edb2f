"""Paddle's standalone reproductions (issue 23), run where paddle is installed (.venv-paddle).

docs/repros/ holds three counterexamples gruverify saved for paddle (paddlepaddle 3.3.1, CPU):
``paddle-reverse-lengths-gradient`` (``gruverify check paddle --seed 13``: the backward of a
bidirectional GRU given ``sequence_length`` and h0), ``paddle-nan-gradient`` (``--seed 0``: NaN
gradients at a saturated reset gate) and ``paddle-bias-false-crash`` (the segmentation fault of
``bias_ih_attr=bias_hh_attr=False``, saved by tests/paddle_claims_bias_false.py's target, since
the built-in one declares bias=False missing). Each script runs with gruverify unimportable; it
exits 1 on the pinned paddle, 0 when the same script calls torch.nn.GRU (the same API shape:
torch's names, packing and gate order), and 0 on paddle itself without the finding's trigger
(no lengths; an input that does not saturate; biases), so the template calls paddle right and
the failure is the finding. The gradient template maps every quantity to paddle's parameters
(paddle's own backward passes where it is right). Elsewhere these tests skip.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import pathlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

pytest.importorskip("paddle", reason="paddlepaddle is an optional dependency (.venv-paddle)")

from standalone_support import (
    load,
    report,
    run_without_gruverify,
    script_from,
    with_problem,
)

from gruverify.conformance.counterexample import load_problem, problem_to_dict
from gruverify.conformance.standalone import standalone_script
from gruverify.core.problem import Problem
from gruverify.laws.equivalence import cotangents
from gruverify.strategies import Config, make_case

FINDINGS = ("paddle-reverse-lengths-gradient", "paddle-nan-gradient", "paddle-bias-false-crash")


def _no_lengths(p: Problem) -> Problem:
    return dataclasses.replace(p, lengths=None)


def _small_input(p: Problem) -> Problem:
    return dataclasses.replace(p, x=np.asarray(p.x) * 1e-3)


def _with_biases(p: Problem) -> Problem:
    """The same weights with bias=True (a bias=False stack keeps zero biases: the same GRU)."""
    return dataclasses.replace(p, params=dataclasses.replace(p.params, bias=True))


CONTROLS: dict[str, Callable[[Problem], Problem]] = {
    "paddle-reverse-lengths-gradient": _no_lengths,
    "paddle-nan-gradient": _small_input,
    "paddle-bias-false-crash": _with_biases,
}


@pytest.mark.parametrize("name", FINDINGS)
def test_finding_script_fails_on_the_pinned_paddle(name: str, tmp_path: pathlib.Path) -> None:
    result = run_without_gruverify(script_from(load(name), tmp_path, name))
    assert result.returncode == 1 and "FAIL" in result.stdout, report(result)
    want = {
        "paddle-reverse-lengths-gradient": "paddle's gradient of dx is wrong",
        "paddle-nan-gradient": "paddle's gradient of dx has 1 non-finite of 1 entries",
        "paddle-bias-false-crash": "ended the process running it: killed by SIGSEGV",
    }[name]
    assert want in result.stdout, report(result)


def test_reverse_lengths_script_shows_paddles_own_forward_agrees_with_the_reference(
    tmp_path: pathlib.Path,
) -> None:
    """The report does not rest on the script's reference: paddle's float64 forward, differenced,
    gives the reference's gradient (within 1e-7) while paddle's backward is off by > 0.1."""
    name = "paddle-reverse-lengths-gradient"
    result = run_without_gruverify(script_from(load(name), tmp_path, name))
    lines = result.stdout.splitlines()

    def difference(words: str) -> float:
        line = next(line for line in lines if words in line)
        return float(line.split("difference ")[1].split(",")[0])

    assert difference("float64 forward differenced vs reference") < 1e-7, result.stdout
    assert difference("backward vs paddle's own float64 forward") > 0.1, result.stdout


@pytest.mark.parametrize("name", FINDINGS)
def test_finding_script_passes_against_torch_gru(name: str, tmp_path: pathlib.Path) -> None:
    """The same case and check, paddle's call replaced by torch.nn.GRU's (a correct GRU with
    paddle's API shape)."""
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed here")
    data = {**load(name), "target": "torch-gru"}
    result = run_without_gruverify(script_from(data, tmp_path, name))
    assert result.returncode == 0 and "PASS" in result.stdout, report(result)


@pytest.mark.parametrize("name", FINDINGS)
def test_same_paddle_passes_without_the_trigger(name: str, tmp_path: pathlib.Path) -> None:
    data = load(name)
    changed = with_problem(data, CONTROLS[name](load_problem(data["problem"])))
    result = run_without_gruverify(script_from(changed, tmp_path, name))
    assert result.returncode == 0 and "PASS" in result.stdout, report(result)


# -- the template calls paddle as the target does -------------------------------------------------

LAYOUTS = {
    "basic": Config(3, 2, 2, 3),
    "batch_first, no h0": Config(3, 2, 3, 2, batch_first=True, initial_state=False),
    "2 layers, bidirectional": Config(4, 3, 2, 3, num_layers=2, bidirectional=True),
    "1 direction, lengths": Config(4, 3, 2, 3, padded=True),
}


def _data(problem: Problem, check: str, numbers: dict[str, Any]) -> dict[str, Any]:
    return {
        "gruverify_counterexample": 1, "gruverify_version": "test", "target": "paddle",
        "cell": False, "device": "cpu", "dtype": "float32", "check": check,
        "law": "forward equivalence", "numbers": numbers, "case": {},
        "problem": problem_to_dict(problem), "rerun_check": "",
    }  # fmt: skip


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_forward_template_agrees_with_paddle_where_it_is_right(
    layout: str, tmp_path: pathlib.Path
) -> None:
    problem = make_case(LAYOUTS[layout], "ordinary", "ordinary", 7).problem
    data = _data(problem, "forward[basic]", {"tolerance": 1e-5})
    result = run_without_gruverify(script_from(data, tmp_path, "forward"))
    assert result.returncode == 0 and "PASS" in result.stdout, report(result)


@pytest.mark.parametrize(
    "quantity", ["dx", "dh0", "l0.W_ir", "l0_reverse.W_hz", "l1.b_hn", "l1_reverse.b_in"]
)
def test_gradient_template_maps_every_quantity(quantity: str, tmp_path: pathlib.Path) -> None:
    """Two layers, two directions, no lengths (where paddle's backward is right): paddle's
    gradient of each quantity agrees with both central differences."""
    cfg = Config(3, 2, 2, 3, num_layers=2, bidirectional=True)
    problem = make_case(cfg, "ordinary", "ordinary", 4).problem
    d_out, d_hn = cotangents(problem, "both")
    data = _data(problem, "gradient[output+h_n]", {"quantity": quantity, "tolerance": 1e-5})
    data["cotangents"] = {"d_output": d_out.tolist(), "d_h_n": d_hn.tolist()}
    assert standalone_script(data).kind == "gradient"
    result = run_without_gruverify(script_from(data, tmp_path, "grad"))
    assert result.returncode == 0 and "PASS" in result.stdout, report(result)
    assert result.stdout.count(", difference ") == 3, result.stdout
