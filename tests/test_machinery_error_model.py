"""The error model's machinery, pinned down (issue 14: bugs planted in it that no test saw).

- The tolerance formula, forward and backward: ``tol = safety * s + floor * u * max(1, |ref|)``
  with the documented constants (``safety`` 3, ``floor`` 4, 3 draws), ``s`` the largest
  deviation over the draws; the run sees the problem rounded to the storage dtype and perturbed
  by ``u sqrt(k)`` (weights) and ``u`` (input, initial state). Doubling the safety factor (3 -> 6)
  fails here, as does any other change of a constant.
- Gradient sensitivity per dtype: one gradient block (``dx``, ``dh0`` or one parameter) of a
  correct implementation in that dtype, scaled by ``1 + delta``, is flagged, for every block of
  every problem below; ``delta`` is about 2000 unit roundoffs (float64 1e-12, float32 1e-4,
  float16 0.5), where the measured error / tolerance runs from about 1.6 to 1200 (median 20 to
  180). Gradient tolerances 100x too loose fail here.
- The small rules: ``compare``'s worst entry (NaN counts as worst), ``Verdict``, the two
  conditioning rules at their boundaries, ``require_in_range``, a declared arithmetic.
"""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import pytest

from gruverify.core.arithmetic import round_to_dtype
from gruverify.core.params import StackParams, random_gru_params
from gruverify.core.problem import Outputs, Problem
from gruverify.error_model import (
    ARITHMETICS,
    CONDITIONING,
    DEVICE_REFERENCE_WORK,
    RANGE_MARGIN,
    ErrorModel,
    Inconclusive,
    Tolerance,
    Verdict,
    arithmetic_of,
    compare,
    default_model,
    require_conditioned,
    require_gradients_conditioned,
    require_in_range,
)
from gruverify.laws.gradients import problem_cotangents
from gruverify.reference import numpy_reference as nr
from gruverify.reference.implementations import NumpyReference, TorchReference
from gruverify.strategies import Config, make_case

F32 = ARITHMETICS["float32"]


SMALL = Config(4, 2, 3, 5)


def _problem(cfg: Config = SMALL, seed: int = 0) -> Problem:
    return make_case(cfg, "ordinary", "ordinary", seed).problem


# -- the documented constants and the forward formula ---------------------------------------------


def test_documented_constants() -> None:
    """safety 3, floor 4, 3 draws, seed 0 (the calibration in the module docstring used these)."""
    m = ErrorModel(F32)
    assert (m.safety, m.floor, m.draws, m.seed) == (3.0, 4.0, 3, 0)
    assert CONDITIONING == 0.05 and RANGE_MARGIN == 4.0


class _Scripted:
    """A forward run whose perturbed draws deviate by scripted amounts (one per draw)."""

    def __init__(self, out: np.ndarray, hn: np.ndarray, d_out: list[float], d_hn: list[float]):
        self.out, self.hn, self.d_out, self.d_hn = out, hn, d_out, d_hn
        self.seen: list[tuple[Problem, np.random.Generator | None]] = []

    def __call__(self, p: Problem, rng: np.random.Generator | None) -> Outputs:
        self.seen.append((p, rng))
        if rng is None:
            return Outputs(self.out.copy(), self.hn.copy())
        k = len(self.seen) - 2  # draw index
        out, hn = self.out.copy(), self.hn.copy()
        out.flat[k % out.size] -= self.d_out[k]  # the deviation may sit anywhere, either sign
        hn.flat[-1] += self.d_hn[k]
        return Outputs(out, hn)


