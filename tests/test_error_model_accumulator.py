"""A declared accumulator (``Arithmetic.accumulator``, ``ErrorModel.perturbed_accumulated``).

- No false alarm: correct torch GRUs in float16, bfloat16 and TF32 (emulated), whose products
  accumulate in float32, stay within the tolerance of their declared float32 accumulator, forward
  and (float16, TF32) gradients, on the error model's own strategies and on a larger problem.
- The tolerances are smaller where the products are long (hidden 128: 2.5 to 6 times), so a planted
  ``weight_hh`` change of 3% that passes the undeclared model is flagged with the accumulator.
- Nothing declared: ``perturbed`` draws exactly the former ``u sqrt(k)`` perturbation, and
  non-torch implementations keep their undeclared arithmetic (their tolerances unchanged).
- Declarations: torch's defaults (``arithmetic_for``: CPU, cuDNN, cuBLAS' reduced-precision
  flags), a class's ``gruverify_accumulator``, and the isolation protocol's round trip of the whole
  arithmetic (accumulator and activation error).
"""

from __future__ import annotations

import dataclasses
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_error_model import assert_gradients_within

from gruverify.core.arithmetic import TORCH_TF32, Arithmetic
from gruverify.core.problem import Problem
from gruverify.error_model import (
    ARITHMETICS,
    RESULT_ROUNDINGS,
    ErrorModel,
    accumulator_value,
    arithmetic_for,
    arithmetic_of,
    compare,
)
from gruverify.reference.emulation import Tf32Reference
from gruverify.reference.implementations import NumpyReference, TorchReference
from gruverify.strategies import Config, cases, configs, make_case, variants
from gruverify.targets import TargetError
from gruverify.targets.resolve import resolve_target

SETTINGS = settings(
    max_examples=25, deadline=None, derandomize=True, database=None,
    suppress_health_check=(HealthCheck.too_slow,),
)  # fmt: skip
CONFIG = {"max_steps": 40, "max_size": 12, "max_batch": 3, "work": 60}
DECLARED = {"tf32": TORCH_TF32, "float16": arithmetic_for("float16"),
            "bfloat16": arithmetic_for("bfloat16")}  # fmt: skip


def _cases(arith: str):  # as tests/test_error_model.py draws them
    inputs = st.sampled_from(("ordinary", "zeros"))
    if arith == "bfloat16":
        return cases(configs(**{**CONFIG, "max_steps": 6, "max_size": 8}),
                     st.sampled_from(("ordinary", "chrono")), inputs)  # fmt: skip
    return cases(configs(**CONFIG), st.sampled_from(("ordinary", "chrono", "saturating")), inputs)


def _impl(arith: str, variant: str = "reset_after"):
    return Tf32Reference(variant) if arith == "tf32" else TorchReference(variant, arith)  # type: ignore[arg-type]


def _ratio(arith: str, model: ErrorModel, problem: Problem, run: Problem | None = None):
    ref, tol = model.forward(problem, "reset_after")
    got = _impl(arith).forward(problem if run is None else run)
    err = max(np.max(np.abs(got.output - ref.output)) / tol.output,
              np.max(np.abs(got.h_n - ref.h_n)) / tol.h_n)  # fmt: skip
    return float(err), tol


def _weight_hh_times(problem: Problem, factor: float) -> Problem:
    c = problem.params.cell(0, 0)
    cell = c.replace(W_hr=c.W_hr * factor, W_hz=c.W_hz * factor, W_hn=c.W_hn * factor)
    return dataclasses.replace(problem, params=problem.params.replace_cell(0, 0, cell))


LARGE = make_case(Config(16, 8, 128, 128), "ordinary", "ordinary", 0).problem
"""Hidden 128, input 128 (k = 258 products per dot product), 16 steps, batch 8."""


# -- no false alarm ------------------------------------------------------------------------------


@pytest.mark.parametrize("arith", ["tf32", "float16", "bfloat16"])
@SETTINGS
@given(data=st.data(), variant=variants())
def test_no_false_alarm_forward(arith, data, variant) -> None:
    case = data.draw(_cases(arith), label="case")
    ref, tol = ErrorModel(DECLARED[arith]).forward(case.problem, variant)
    assume(tol.conditioned)
    got = _impl(arith, variant).forward(case.problem)
    for v in (compare("output", ref.output, got.output, tol.output),
              compare("h_n", ref.h_n, got.h_n, tol.h_n)):  # fmt: skip
        assert v.ok, f"false alarm in {DECLARED[arith]}: {v} ({case.describe()})"


@pytest.mark.parametrize("arith", ["tf32", "float16"])
@SETTINGS
@given(data=st.data(), variant=variants())
def test_no_false_alarm_gradients(arith, data, variant) -> None:
    case = data.draw(_cases("float16"), label="case")
    assert_gradients_within(ErrorModel(DECLARED[arith]), _impl(arith, variant), case, variant)


