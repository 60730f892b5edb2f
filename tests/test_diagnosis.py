"""Diagnosis names the bug a target really has, and names none for correct or unknown targets.

Targets are the zoo's modules (gruverify.zoo) run on converted weights: each mutant that computes a
hypothesis must be diagnosed as exactly that hypothesis (in float64 and float32, over layouts,
layers, directions and lengths); correct modules and mutants with bugs outside the catalogue must
get no diagnosis.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from gruverify.conformance.diagnosis import HYPOTHESES, Diagnosis, diagnose, diagnose_implementation
from gruverify.core.params import Variant, random_gru_params
from gruverify.core.problem import Outputs, Problem
from gruverify.error_model import ARITHMETICS
from gruverify.layouts.torch_layout import gru_to_torch
from gruverify.zoo import CORRECT, ZooGRU
from gruverify.zoo import mutants as M


@dataclasses.dataclass(frozen=True)
class Config:
    input_size: int = 3
    hidden_size: int = 4
    num_layers: int = 2
    bidirectional: bool = True
    bias: bool = True
    batch_first: bool = False
    unbatched: bool = False
    steps: int = 5
    batch: int = 3
    h0: bool = True
    lengths: tuple[int, ...] | None = None
    seed: int = 0
    x_scale: float = 1.0

    def problem(self) -> Problem:
        rng = np.random.default_rng(self.seed)
        p = random_gru_params(self.input_size, self.hidden_size, self.num_layers,
                              self.bidirectional, self.bias, rng=rng)  # fmt: skip
        D = 2 if self.bidirectional else 1
        x = self.x_scale * rng.standard_normal((self.steps, self.batch, self.input_size))
        h0 = rng.uniform(-1, 1, (self.num_layers * D, self.batch, self.hidden_size))
        if self.unbatched:
            x, h0 = x[:, 0], h0[:, 0]
        elif self.batch_first:
            x = np.ascontiguousarray(np.swapaxes(x, 0, 1))
        lengths = None if self.lengths is None else np.array(self.lengths)
        return Problem(p, x, h0 if self.h0 else None, self.batch_first, lengths)


def run_module(cls: type[ZooGRU], problem: Problem, dtype: str = "float64") -> Outputs:
    """``cls`` on ``problem`` (weights converted, lengths as a PackedSequence), caller layout."""
    p = problem.params
    dt = getattr(torch, dtype)
    mod = cls(p.input_size, p.hidden_size, p.num_layers, p.bias, problem.batch_first,
              0.0, p.bidirectional).to(dt)  # fmt: skip
    mod.load_state_dict(gru_to_torch(p, as_torch=True, dtype=dt))
    x = torch.tensor(problem.x, dtype=dt)
    h0 = None if problem.h0 is None else torch.tensor(problem.h0, dtype=dt)
    inp: torch.Tensor | PackedSequence = x
    if problem.lengths is not None:
        inp = pack_padded_sequence(x, torch.as_tensor(problem.lengths), problem.batch_first,
                                   enforce_sorted=False)  # fmt: skip
    with torch.no_grad():
        out, h_n = mod(inp, h0)
    if isinstance(out, PackedSequence):
        out = pad_packed_sequence(out, problem.batch_first, total_length=problem.steps)[0]
    return Outputs(out.double().numpy(), h_n.double().numpy())


def _diagnose(cls: type[ZooGRU], cfg: Config, dtype: str = "float64",
              variant: Variant = "reset_after") -> Diagnosis | None:  # fmt: skip
    problem = cfg.problem()
    return diagnose(problem, variant, run_module(cls, problem, dtype), ARITHMETICS[dtype])


BASE = Config()
EXPECTED: list[tuple[str, type[ZooGRU], Config]] = [
    ("other variant", M.ResetBefore, BASE),
    ("r/z swapped", M.GateOrderZRN, BASE),
    ("r/z swapped in weights", M.SwappedWeightsOnly, BASE),
    ("r/z swapped in biases", M.SwappedBiasesOnly, BASE),
    ("b_hn outside reset", M.BhnOutsideReset, BASE),
    ("b_hn missing", M.NoResetBias, BASE),
    ("input bias twice", M.BiasAddedTwice, BASE),
    ("update flipped", M.UpdateConventionFlipped, BASE),
    ("one minus z as z minus 1", M.OneMinusZSign, BASE),
    ("one minus z as z minus 1", M.OneMinusZSign, Config(bias=False, num_layers=1)),
    ("recurrent weights transposed", M.TransposedRecurrentKernel, BASE),
    ("split by input size", M.SplitByInputSize, BASE),
    ("h0 ignored", M.IgnoresInitialState, BASE),
    ("state not carried", M.StateNotCarried, BASE),
    ("state not carried", M.StateNotCarried, Config(batch_first=True, lengths=(5, 2, 4), h0=False)),
    ("state not carried", M.StateNotCarried, Config(unbatched=True, batch=1, num_layers=1)),
    ("reverse not flipped", M.ReverseNotFlippedBack, BASE),
    ("reverse not flipped", M.ReverseNotFlippedBack, Config(lengths=(3, 5, 1), batch_first=True)),
    ("reverse not flipped", M.ReverseNotFlippedBack, Config(unbatched=True, batch=1)),
    ("interleaved directions", M.BidirectionalInterleaved, BASE),
    ("interleaved directions", M.BidirectionalInterleaved, Config(batch_first=True, num_layers=1)),
]


def test_every_hypothesis_is_tested() -> None:
    assert {h.name for h in HYPOTHESES} == {name for name, _, _ in EXPECTED}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("name", "cls", "cfg"), EXPECTED,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(EXPECTED)])  # fmt: skip
def test_mutant_is_diagnosed(name: str, cls: type[ZooGRU], cfg: Config, dtype: str) -> None:
    """A target computing hypothesis H is diagnosed as H, within H's tolerance."""
    d = _diagnose(cls, cfg, dtype)
    assert d is not None, f"{cls.__name__} ({dtype}, {cfg}): no diagnosis, expected {name!r}"
    assert d.name == name, f"{cls.__name__}: diagnosed {d.name!r} ({d}), expected {name!r}"
    assert d.error <= d.tolerance, str(d)
    limit = 1e-12 if dtype == "float64" else 1e-4
    assert d.error <= limit, f"{cls.__name__}: matched only to {d.error:.3g} > {limit}"