def test_forward_tolerance_is_safety_times_the_worst_draw_plus_the_floor() -> None:
    p = _problem()
    out = np.full((4, 2, 5), 0.25)
    out[1, 1, 3] = -2.5  # |ref|_inf = 2.5 > 1: the floor scales with it
    hn = np.full((1, 2, 5), 0.5)  # |ref|_inf < 1: the floor uses 1
    run = _Scripted(out, hn, d_out=[1e-6, 3e-6, 2e-6], d_hn=[5e-7, 1e-7, 4e-7])
    ref, tol = ErrorModel(F32).forward_of(run, p)
    u = F32.unit_roundoff
    assert np.array_equal(ref.output, out) and np.array_equal(ref.h_n, hn)
    assert tol.output == pytest.approx(3.0 * 3e-6 + 4.0 * u * 2.5, rel=1e-12)
    assert tol.h_n == pytest.approx(3.0 * 5e-7 + 4.0 * u * 1.0, rel=1e-12)
    assert tol.output_scale == 2.5 and tol.arithmetic == F32
    assert tol.gradients == {}
    assert len(run.seen) == 4  # the unperturbed run, then 3 draws
    # other constants, the same formula
    run2 = _Scripted(out, hn, d_out=[1e-6, 3e-6], d_hn=[5e-7, 1e-7])
    _, tol2 = ErrorModel(F32, safety=2.0, floor=1.0, draws=2).forward_of(run2, p)
    assert tol2.output == pytest.approx(2.0 * 3e-6 + 1.0 * u * 2.5, rel=1e-12)
    assert tol2.h_n == pytest.approx(2.0 * 5e-7 + 1.0 * u, rel=1e-12)


def test_forward_runs_see_the_rounded_problem_and_perturbations_of_the_right_size() -> None:
    p = _problem(Config(3, 2, 3, 4, num_layers=2))
    run = _Scripted(np.zeros((3, 2, 4)), np.zeros((2, 2, 4)), [0.0] * 3, [0.0] * 3)
    ErrorModel(F32).forward_of(run, p)
    (base, rng0), *draws = run.seen
    assert rng0 is None
    rounded_x = round_to_dtype(p.x, "float32")
    assert np.array_equal(base.x, rounded_x) and not np.array_equal(base.x, p.x)
    assert np.array_equal(base.h0, round_to_dtype(p.h0, "float32"))
    u = F32.unit_roundoff
    H = p.params.hidden_size
    for q, rng in draws:
        assert isinstance(rng, np.random.Generator)
        rel_x = np.abs(q.x / base.x - 1.0)
        assert 0 < rel_x.max() <= u * (1 + 1e-9), rel_x.max()
        assert 0 < np.abs(q.h0 / base.h0 - 1.0).max() <= u * (1 + 1e-9)
        assert q.batch_first == base.batch_first
        for layer in range(p.num_layers):
            k = p.params.cell(layer, 0).input_size + H + 2
            mine, theirs = (
                dict(q.params.cell(layer, 0).items()),
                dict(base.params.cell(layer, 0).items()),
            )
            rel = max(float(np.max(np.abs(mine[n] / theirs[n] - 1.0))) for n in mine)
            # within u sqrt(k), and most of it used (12 or more entries per array)
            assert 0.3 * u * math.sqrt(k) < rel <= u * math.sqrt(k) * (1 + 1e-9), (layer, rel)
    assert not np.array_equal(draws[0][0].x, draws[1][0].x)  # fresh noise per draw


def test_float64_is_not_rounded_and_seed_fixes_the_draws() -> None:
    p = _problem()
    m = ErrorModel(ARITHMETICS["float64"])
    assert m.reference_problem(p) is p
    a = m.forward(p, "reset_after")[1]
    assert m.forward(p, "reset_after")[1] == a
    b = ErrorModel(ARITHMETICS["float64"], seed=1).forward(p, "reset_after")[1]
    assert b.output != a.output


def test_perturbed_keeps_the_structure() -> None:
    p = _problem(Config(3, None, 2, 3, bias=False, initial_state=False))
    q = ErrorModel(F32).perturbed(p, np.random.default_rng(0))
    assert q.h0 is None and q.params.bias is False and q.x.shape == p.x.shape
    assert q.params.num_layers == p.params.num_layers


