"""The error model, both ways (gruverify.error_model).

- No false alarm: correct computations in float32, TF32 (emulated on the CPU: matmul operands
  rounded to 10 mantissa bits, gruverify.reference.emulation), float16 and bfloat16 -- the torch reference in
  that arithmetic -- stay within the tolerance the model derives, forward (outputs and h_n) and,
  except bfloat16, gradients (every quantity).
- Sensitivity: torch's ``weight_hh`` of layer 0 (all three gate blocks W_hr, W_hz, W_hn) scaled by
  ``1 + 1e-4`` is flagged in float32, ``1 + 1e-8`` in float64, on problems where that weight is
  observable (ordinary inputs and weights, T >= 2, H >= 2, h0 given).
- Bookkeeping: unit roundoffs, TF32 flag reading, the conditioned rule, TF32 rounding.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gruverify.core.problem import Problem
from gruverify.error_model import ARITHMETICS, ErrorModel, Tolerance, arithmetic_for, compare
from gruverify.laws.gradients import problem_cotangents
from gruverify.reference.emulation import Tf32Reference, round_to_tf32, round_to_tf32_numpy
from gruverify.reference.implementations import TorchReference
from gruverify.strategies import cases, configs, variants

SETTINGS = settings(
    max_examples=25, deadline=None, derandomize=True, database=None,
    suppress_health_check=(HealthCheck.too_slow,),
)  # fmt: skip
CONFIG = {"max_steps": 40, "max_size": 12, "max_batch": 3, "work": 60}


def _cases(arith: str):
    if arith == "float32":
        return cases(configs(**CONFIG))
    inputs = st.sampled_from(("ordinary", "zeros"))  # 1e4 inputs do not survive 11-bit rounding
    if arith == "bfloat16":
        return cases(
            # 8 bits: the tolerance reaches 5% of the output after a few steps (chaotic)
            configs(**{**CONFIG, "max_steps": 6, "max_size": 8}),
            st.sampled_from(("ordinary", "chrono")),
            inputs,
        )
    return cases(configs(**CONFIG), st.sampled_from(("ordinary", "chrono", "saturating")), inputs)


def _impl(arith: str, variant):
    if arith == "tf32":
        return Tf32Reference(variant)
    return TorchReference(variant, arith)


@pytest.mark.parametrize("arith", ["float32", "tf32", "float16", "bfloat16"])
@SETTINGS
@given(data=st.data(), variant=variants())
def test_no_false_alarm_forward(arith, data, variant) -> None:
    case = data.draw(_cases("float32" if arith == "float32" else arith), label="case")
    model = ErrorModel(ARITHMETICS[arith])
    ref, tol = model.forward(case.problem, variant)
    assume(tol.conditioned)  # chaotic at this precision: rare for these strategies
    got = _impl(arith, variant).forward(case.problem)
    for v in (
        compare("output", ref.output, got.output, tol.output),
        compare("h_n", ref.h_n, got.h_n, tol.h_n),
    ):
        assert v.ok, f"false alarm in {ARITHMETICS[arith]}: {v} ({case.describe()})"


@pytest.mark.parametrize("arith", ["float32", "tf32", "float16"])
@SETTINGS
@given(data=st.data(), variant=variants())
def test_no_false_alarm_gradients(arith, data, variant) -> None:
    case = data.draw(_cases(arith if arith != "tf32" else "float16"), label="case")
    assert_gradients_within(ErrorModel(ARITHMETICS[arith]), _impl(arith, variant), case, variant)


def assert_gradients_within(model: ErrorModel, impl, case, variant) -> None:
    """No false alarm: every gradient quantity (dx, dh0, each parameter) of ``impl`` on ``case``
    within the tolerance ``model`` derives (tests/test_error_model_accumulator.py uses it too)."""
    p = case.problem
    d_out, d_hn = problem_cotangents(p, case.seed % 1000)
    ref, tol = model.backward(p, variant, d_out, d_hn)
    got = impl.gradients(p, d_out, d_hn)
    pairs = [("dx", ref.dx, got.dx)] + ([("dh0", ref.dh0, got.dh0)] if p.h0 is not None else [])
    theirs = dict(got.dparams.named())
    pairs += [(k, v, theirs[k]) for k, v in ref.dparams.named()]
    for name, want, have in pairs:
        v = compare(name, want, have, tol.gradients[name])
        assert v.ok, f"false alarm in {model.arithmetic} gradients: {v} ({case.describe()})"


def scale_weight_hh(problem: Problem, factor: float) -> Problem:
    """torch's weight_hh_l0 (W_hr, W_hz, W_hn stacked) times ``factor``."""
    c = problem.params.cell(0, 0)
    cell = c.replace(W_hr=c.W_hr * factor, W_hz=c.W_hz * factor, W_hn=c.W_hn * factor)
    return dataclasses.replace(problem, params=problem.params.replace_cell(0, 0, cell))