def test_other_variant_named_for_reset_before_expectation() -> None:
    """A reset-after target checked against reset-before is diagnosed as the reset-after variant."""
    d = _diagnose(ZooGRU, BASE, variant="reset_before")
    assert d is not None and d.name == "other variant", d
    assert "reset-after" in d.description and "linear_before_reset=1" in d.description, str(d)
    d2 = _diagnose(M.ResetBefore, BASE)
    assert d2 is not None and "reset-before" in str(d2) and "Cho" in str(d2), str(d2)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_target_gets_no_diagnosis(name: str, dtype: str) -> None:
    for cfg in (BASE, Config(lengths=(5, 1, 3), h0=False)):
        d = _diagnose(CORRECT[name].cls, cfg, dtype)
        assert d is None, f"{name} ({dtype}, {cfg}) falsely diagnosed: {d}"


UNKNOWN = [
    (M.PerturbedWeightBlock, BASE),
    (M.UpdateGateBiasOffset, BASE),
    (M.OneMinusZHalfPrecision, BASE),
    (M.NoneIsNotZeros, Config(h0=False)),
    (M.WrongAtBatch3, Config(h0=False)),
    (M.ClampedState, Config(x_scale=30.0)),
    (M.ReverseStartsInPadding, Config(lengths=(5, 2, 3))),
]


@pytest.mark.parametrize(("cls", "cfg"), UNKNOWN, ids=[c.__name__ for c, _ in UNKNOWN])
def test_unknown_bug_gets_no_diagnosis(cls: type[ZooGRU], cfg: Config) -> None:
    """A bug outside the catalogue is not forced into one of its hypotheses."""
    problem = cfg.problem()
    got = run_module(cls, problem)
    ref = run_module(ZooGRU, problem)
    off = float(np.max(np.abs(got.output - ref.output)))
    assert off > 1e-6, f"{cls.__name__} is not exposed on {cfg} (differs by {off:.3g})"
    d = diagnose(problem, "reset_after", got, ARITHMETICS["float64"])
    assert d is None, f"{cls.__name__} falsely diagnosed: {d}"


def test_hypothesis_indistinguishable_on_problem_is_skipped() -> None:
    """With bias=False, ``b_hn missing`` equals the reference: a bias-free r/z swap is diagnosed as
    the weight swap (the full swap also fits) and never as a bias pattern."""
    cfg = Config(bias=False)
    d = _diagnose(M.GateOrderZRN, cfg)
    assert d is not None and d.name in ("r/z swapped", "r/z swapped in weights"), d
    assert "b_hn" not in str(d) and "biases only" not in str(d), str(d)


def test_chaotic_problem_gets_no_diagnosis() -> None:
    """When the tolerance approaches the outputs' size, nothing can be told apart: None."""
    cfg = Config(steps=2, num_layers=1, bidirectional=False)
    problem = cfg.problem()
    got = run_module(M.ResetBefore, problem)
    assert diagnose(problem, "reset_after", got, ARITHMETICS["float64"]) is not None
    wild = dataclasses.replace(ARITHMETICS["bfloat16"], unit_roundoff=0.05)
    assert diagnose(problem, "reset_after", got, wild) is None


def test_bad_arguments_raise() -> None:
    problem = BASE.problem()
    got = run_module(ZooGRU, problem)
    with pytest.raises(ValueError, match="variant"):
        diagnose(problem, "reset_middle", got, ARITHMETICS["float64"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Outputs"):
        diagnose(problem, "reset_after", (got.output, got.h_n), ARITHMETICS["float64"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "name"),
    [("gruverify.zoo.mutants:ResetBefore", "other variant"),
     ("gruverify.zoo.mutants:StateNotCarried", "state not carried"),
     ("gruverify.zoo.correct:FusedBiasGRU", None)],
)  # fmt: skip
def test_diagnose_implementation_through_the_target_adapter(spec: str, name: str | None) -> None:
    """The checker's entry: a target resolved as the runner does, float32, its own arithmetic."""
    from gruverify.targets import resolve_target

    impl = resolve_target(spec, device="cpu", dtype="float32")
    for cfg in (BASE, Config(batch_first=True, lengths=(5, 2, 4))):
        d = diagnose_implementation(impl, cfg.problem())
        assert (d and d.name) == name, f"{spec} on {cfg}: {d}"