def test_forward_tolerance_matches_the_reference_deviation() -> None:
    """``forward``: the reference's own outputs (rounded problem) and a tolerance that holds a
    float32 computation but not a wrong one."""
    p = _problem(Config(6, 2, 3, 4))
    ref, tol = ErrorModel(F32).forward(p, "reset_after")
    want = NumpyReference().forward(ErrorModel(F32).reference_problem(p))
    assert np.array_equal(ref.output, want.output) and np.array_equal(ref.h_n, want.h_n)
    assert 0 < tol.output < 1e-5 and 0 < tol.h_n < 1e-5
    assert tol.output_scale == float(np.max(np.abs(ref.output)))


# -- the backward formula ---------------------------------------------------------------------------


def _grads(g) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    return {"dx": g.dx, "dh0": g.dh0, **dict(g.dparams.named())}


def test_backward_tolerance_formula() -> None:
    p = _problem(Config(5, 2, 3, 4, num_layers=2))
    d_out, d_hn = problem_cotangents(p, 1)
    u = F32.unit_roundoff
    ref, floor_only = ErrorModel(F32, safety=0.0).backward(p, "reset_after", d_out, d_hn)
    g = _grads(ref)
    top = max(float(np.max(np.abs(v))) for v in g.values())
    assert set(floor_only.gradients) == set(g)
    for k, t in floor_only.gradients.items():
        assert t == pytest.approx(4.0 * u * max(1.0, top), rel=1e-12), k
    scale = max(float(np.max(np.abs(v))) for k, v in g.items() if k != "dh0")
    assert floor_only.gradient_scale == scale
    assert (floor_only.output, floor_only.h_n) == (0.0, 0.0)
    _, sens = ErrorModel(F32, safety=1.0, floor=0.0).backward(p, "reset_after", d_out, d_hn)
    _, tol = ErrorModel(F32).backward(p, "reset_after", d_out, d_hn)
    for k, t in tol.gradients.items():
        s = sens.gradients[k]
        assert s > 0, k
        assert t == pytest.approx(3.0 * s + floor_only.gradients[k], rel=1e-9), k
    # the cotangents are rounded to the storage dtype: float64 cotangents give the same answer
    _, again = ErrorModel(F32).backward(
        p, "reset_after", round_to_dtype(d_out, "float32"), round_to_dtype(d_hn, "float32")
    )
    assert again.gradients == tol.gradients


def test_backward_reference_gradients_are_the_analytic_ones() -> None:
    p = _problem(Config(4, 2, 3, 3))
    d_out, d_hn = problem_cotangents(p, 2)
    m = ErrorModel(ARITHMETICS["float64"])
    ref, _ = m.backward(p, "reset_before", d_out, d_hn)
    want = NumpyReference("reset_before").gradients(p, d_out, d_hn)
    for k, v in _grads(want).items():
        assert np.allclose(_grads(ref)[k], v, rtol=1e-12, atol=1e-14), k
    only_out, _ = m.backward(p, "reset_before", d_out, None)
    want_out = NumpyReference("reset_before").gradients(p, d_out, np.zeros_like(d_hn))
    assert np.allclose(only_out.dx, want_out.dx, rtol=1e-12, atol=1e-14)
    only_hn, _ = m.backward(p, "reset_before", None, d_hn)
    want_hn = NumpyReference("reset_before").gradients(p, np.zeros_like(d_out), d_hn)
    assert np.allclose(only_hn.dx, want_hn.dx, rtol=1e-12, atol=1e-14)


# -- gradient sensitivity, per dtype -----------------------------------------------------------------