@pytest.mark.parametrize("arith", ["tf32", "float16", "bfloat16"])
def test_long_products_smaller_tolerance_still_no_false_alarm(arith: str) -> None:
    declared, _ = _ratio(arith, ErrorModel(DECLARED[arith]), LARGE)
    _, before = _ratio(arith, ErrorModel(ARITHMETICS[arith]), LARGE)
    _, after = _ratio(arith, ErrorModel(DECLARED[arith]), LARGE)
    assert declared < 0.5, declared  # measured 0.09 to 0.1
    assert after.output < before.output / 2.5, (after.output, before.output)  # measured 2.7-5.7x


@pytest.mark.parametrize("arith", ["tf32", "float16"])
def test_a_planted_scaling_passes_undeclared_and_is_flagged_with_the_accumulator(
    arith: str,
) -> None:
    bad = _weight_hh_times(LARGE, 1.03)
    undeclared, tol = _ratio(arith, ErrorModel(ARITHMETICS[arith]), LARGE, bad)
    assert tol.conditioned and undeclared < 0.8, undeclared  # measured 0.56 to 0.64: passes
    declared, tol = _ratio(arith, ErrorModel(DECLARED[arith]), LARGE, bad)
    assert tol.conditioned and declared > 1.3, declared  # measured 1.7 to 3.2: flagged


# -- the model itself ----------------------------------------------------------------------------


def test_undeclared_perturbation_is_the_former_one_bit_for_bit() -> None:
    """The former ``u sqrt(k)`` draw, written out: one uniform per entry, in the cells' order,
    then the input and the initial state."""
    p = make_case(Config(4, 2, 3, 5, num_layers=2, bidirectional=True), "ordinary", "ordinary", 3)
    problem = p.problem
    for arith in ARITHMETICS.values():
        got = ErrorModel(arith).perturbed(problem, np.random.default_rng(5))
        rng = np.random.default_rng(5)
        u, H = arith.unit_roundoff, problem.params.hidden_size
        entries = [(c, k, v) for row in problem.params.cells for c in row for k, v in c.items()]
        xi = rng.uniform(-1.0, 1.0, sum(np.size(v) for *_, v in entries) + problem.x.size
                         + problem.h0.size)  # fmt: skip
        used = 0
        for (c, k, v), (_, (_, w)) in zip(entries, _named_cells(got), strict=True):
            n = np.size(v)
            rel = u * math.sqrt(c.input_size + H + 2)
            want = v * (1.0 + rel * xi[used : used + n].reshape(np.shape(v)))
            used += n
            assert np.array_equal(w, want), (arith, k)
        n = problem.x.size
        assert np.array_equal(
            got.x, problem.x * (1.0 + u * xi[used : used + n].reshape(problem.x.shape))
        )


def _named_cells(problem: Problem):
    return [(c, item) for row in problem.params.cells for c in row for item in c.items()]


def test_declared_perturbation_has_the_documented_size() -> None:
    """Weights: ``(o + u_acc sqrt(k)) xi + R u_s eta`` with one ``eta`` per row; biases their own."""
    problem = make_case(Config(3, 2, 40, 40), "ordinary", "ordinary", 1).problem
    c = problem.params.cell(0, 0)
    k = c.input_size + 40 + 2
    for arith, operands in ((DECLARED["float16"], 0.0), (TORCH_TF32, 2 * 2.0**-11)):
        q = ErrorModel(arith).perturbed(problem, np.random.default_rng(0)).params.cell(0, 0)
        u_s = ARITHMETICS[arith.storage].unit_roundoff
        rel = q.W_hn / c.W_hn - 1.0
        per_weight = operands + 2.0**-24 * math.sqrt(k)
        assert np.max(np.abs(rel)) <= per_weight + RESULT_ROUNDINGS * u_s
        # the row's shared part: what is left of a row after its mean is at most the per-weight part
        spread = np.max(np.abs(rel - rel.mean(axis=1, keepdims=True)))
        assert spread <= 2 * per_weight * (1 + 1e-9)
        assert np.max(np.abs(q.b_in / c.b_in - 1.0)) <= per_weight + RESULT_ROUNDINGS * u_s
    # the input and the initial state: a relative u either way (xi ~ U(-1, 1))
    for arith in (DECLARED["float16"], TORCH_TF32):
        moved = ErrorModel(arith).perturbed(problem, np.random.default_rng(0))
        u = arith.unit_roundoff
        for got, was in ((moved.x, problem.x), (moved.h0, problem.h0)):
            rel = np.asarray(got) / np.asarray(was) - 1.0
            assert np.max(np.abs(rel)) <= u * (1 + 1e-9), (arith, np.max(np.abs(rel)) / u)
            assert rel.min() < -0.9 * u and rel.max() > 0.9 * u, (rel.min() / u, rel.max() / u)