def scale_weight_ih(problem: Problem, factor: float) -> Problem:
    """torch's weight_ih_l0 (W_ir, W_iz, W_in stacked) times ``factor``."""
    c = problem.params.cell(0, 0)
    cell = c.replace(W_ir=c.W_ir * factor, W_iz=c.W_iz * factor, W_in=c.W_in * factor)
    return dataclasses.replace(problem, params=problem.params.replace_cell(0, 0, cell))


OBSERVABLE = cases(
    configs(
        max_steps=40, min_steps=2, max_size=12, max_batch=3, work=60, none_h0=False, min_hidden=2
    ),
    st.just("ordinary"),  # chrono init carries the state: inputs barely reach the output
    st.just("ordinary"),
)


@pytest.mark.parametrize(("dtype", "delta"), [("float32", 1e-4), ("float64", 1e-8)])
@pytest.mark.parametrize("which", ["weight_hh", "weight_ih"])
@SETTINGS
@given(case=OBSERVABLE, variant=variants())
def test_perturbed_weight_is_flagged(dtype, delta, which, case, variant) -> None:
    perturb = scale_weight_hh if which == "weight_hh" else scale_weight_ih
    model = ErrorModel(ARITHMETICS[dtype])
    ref, tol = model.forward(case.problem, variant)
    got = TorchReference(variant, dtype).forward(perturb(case.problem, 1.0 + delta))
    verdicts = [
        compare("output", ref.output, got.output, tol.output),
        compare("h_n", ref.h_n, got.h_n, tol.h_n),
    ]
    assert not all(v.ok for v in verdicts), (
        f"{which} * (1 + {delta:g}) not flagged in {dtype}: {verdicts[0]}; {verdicts[1]} "
        f"({case.describe()})"
    )


def test_unit_roundoffs_and_tf32_flags() -> None:
    assert ARITHMETICS["float64"].unit_roundoff == 2.0**-53
    assert ARITHMETICS["float32"].unit_roundoff == 2.0**-24
    assert ARITHMETICS["tf32"].unit_roundoff == ARITHMETICS["float16"].unit_roundoff == 2.0**-11
    assert ARITHMETICS["bfloat16"].unit_roundoff == 2.0**-8
    assert arithmetic_for("float32", "cpu").name == "float32"
    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    try:
        torch.backends.cudnn.allow_tf32 = True
        assert arithmetic_for("float32", "cuda").name == "tf32"
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        assert arithmetic_for("float32", "cuda").name == "float32"
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
    with pytest.raises(ValueError, match="unknown dtype"):
        arithmetic_for("int8")


def test_tolerance_grows_with_unit_roundoff() -> None:
    from gruverify.strategies import Config, make_case

    p = make_case(Config(10, 2, 3, 5), "ordinary", "ordinary", 1).problem
    tols = [ErrorModel(ARITHMETICS[a]).forward(p, "reset_after")[1].output
            for a in ("float64", "float32", "tf32", "bfloat16")]  # fmt: skip
    assert tols == sorted(tols) and tols[0] < 1e-14 and tols[-1] > 1e-3, tols


def test_conditioned_rule() -> None:
    assert Tolerance(0.01, 0.01, output_scale=0.5).conditioned
    assert not Tolerance(0.06, 0.01, output_scale=0.5).conditioned
    assert Tolerance(0.4, 0.4, output_scale=10.0).conditioned


def test_tf32_rounding() -> None:
    x = torch.tensor([1.0, 1.0 + 2.0**-11, 1.0 + 3 * 2.0**-11, 1.0 + 2**-12, -(1.0 + 3 * 2.0**-11)])
    got = round_to_tf32(x)
    # 10 stored bits: spacing 2^-10 at 1; ties (odd multiples of 2^-11) go to even
    want = torch.tensor([1.0, 1.0, 1.0 + 2 * 2.0**-10, 1.0, -(1.0 + 2 * 2.0**-10)])
    assert torch.equal(got, want), (got, want)
    r = np.random.default_rng(0).standard_normal(10000)
    t = round_to_tf32_numpy(r)
    assert np.max(np.abs(t - r.astype(np.float32)) / np.abs(r)) <= 2.0**-11
    assert torch.isinf(round_to_tf32(torch.tensor([float("inf")]))).all()