SENSITIVITY_PROBLEMS = [
    (Config(6, 3, 4, 5), "reset_after"),
    (Config(10, 2, 3, 4, num_layers=2), "reset_before"),
    (Config(8, 2, 5, 3, bidirectional=True), "reset_after"),
    (Config(4, 3, 3, 6, num_layers=2, bidirectional=True), "reset_before"),
    (Config(12, 1, 2, 4), "reset_after"),
    (Config(5, 2, 4, 4, bias=False, batch_first=True), "reset_after"),
]


@pytest.mark.parametrize(
    ("dtype", "delta"), [("float64", 1e-12), ("float32", 1e-4), ("float16", 0.5)]
)
def test_one_gradient_block_off_is_flagged(dtype: str, delta: float) -> None:
    """A correct implementation's gradients in ``dtype`` pass; with any one block (``dx``,
    ``dh0`` or a parameter) times ``1 + delta`` that block fails (``delta`` ~ 2000 u)."""
    model = ErrorModel(ARITHMETICS[dtype])
    missed = []
    for i, (cfg, variant) in enumerate(SENSITIVITY_PROBLEMS):
        p = _problem(cfg, seed=i)
        d_out, d_hn = problem_cotangents(p, i)
        ref, tol = model.backward(p, variant, d_out, d_hn)
        assert tol.gradients_conditioned, (dtype, cfg)
        got = _grads(TorchReference(variant, dtype).gradients(p, d_out, d_hn))
        for k, want in _grads(ref).items():
            if not p.bias and k.split(".")[-1].startswith("b_"):
                continue
            ok = compare(k, want, got[k], tol.gradients[k])
            assert ok.ok, f"false alarm in {dtype}: {ok} ({cfg}, {variant})"
            bad = compare(k, want, got[k] * (1 + delta), tol.gradients[k])
            if bad.ok:
                missed.append(f"{k} ({cfg}, {variant}): {bad}")
    assert not missed, f"{len(missed)} blocks off by {delta:g} not flagged in {dtype}: {missed[:5]}"


# -- compare, Verdict and the conditioning rules ------------------------------------------------------


def test_compare_reports_the_worst_entry() -> None:
    e = np.array([[0.0, 1.0], [2.0, -3.0]])
    g = np.array([[0.0, 1.5], [2.0, -3.25]])
    v = compare("q", e, g, 0.4)
    assert v == Verdict("q", 0.5, 0.4, 3.0, (0, 1), 1.0, 1.5)
    assert not v.ok
    assert str(v) == ("q: max abs error 0.5 > tolerance 0.4 at index (0, 1) (expected 1, got 1.5)")
    w = compare("q", e, g, 0.5)
    assert w.ok and "max abs error 0.5 <= tolerance 0.5" in str(w)


def test_compare_nan_is_the_worst_and_never_ok() -> None:
    e = np.array([1.0, 2.0, 3.0])
    v = compare("q", e, np.array([1.0, np.nan, 30.0]), 1e9)
    assert v.index == (1,) and not v.ok and math.isnan(v.got)
    assert not compare("q", e, np.array([1.0, np.inf, 3.0]), 1e300).ok


def test_compare_empty_and_mismatched() -> None:
    v = compare("q", np.zeros((0, 3)), np.zeros((0, 3)), 0.1)
    assert v.ok and v.error == 0.0 and v.index == () and str(v).startswith("q: max abs error 0 <=")
    assert " at index" not in str(v)
    with pytest.raises(ValueError, match=r"q: shape \(2,\), expected \(3,\)"):
        compare("q", np.zeros(3), np.zeros(2), 0.1)


def test_forward_conditioning_rule_at_its_boundary() -> None:
    # tolerance <= 5% of max(1, |output|): equality is conditioned
    assert Tolerance(0.05, 0.0, output_scale=0.2).conditioned
    assert not Tolerance(0.0500001, 0.0, output_scale=0.2).conditioned
    assert not Tolerance(0.0, 0.0500001, output_scale=0.2).conditioned  # h_n counts too
    assert Tolerance(0.5, 0.5, output_scale=10.0).conditioned
    assert not Tolerance(0.51, 0.5, output_scale=10.0).conditioned