# -- declarations --------------------------------------------------------------------------------


def test_torch_declares_float32_accumulation_where_known(monkeypatch: pytest.MonkeyPatch) -> None:
    assert arithmetic_for("float16").accumulator == "float32"
    assert arithmetic_for("bfloat16").accumulator == "float32"
    assert arithmetic_for("float32").accumulator is None is arithmetic_for("float64").accumulator
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", True)
    assert arithmetic_for("float32", "cuda") == TORCH_TF32
    matmul = torch.backends.cuda.matmul  # flags behind __getattr__: monkeypatch cannot undo them
    names = ("allow_fp16_reduced_precision_reduction", "allow_bf16_reduced_precision_reduction")
    saved = [getattr(matmul, n) for n in names]
    try:
        for n in names:
            setattr(matmul, n, True)  # torch's default: cuBLAS may add partial sums in the format
        assert arithmetic_for("float16", "cuda").accumulator is None
        assert arithmetic_for("bfloat16", "cuda").accumulator is None
        assert arithmetic_for("float16", "cuda", backend="cudnn").accumulator == "float32"
        setattr(matmul, names[0], False)
        assert arithmetic_for("float16", "cuda").accumulator == "float32"
        assert arithmetic_for("bfloat16", "cuda").accumulator is None
    finally:
        for n, v in zip(names, saved, strict=True):
            setattr(matmul, n, v)


def test_torch_targets_declare_it_and_others_stay_undeclared() -> None:
    for impl in (resolve_target("torch-gru", dtype="float16"),
                 resolve_target("torch-grucell", dtype="bfloat16"),
                 TorchReference(dtype="float16")):  # fmt: skip
        assert arithmetic_of(impl).accumulator == "float32", impl.name
    assert arithmetic_of(Tf32Reference()) == TORCH_TF32

    class Other:  # an implementation of unknown kernels: conservative, as before
        dtype, device = "float16", "cpu"

    assert arithmetic_of(Other()) == ARITHMETICS["float16"]  # type: ignore[arg-type]
    assert arithmetic_of(NumpyReference()) == ARITHMETICS["float64"]


def test_a_class_declares_its_accumulator() -> None:
    impl = resolve_target("accumulator_targets:AccumulatesInStorage", dtype="float16")
    assert arithmetic_of(impl).accumulator == "float16"  # overrides torch's float32
    both = arithmetic_of(resolve_target("accumulator_targets:DeclaresBoth", dtype="float16"))
    assert (both.accumulator, both.activation_error) == ("float32", 1e-5)
    assert "float32 accumulation" in str(both)
    with pytest.raises(TargetError, match="gruverify_accumulator"):
        resolve_target("accumulator_targets:DeclaresNonsense", dtype="float16")
    with pytest.raises(ValueError, match="accumulator"):
        accumulator_value(32)
    with pytest.raises(ValueError, match="unknown accumulator"):
        Arithmetic("x", "float16", 2.0**-11, accumulator="tf32")


def test_the_isolation_protocol_keeps_the_whole_arithmetic() -> None:
    from gruverify.guard import CallLimits
    from gruverify.isolation.client import build_isolated

    impl = build_isolated("accumulator_targets:DeclaresBoth", "cpu", "float16", False,
                          limits=CallLimits())  # fmt: skip
    try:
        here = arithmetic_of(resolve_target("accumulator_targets:DeclaresBoth", dtype="float16"))
        assert impl.arithmetic == here and arithmetic_of(impl) == here  # type: ignore[arg-type]
        assert here.accumulator == "float32" and here.activation_error == 1e-5
    finally:
        impl.close()


def test_the_scale_benchmark_judges_with_the_accumulator_and_a_planted_scaling() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # as test_sizes_benchmarks does
    from benchmarks import scale_calibration as sc

    assert sc.arithmetic("float16") == DECLARED["float16"]
    assert (
        sc.arithmetic("tf32") == TORCH_TF32 and sc.arithmetic("tf32", False) == ARITHMETICS["tf32"]
    )
    assert sc._row("float32:chrono") == ("float32", "chrono") and sc._row("tf32") == (
        "tf32",
        "ordinary",
    )
    problem = sc._problem(sc.Scale(40, 4, 3), "ordinary", seed=0)
    r = sc.judge_forward("float16", problem, planted=(0.2,))
    assert r["ratio"] <= 1.0 and r["planted"][0] > 1.0, r
    table = sc.run(runs=[("float16", "ordinary")], gradients=False, planted=(0.2,), quick=True)[0]
    assert "float32 accumulation" in table.rows[0][0] and len(table.rows[0]) == len(table.columns)
