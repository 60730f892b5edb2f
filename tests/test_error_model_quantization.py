"""The error model under a declared quantization (gruverify.error_model, docs/error-model.md):
effective weights make the weight part exact, the activations' quantization is modelled at the
steps the problem's own ranges imply, a gate the quantization can flip is inconclusive, and
nothing changes where nothing is declared."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

from gruverify.conformance.checks import CHECKS
from gruverify.core.arithmetic import ARITHMETICS
from gruverify.core.params import random_gru_params
from gruverify.core.problem import Problem
from gruverify.core.quantization import PRESETS, Quantization
from gruverify.error_model import (
    FLIP_FLOOR,
    ErrorModel,
    Inconclusive,
    arithmetic_of,
    compare,
    default_model,
    layer_input_spans,
)
from gruverify.laws.base import LawViolation
from gruverify.laws.equivalence import law_effective_weights, law_forward_equivalence
from gruverify.strategies import Config, make_case
from gruverify.zoo.quantized import QuantizedGRU

pytest.importorskip("torch")
warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*")

from gruverify.targets.torch_quantized import TorchDynamicInt8Target  # noqa: E402

CONFIGS = [
    Config(steps=6, batch=3, input_size=5, hidden_size=4),
    Config(steps=9, batch=2, input_size=3, hidden_size=6, num_layers=2),
    Config(steps=5, batch=4, input_size=7, hidden_size=3, bidirectional=True, padded=True),
]


def _problems() -> list[Problem]:
    return [make_case(c, "ordinary", "ordinary", seed).problem
            for c in CONFIGS for seed in range(2)]  # fmt: skip


def test_torch_dynamic_int8_is_within_its_declared_tolerance_and_not_float32s() -> None:
    declared, plain = TorchDynamicInt8Target(), TorchDynamicInt8Target(declare=False)
    assert arithmetic_of(declared).quantization == PRESETS["int8-dynamic-7bit"]
    assert arithmetic_of(plain).quantization is None
    ratios, plain_fails = [], 0
    for p in _problems():
        law_forward_equivalence(declared, p)  # a violation fails the test with its numbers
        ref, tol = default_model(declared).forward(p, "reset_after")
        ratios.append(compare("o", ref.output, declared.forward(p).output, 1.0).error / tol.output)
        try:
            law_forward_equivalence(plain, p)
        except LawViolation:
            plain_fails += 1
    assert max(ratios) < 1.0 and plain_fails == len(ratios), (ratios, plain_fails)


def test_effective_weights_make_the_weight_part_exact() -> None:
    """The reference runs on the target's dequantized weights. Declared weight-only (float
    activations), the tolerance is then float32's; a model that does not know them (declaration
    only) draws their rounding to the grid instead, a far larger tolerance."""
    t = TorchDynamicInt8Target()
    p = _problems()[0]
    with_eff = default_model(t)
    assert with_eff.effective is not None
    ref = with_eff.reference_problem(p)
    eff = t.effective_params(p.params)
    pairs = zip(ref.params.named(), eff.named(), strict=True)
    assert all(np.array_equal(a, b) for (_, a), (_, b) in pairs)
    t.quantization = Quantization(activations=None)
    weights_only = default_model(t)
    exact = weights_only.forward(p, "reset_after")[1].output
    on_eff = ErrorModel(ARITHMETICS["float32"]).forward(dataclasses.replace(p, params=eff),
                                                       "reset_after")[1].output  # fmt: skip
    assert exact == pytest.approx(on_eff, rel=0.5)
    drawn = dataclasses.replace(weights_only, effective=None).forward(p, "reset_after")[1].output
    assert drawn > 100 * exact, (drawn, exact)


def test_the_activation_term_grows_with_the_input_range() -> None:
    """The tolerance comes from the activation steps the data implies: the same problem with its
    input range doubled (one entry) gets a larger tolerance; float32 alone gets a far smaller one."""
    t = TorchDynamicInt8Target()
    p = _problems()[0]
    x = np.array(p.x)
    x[0, 0, 0] = 2 * np.max(np.abs(x))
    wide = dataclasses.replace(p, x=x)
    model = default_model(t)
    assert model.forward(wide, "reset_after")[1].output > model.forward(p, "reset_after")[1].output
    plain = ErrorModel(ARITHMETICS["float32"]).forward(p, "reset_after")[1].output
    assert plain * 100 < model.forward(p, "reset_after")[1].output


def test_nothing_declared_ignores_effective_weights() -> None:
    """Without a declared quantization the model is the float32 one, bit for bit, whatever
    ``effective`` says (existing targets' tolerances do not move)."""
    p = _problems()[1]
    base = ErrorModel(ARITHMETICS["float32"]).forward(p, "reset_after")[1]
    odd = ErrorModel(ARITHMETICS["float32"], effective=lambda params: params.map(lambda a: a * 2))
    assert odd.forward(p, "reset_after")[1] == base
    assert default_model(QuantizedGRU()).effective is not None


def test_layer_input_spans_leave_the_padding_out() -> None:
    params = random_gru_params(2, 3, num_layers=2, rng=0)
    x = np.full((4, 2, 2), 0.5)
    x[3, 1] = 100.0  # beyond sequence 1's length
    p = Problem(params, x, lengths=np.array([4, 3]))
    spans = layer_input_spans(p, "reset_after")
    assert spans[0] == 0.5 and 0 < spans[1] <= 2.0


def _flippable(b_iz: float) -> Problem:
    """16 inputs, one unit: the first step's input of 127 sets the sequence's step to 1, the
    later steps' inputs are 0, so their update-gate pre-activation is ``b_iz``; with every
    ``W_iz`` 1 the quantization of the input product may move it by ``16 * 0.5 = 8``, while
    random signs move it by about 2: a perturbed run rarely sees a flip of ``|b_iz| < 8``."""
    params = random_gru_params(16, 1, rng=0)
    zero16 = np.zeros((1, 16))
    cell = params.cell(0, 0).replace(
        W_iz=np.ones((1, 16)), b_iz=np.array([b_iz]), W_hz=np.zeros((1, 1)), b_hz=np.zeros(1),
        W_ir=zero16, W_in=zero16, W_hr=np.zeros((1, 1)), W_hn=np.zeros((1, 1)),
    )  # fmt: skip
    x = np.zeros((4, 1, 16))
    x[0, 0, 0] = 127.0
    return Problem(params.replace_cell(0, 0, cell), x)


def test_a_saturated_gate_the_quantization_can_flip_is_inconclusive() -> None:
    model = default_model(TorchDynamicInt8Target())
    flippable = _flippable(b_iz=-7.0)
    _, tol = model.forward(flippable, "reset_after")
    assert tol.conditioned, tol  # the perturbed runs alone would judge it
    message = model.quantization_flip(flippable, "reset_after")
    assert message is not None and "a_z" in message, message
    with pytest.raises(Inconclusive, match="can flip a saturated gate"):
        model.judged_forward(flippable, "reset_after")
    assert model.quantization_flip(_flippable(b_iz=-9.0), "reset_after") is None  # beyond 8
    assert model.quantization_flip(_flippable(b_iz=-3.0), "reset_after") is None  # not flat
    assert FLIP_FLOOR == 4.0
    assert ErrorModel(ARITHMETICS["float32"]).quantization_flip(flippable, "reset_after") is None


def test_effective_weights_off_the_grid_are_flagged() -> None:
    p = _problems()[0]
    law_effective_weights(QuantizedGRU(), p)
    with pytest.raises(LawViolation, match=r"effective weights violated: l0\.W_hz"):
        law_effective_weights(QuantizedGRU(bug="zero_point"), p)
    # declaration only: nothing to compare, the tolerance judges
    law_effective_weights(QuantizedGRU(bug="zero_point", hand_over=False), p)


def test_batch_coupled_checks_say_how_they_were_judged() -> None:
    torch_like = dataclasses.replace(
        ARITHMETICS["float32"], quantization=PRESETS["int8-dynamic-7bit"]
    )
    per_row = dataclasses.replace(torch_like, quantization=PRESETS["int8-dynamic-row"])
    coupled = {c.name for c in CHECKS if c.coupling_note(torch_like)}
    assert coupled == {"batch independence", "chunked continuation", "lengths truncation"}
    assert not any(c.coupling_note(per_row) for c in CHECKS)
    assert not any(c.coupling_note(ARITHMETICS["float32"]) for c in CHECKS)


def test_effective_weights_cross_the_isolation_boundary() -> None:
    from gruverify.isolation.client import build_isolated

    target = build_isolated("torch-dynamic-int8", "cpu", None, False)
    try:
        p = _problems()[0]
        model = default_model(target)
        assert model.arithmetic.quantization == PRESETS["int8-dynamic-7bit"]
        assert model.effective is not None
        got = model.effective(p.params)
        want = TorchDynamicInt8Target().effective_params(p.params)
        assert all(
            np.array_equal(a, b) for (_, a), (_, b) in zip(got.named(), want.named(), strict=True)
        )
    finally:
        target.close()