def test_gradient_conditioning_rule_at_its_boundary() -> None:
    assert Tolerance(0, 0, {"dx": 0.05, "dh0": 0.01}).gradients_conditioned
    assert not Tolerance(0, 0, {"dx": 0.01, "dh0": 0.0500001}).gradients_conditioned
    assert Tolerance(0, 0, {"dx": 0.5}, gradient_scale=10.0).gradients_conditioned
    assert not Tolerance(0, 0, {"dx": 0.51}, gradient_scale=10.0).gradients_conditioned
    assert Tolerance(0, 0, {}).gradients_conditioned


def test_require_rules_raise_with_the_figures() -> None:
    p = _problem()
    require_conditioned(Tolerance(0.01, 0.01, arithmetic=F32, output_scale=0.5), p)
    with pytest.raises(Inconclusive) as e:
        require_conditioned(Tolerance(0.06, 0.01, arithmetic=F32, output_scale=0.5), p, ": why")
    text = str(e.value)
    assert text.startswith("forward tolerance 0.06 is above 5% of the output scale 0.5 in float32")
    assert ": why (" in text and p.describe() in text
    require_gradients_conditioned(Tolerance(0, 0, {"dx": 0.01}, F32, gradient_scale=0.5), p)
    with pytest.raises(Inconclusive) as e:
        require_gradients_conditioned(Tolerance(0, 0, {"dx": 0.2}, F32, gradient_scale=3.0), p)
    assert str(e.value).startswith(
        "gradient tolerance 0.2 is above 5% of the gradient scale 3 in float32"
    ), str(e.value)


def test_require_in_range_at_its_boundary() -> None:
    """Inconclusive once the data or a pre-activation bound comes within a factor 4 of the
    storage dtype's largest number (float16: 65504)."""
    f16 = ARITHMETICS["float16"]
    p = _problem(Config(2, 1, 1, 1, bias=False, initial_state=False))
    zero = p.params.map(lambda v: 0.0 * v)
    limit = 65504.0 / 4.0
    ok = dataclasses.replace(p, params=zero, x=np.full_like(p.x, limit))
    require_in_range(ok, f16)
    over = dataclasses.replace(p, params=zero, x=np.full_like(p.x, limit * 1.001))
    with pytest.raises(Inconclusive, match="come near the range of float16"):
        require_in_range(over, f16)
    require_in_range(over, F32)
    # a pre-activation bound over the limit with a small input: weights 1e4 times input 1
    big = p.params.map(lambda v: np.full_like(v, 1e4))
    with pytest.raises(Inconclusive, match="pre-activations up to"):
        require_in_range(dataclasses.replace(p, params=big, x=np.ones_like(p.x) * 2.0), f16)
    nan = dataclasses.replace(p, params=zero, x=np.full_like(p.x, np.nan))
    with pytest.raises(Inconclusive):
        require_in_range(nan, F32)


def test_judged_forward_applies_both_rules() -> None:
    p = _problem()
    m = ErrorModel(F32)
    ref, tol = m.judged_forward(p, "reset_after")
    want, want_tol = m.forward(p, "reset_after")
    assert np.array_equal(ref.output, want.output) and np.array_equal(ref.h_n, want.h_n)
    assert tol == want_tol
    wild = ErrorModel(dataclasses.replace(ARITHMETICS["bfloat16"], unit_roundoff=0.05))
    with pytest.raises(Inconclusive, match=r"above 5%.*: chaotic"):
        wild.judged_forward(p, "reset_after", ": chaotic")


class _Declares:
    dtype, device = "float32", "cpu"
    arithmetic = ARITHMETICS["tf32"]


class _Plain:
    dtype, device = "float16", "cpu"


def test_a_declared_arithmetic_wins() -> None:
    assert arithmetic_of(_Declares()) == ARITHMETICS["tf32"]  # type: ignore[arg-type]
    assert arithmetic_of(_Plain()) == ARITHMETICS["float16"]  # type: ignore[arg-type]
    assert default_model(_Declares()).arithmetic == ARITHMETICS["tf32"]  # type: ignore[arg-type]
    assert default_model(_Plain()) == ErrorModel(ARITHMETICS["float16"])  # type: ignore[arg-type]


# -- round 2 (docs/mutation.md) ----------------------------------------------------------------------


def test_activation_sensitivity_of_one_step_from_zero() -> None:
    """Ingredient 5 by hand: one step from ``h = 0`` with ``b_hn = 0`` (so ``r`` does not reach
    ``n``) gives ``h' = (1 - z) n``; ``z`` up by ``e`` (``1 - z`` down) moves it by ``e |n|``,
    ``n`` up by ``e`` by ``e (1 - z)``, the other shifts not at all: the sensitivity is
    ``max_i e (|n_i| + |1 - z_i|)``, and zeros without a declared activation error."""
    e = 1e-4
    params = random_gru_params(2, 3, rng=4)
    cell = params.cells[0][0].replace(b_hn=0.0 * params.cells[0][0].b_hn)
    params = StackParams(((cell,),), bias=True)
    x = np.random.default_rng(4).normal(size=(1, 5, 2))
    gates = nr.gru_gates(cell, x[0], np.zeros((5, 3)), "reset_after")

    def h_n(step):  # type: ignore[no-untyped-def]
        r = nr.stack_forward(step, params, x, None, "reset_after", False, None, traces=False)
        return {"h_n": r.h_n, "empty": r.h_n[:0]}

    ref = h_n(nr.gru_step)
    declared = ErrorModel(dataclasses.replace(F32, activation_error=e))
    act = declared.activation_sensitivity(h_n, ref)
    expected = float(np.max(e * (np.abs(gates["n"]) + np.abs(gates["one_minus_z"]))))
    assert act["h_n"] == pytest.approx(expected, rel=1e-6)
    assert act["empty"] == 0.0
    assert ErrorModel(F32).activation_sensitivity(h_n, ref) == {"h_n": 0.0, "empty": 0.0}


@pytest.mark.parametrize("variant", ["reset_after", "reset_before"])
def test_a_shifted_reset_gate_moves_the_candidate(variant: str) -> None:
    """Ingredient 5, the reset gate: ``r`` reaches the state only through the candidate, so its
    shift by ``e`` recomputes ``n``: one step from ``h = 0`` moves ``h' = (1 - z) n`` by
    ``(1 - z) (tanh(a_n + e b_hn) - n)`` (reset-after: ``a_n`` gains ``e g``, ``g = b_hn``
    at ``h = 0``) and not at all reset-before (``(e h) W_hn = 0``); the sensitivity adds that
    to the ``z`` and ``n`` shifts' ``e (|n| + |1 - z|)``."""
    e = 1e-3
    params = random_gru_params(2, 3, rng=5)
    cell = params.cells[0][0].replace(b_hn=3.0 + 0.0 * params.cells[0][0].b_hn)
    params = StackParams(((cell,),), bias=True)
    x = np.random.default_rng(5).normal(size=(1, 4, 2))
    g = nr.gru_gates(cell, x[0], np.zeros((4, 3)), variant)

    def h_n(step):  # type: ignore[no-untyped-def]
        r = nr.stack_forward(step, params, x, None, variant, False, None, traces=False)
        return {"h_n": r.h_n}

    act = ErrorModel(dataclasses.replace(F32, activation_error=e)).activation_sensitivity(
        h_n, h_n(nr.gru_step)
    )
    via_r = g["one_minus_z"] * (np.tanh(g["a_n"] + e * 3.0) - g["n"])
    via_r = np.abs(via_r) if variant == "reset_after" else 0.0 * via_r
    expected = float(np.max(e * (np.abs(g["n"]) + np.abs(g["one_minus_z"])) + via_r))
    assert act["h_n"] == pytest.approx(expected, rel=1e-6), (variant, act, expected)


def test_the_device_reference_counts_the_whole_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CUDA target's reference runs on its device once ``B H (I + H)`` (batch included) reaches
    ``DEVICE_REFERENCE_WORK``, time-major or batch-first (CUDA pretended: the choice only)."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    model = ErrorModel(F32, device="cuda")
    wide, narrow = Config(3, 40, 32, 64), Config(3, 1, 32, 64)
    assert 40 * 64 * 96 >= DEVICE_REFERENCE_WORK > 64 * 96
    assert model.reference_device(_problem(wide)) == "cuda"
    assert model.reference_device(_problem(dataclasses.replace(wide, batch_first=True))) == "cuda"
    assert model.reference_device(_problem(narrow)) is None
    assert ErrorModel(F32).reference_device(_problem(wide)) is None


def test_the_torch_reference_path_takes_the_initial_state() -> None:
    """``reference_run(variant, "cpu")`` (the path a CUDA target's reference takes, on the CPU):
    unperturbed, the numpy reference's outputs, initial state included."""
    p = _problem(Config(4, 2, 3, 5, num_layers=2))
    assert p.h0 is not None and np.max(np.abs(p.h0)) > 0
    model = ErrorModel(F32)
    torch_ref = model.reference_run("reset_after", "cpu")(p, None)
    numpy_ref = model.reference_run("reset_after")(p, None)
    np.testing.assert_allclose(torch_ref.output, numpy_ref.output, rtol=0, atol=1e-13)
    np.testing.assert_allclose(torch_ref.h_n, numpy_ref.h_n, rtol=0, atol=1e-13)
    no_h0 = model.reference_run("reset_after")(dataclasses.replace(p, h0=None), None)
    assert np.max(np.abs(no_h0.h_n - torch_ref.h_n)) > 1e-3


def test_backward_tolerances_name_the_arithmetic() -> None:
    """A gradient verdict, or its inconclusive note, names the arithmetic it was judged in."""
    p = _problem()
    d_out, d_hn = problem_cotangents(p, 1)
    _, tol = ErrorModel(F32).backward(p, "reset_after", d_out, d_hn)
    assert tol.arithmetic == F32
    _, loose = ErrorModel(F32, safety=1e9).backward(p, "reset_after", d_out, d_hn)
    with pytest.raises(Inconclusive, match=f"in {re.escape(str(F32))} "):
        require_gradients_conditioned(loose, p)


def test_a_declared_activation_error_widens_the_forward_tolerance() -> None:
    """Ingredient 5 in ``ErrorModel.forward``: the tolerance with a declared activation error is
    the undeclared one plus ``safety`` times the activation sensitivity, on outputs and ``h_n``."""
    problem = _problem()
    e = 1e-4
    plain = ErrorModel(F32).forward(problem, "reset_after")[1]
    declared = ErrorModel(dataclasses.replace(F32, activation_error=e)).forward(
        problem, "reset_after"
    )[1]
    for q in ("output", "h_n"):
        grown = getattr(declared, q) - getattr(plain, q)
        assert 0.0 < grown <= 3.0 * e * 4.0 * problem.x.shape[0], (q, grown)


def test_study_product_slack_formula() -> None:
    """``s = 4 T H eps`` with ``eps = 2^-52`` (module docstring of ``study_product_slack``)."""
    from gruverify.error_model import study_product_slack

    assert study_product_slack(10, 8) == 4 * 10 * 8 * 2.0**-52
    assert study_product_slack(1, 1) == 4 * 2.0**-52


def test_a_large_initial_state_counts_in_the_range_of_the_preactivations() -> None:
    """The pre-activation bound takes ``max(1, |h0|_max)``: a float16 case whose initial state
    alone would overflow the recurrent products is out of range; the same case with ``h0``
    within the box is not."""
    from gruverify.error_model import ARITHMETICS, Inconclusive, require_in_range

    p = make_case(Config(3, 2, 3, 4), "ordinary", "ordinary", 0).problem
    require_in_range(p, ARITHMETICS["float16"])
    big = dataclasses.replace(p, h0=np.full(np.shape(p.h0), 6.0e4))
    with pytest.raises(Inconclusive, match="come near the range of float16"):
        require_in_range(big, ARITHMETICS["float16"])


def test_effective_biases_must_equal_the_source_to_a_few_float32_units_whatever_their_size() -> (
    None
):
    """Quantized kernels keep biases float: an effective bias off by ``100 u_32 |b|`` is reported
    (the allowance ``4 u_32 |b|`` is relative: it shrinks with a small bias rather than grows),
    one off by ``2 u_32 |b|`` is not."""
    from gruverify.core.quantization import Quantization
    from gruverify.error_model import effective_weight_excess

    u32 = 2.0**-24
    params = random_gru_params(3, 4, rng=0).map(np.asarray)
    cell = params.cell(0)
    for size in (1e-2, 1.0, 50.0):
        b = np.full(4, size)
        source = params.replace_cell(0, 0, cell.replace(b_hz=b))
        for off, reported in ((100.0, True), (2.0, False)):
            eff = source.replace_cell(0, 0, cell.replace(b_hz=b * (1.0 + off * u32)))
            got = effective_weight_excess(source, eff, Quantization())
            if not reported:
                assert got is None, (size, off, got)
                continue
            assert got is not None and got[0] == "l0.b_hz", (size, off, got)
            assert got[4] == pytest.approx(4.0 * u32 * size, rel=1e-6), got


def _candidate_behind_the_reset_gate(b_ir: float) -> Problem:
    """One unit, a candidate pre-activation ``a_n = b_in + r (W_hn h + b_hn) = -6`` at the first
    step (flat: beyond ``FLIP_FLOOR``; ``h0 = 0``, ``b_hn = 0``): with ``W_hn = 10^6`` the
    quantization of ``h`` (torch's smallest step, ``6.1e-5``, for a span of 0) may move
    ``W_hn h`` by about 30, beyond 6, but reset-after multiplies that error by
    ``r = sigmoid(b_ir)``."""
    params = random_gru_params(2, 1, rng=0)
    zero = np.zeros((1, 2))
    cell = params.cell(0, 0).replace(
        W_ir=zero, W_iz=zero, W_in=zero, W_hr=np.zeros((1, 1)), W_hz=np.zeros((1, 1)),
        W_hn=np.full((1, 1), 1e6), b_ir=np.array([b_ir]), b_hr=np.zeros(1),
        b_iz=np.zeros(1), b_hz=np.zeros(1), b_in=np.array([-6.0]), b_hn=np.zeros(1),
    )  # fmt: skip
    x = np.random.default_rng(0).uniform(-1, 1, (4, 1, 2))
    return Problem(params.replace_cell(0, 0, cell), x, np.zeros((1, 1, 1)))


def test_a_candidate_the_reset_gate_shuts_cannot_flip() -> None:
    """The flip bound of the reset-after candidate is ``s_x/2 ||W_in||_1 + r s_h/2 ||W_hn||_1``:
    with the reset gate shut (``r = sigmoid(-30)``) the candidate cannot flip, open
    (``r = sigmoid(30)``) it can."""
    from gruverify.error_model import default_model
    from gruverify.targets.torch_quantized import TorchDynamicInt8Target

    model = default_model(TorchDynamicInt8Target())
    assert model.quantization_flip(_candidate_behind_the_reset_gate(-30.0), "reset_after") is None
    open_gate = model.quantization_flip(_candidate_behind_the_reset_gate(30.0), "reset_after")
    assert open_gate is not None and open_gate.startswith("a_n"), open_gate
