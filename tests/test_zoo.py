"""The zoo without the checker: correct modules equal torch.nn.GRU, every mutant shows its bug.

Correct modules (``gruverify.zoo.CORRECT``) must equal ``torch.nn.GRU`` in float64 on converted
weights, forward to 1e-12 and gradients to 1e-10, over layers, directions, bias, batch_first,
unbatched, packed input and h0. Each mutant must differ from ``torch.nn.GRU`` on the configuration
that exposes it (by more than 1e-6, the bug's signature), and, where the bug is not a forward one,
show its defect where it lives (gradients, repeated calls, the input, shapes, determinism).
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

import numpy as np
import pytest
import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from gruverify.core.params import random_gru_params
from gruverify.layouts.torch_layout import gru_to_torch
from gruverify.zoo import CORRECT, MUTANTS, ZooGRU, flip_valid
from gruverify.zoo import mutants as M

F64 = torch.float64


@dataclasses.dataclass(frozen=True)
class Case:
    input_size: int = 3
    hidden_size: int = 4
    num_layers: int = 1
    bidirectional: bool = False
    bias: bool = True
    batch_first: bool = False
    batch: int = 2
    steps: int = 5
    h0: bool = True
    unbatched: bool = False
    lengths: tuple[int, ...] | None = None
    x_scale: float = 1.0
    seed: int = 0

    @property
    def ctor(self) -> dict[str, Any]:
        return {
            "input_size": self.input_size, "hidden_size": self.hidden_size,
            "num_layers": self.num_layers, "bias": self.bias, "batch_first": self.batch_first,
            "bidirectional": self.bidirectional,
        }  # fmt: skip


def _modules(cls: type[torch.nn.Module], case: Case) -> tuple[torch.nn.Module, torch.nn.Module]:
    params = random_gru_params(
        case.input_size, case.hidden_size, case.num_layers, case.bidirectional, case.bias,
        rng=case.seed,
    )  # fmt: skip
    sd = gru_to_torch(params, as_torch=True, dtype=F64)
    ref = torch.nn.GRU(**case.ctor).double()
    ref.load_state_dict(sd)
    mod = cls(**case.ctor).double()
    mod.load_state_dict(sd)
    return ref, mod


def _inputs(case: Case) -> tuple[Any, torch.Tensor | None]:
    g = torch.Generator().manual_seed(case.seed + 1)
    D = 2 if case.bidirectional else 1
    if case.unbatched:
        x = torch.randn(case.steps, case.input_size, generator=g, dtype=F64)
        h_shape: tuple[int, ...] = (case.num_layers * D, case.hidden_size)
    else:
        shape = (case.steps, case.batch, case.input_size)
        x = torch.randn(shape, generator=g, dtype=F64)
        h_shape = (case.num_layers * D, case.batch, case.hidden_size)
    x = x * case.x_scale
    h0 = torch.rand(h_shape, generator=g, dtype=F64) * 1.8 - 0.9 if case.h0 else None
    if case.lengths is not None:
        return pack_padded_sequence(x, torch.tensor(case.lengths), enforce_sorted=False), h0
    if case.batch_first and not case.unbatched:
        x = x.transpose(0, 1).contiguous()
    return x, h0


def _flat(out: Any) -> torch.Tensor:
    return pad_packed_sequence(out)[0] if isinstance(out, PackedSequence) else out


def _leaf(x: Any) -> Any:
    if isinstance(x, PackedSequence):
        return x._replace(data=x.data.clone().requires_grad_(True))
    return x.clone().requires_grad_(True)


def _forward(mod: torch.nn.Module, case: Case) -> tuple[torch.Tensor, torch.Tensor]:
    x, h0 = _inputs(case)
    with torch.no_grad():
        out, h_n = mod(x, h0)
    return _flat(out), h_n


def _forward_error(cls: type[torch.nn.Module], case: Case) -> float:
    ref, mod = _modules(cls, case)
    (o1, h1), (o2, h2) = _forward(ref, case), _forward(mod, case)
    assert o1.shape == o2.shape and h1.shape == h2.shape, (o1.shape, o2.shape, h1.shape, h2.shape)
    return float(max((o1 - o2).abs().max(), (h1 - h2).abs().max()))


def _gradients(mod: torch.nn.Module, case: Case) -> list[torch.Tensor]:
    """Gradients of sum(c1 * output) + sum(c2 * h_n) w.r.t. input, h0 and every parameter."""
    x, h0 = _inputs(case)
    x = _leaf(x)
    h0 = None if h0 is None else h0.clone().requires_grad_(True)
    out, h_n = mod(x, h0)
    g = torch.Generator().manual_seed(99)
    o = _flat(out)
    loss = (o * torch.randn(o.shape, generator=g, dtype=F64)).sum()
    loss = loss + (h_n * torch.randn(h_n.shape, generator=g, dtype=F64)).sum()
    xs = x.data if isinstance(x, PackedSequence) else x
    leaves = [xs] + ([h0] if h0 is not None else []) + [p for _, p in mod.named_parameters()]
    grads = torch.autograd.grad(loss, leaves, allow_unused=True)
    return [torch.zeros_like(v) if d is None else d for d, v in zip(grads, leaves, strict=True)]


def _gradient_error(cls: type[torch.nn.Module], case: Case) -> float:
    ref, mod = _modules(cls, case)
    g1, g2 = _gradients(ref, case), _gradients(mod, case)
    return max(float((a - b).abs().max()) for a, b in zip(g1, g2, strict=True))


CONFIGS = [
    Case(),
    Case(h0=False, batch=4),
    Case(input_size=5, hidden_size=3, num_layers=3, bidirectional=True, batch_first=True),
    Case(num_layers=2, bias=False, h0=False),
    Case(num_layers=2, bidirectional=True, unbatched=True),
    Case(num_layers=2, bidirectional=True, batch=4, steps=6, lengths=(6, 2, 4, 1)),
    Case(bidirectional=True, batch=3, steps=7, lengths=(3, 7, 5), h0=False),
]


@pytest.mark.parametrize("case", CONFIGS, ids=range(len(CONFIGS)))
@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_module_equals_torch(name: str, case: Case) -> None:
    """``|f(x) - torch.nn.GRU(x)|_inf <= 1e-12`` and ``|grad f - grad torch|_inf <= 1e-10`` in float64."""
    cls = CORRECT[name].cls
    err = _forward_error(cls, case)
    assert err <= 1e-12, f"{name}: forward differs from torch.nn.GRU by {err:.3g} > 1e-12 on {case}"
    gerr = _gradient_error(cls, case)
    assert gerr <= 1e-10, f"{name}: gradients differ from torch by {gerr:.3g} > 1e-10 on {case}"


def test_correct_module_state_dict_matches_nn_gru() -> None:
    """Same names, order and shapes as ``torch.nn.GRU``'s state dict."""
    for name, entry in CORRECT.items():
        for kw in ({}, {"num_layers": 3, "bidirectional": True}, {"bias": False}):
            ref = torch.nn.GRU(3, 4, **kw).state_dict()
            got = entry.cls(3, 4, **kw).state_dict()
            assert [(k, tuple(v.shape)) for k, v in got.items()] == [
                (k, tuple(v.shape)) for k, v in ref.items()
            ], f"{name} {kw}: state dict differs from nn.GRU's"


# The configuration on which each forward mutant differs from torch.nn.GRU, and, for the mutants
# that are exact elsewhere, a configuration on which it must agree (the bug's trigger is specific).
FORWARD_EXPOSURE: dict[str, tuple[Case, Case | None]] = {
    "ResetBefore": (Case(), None),
    "GateOrderZRN": (Case(), None),
    "SwappedWeightsOnly": (Case(), None),
    "SwappedBiasesOnly": (Case(), Case(bias=False)),
    "TransposedRecurrentKernel": (Case(), None),
    "BhnOutsideReset": (Case(), Case(bias=False)),
    "NoResetBias": (Case(), Case(bias=False)),
    "BiasAddedTwice": (Case(), Case(bias=False)),
    "IgnoresInitialState": (Case(), Case(h0=False)),
    "NoneIsNotZeros": (Case(h0=False), Case(h0=True)),
    "StateNotCarried": (Case(), Case(steps=1)),
    "SplitByInputSize": (Case(input_size=3, hidden_size=4), Case(input_size=4, hidden_size=4)),
    "ReverseNotFlippedBack": (Case(bidirectional=True), Case(bidirectional=False)),
    "BidirectionalInterleaved": (Case(bidirectional=True), Case(bidirectional=False)),
    "ReverseStartsInPadding": (
        Case(bidirectional=True, batch=3, lengths=(5, 2, 3)),
        Case(bidirectional=True, batch=3, lengths=(5, 5, 5)),
    ),
    "UpdateConventionFlipped": (Case(), None),
    "OneMinusZSign": (Case(), None),
    "OneMinusZHalfPrecision": (Case(), None),
    "WrongAtBatch3": (Case(batch=3, h0=False), Case(batch=2, h0=False)),
    "ClampedState": (Case(x_scale=30.0), Case()),
    "PerturbedWeightBlock": (Case(), None),
    "UpdateGateBiasOffset": (Case(), None),
    "UnstableSigmoid": (Case(x_scale=1e3), Case()),
    "ChunkBoundaryState": (Case(steps=33), Case(steps=32)),
}

GRADIENT_ONLY = {
    "BackwardDropsUpdateGatePath": Case(),
    "DetachedFinalState": Case(),
    "MiddleLayerGradientScaled": Case(num_layers=3),
    "TruncatedBackward": Case(steps=40),
}

OTHER = {
    "StaleStateAcrossCalls",
    "MutatesInput",
    "AcceptsBadInitialState",
    "LastLayerStateOnly",
    "Nondeterministic",
    "DropoutInEval",
    "RawStorageInput",
}


def test_every_mutant_is_exercised() -> None:
    covered = set(FORWARD_EXPOSURE) | set(GRADIENT_ONLY) | OTHER
    assert covered == set(MUTANTS), (
        f"untested: {sorted(set(MUTANTS) - covered)}, unknown: {sorted(covered - set(MUTANTS))}"
    )
    assert len(MUTANTS) >= 20
    for name, entry in MUTANTS.items():
        assert entry.cls.__doc__ and entry.pattern and entry.check, name
        module = sys.modules[entry.cls.__module__]  # gruverify.zoo.mutants or .scale
        assert getattr(module, name) is entry.cls, f"{module.__name__}:{name} is not importable"


@pytest.mark.parametrize("name", sorted(FORWARD_EXPOSURE))
def test_forward_mutant_differs_from_torch(name: str) -> None:
    """The mutant's outputs differ from torch.nn.GRU's by > 1e-6 (or are not finite) where exposed,
    and agree to 1e-12 on the control configuration where the bug has no trigger."""
    exposing, control = FORWARD_EXPOSURE[name]
    cls = MUTANTS[name].cls
    err = _forward_error(cls, exposing)
    assert not err <= 1e-6, f"{name}: max |mutant - torch| = {err:.3g} <= 1e-6 on {exposing}"
    if control is not None:
        ok = _forward_error(cls, control)
        assert ok <= 1e-12, f"{name}: differs by {ok:.3g} on the control case {control}"


@pytest.mark.parametrize("name", sorted(GRADIENT_ONLY))
def test_gradient_mutant_has_exact_forward_and_wrong_gradients(name: str) -> None:
    case = GRADIENT_ONLY[name]
    cls = MUTANTS[name].cls
    err = _forward_error(cls, case)
    assert err <= 1e-12, f"{name}: forward differs by {err:.3g} (should be exact)"
    gerr = _gradient_error(cls, case)
    assert gerr > 1e-6, f"{name}: gradients agree with torch to {gerr:.3g}"


def test_middle_layer_mutant_is_exact_below_three_layers() -> None:
    gerr = _gradient_error(M.MiddleLayerGradientScaled, Case(num_layers=2))
    assert gerr <= 1e-10, f"gradient error {gerr:.3g} with 2 layers"


def test_truncated_backward_is_exact_within_sixteen_steps() -> None:
    """The cut is every 16 steps: 16 steps have torch's gradients, 17 lose dh0 altogether."""
    assert _gradient_error(M.TruncatedBackward, Case(steps=16)) <= 1e-10
    case = Case(steps=17)
    _, mod = _modules(M.TruncatedBackward, case)
    x, h0 = _inputs(case)
    assert h0 is not None
    h0 = h0.clone().requires_grad_(True)
    _, h_n = mod(x, h0)
    (dh0,) = torch.autograd.grad(h_n.sum(), [h0], allow_unused=True)
    assert dh0 is None or float(dh0.abs().max()) == 0.0, "the state is not detached at step 16"


def test_raw_storage_input_reads_views_wrong_and_copies_right() -> None:
    """Exact on a contiguous input (a fresh tensor, as a copying checker feeds); on a transposed
    view or a slice with a storage offset it reads other entries of the storage."""
    case = Case(steps=5, batch=3)
    ref, mod = _modules(M.RawStorageInput, case)
    x, h0 = _inputs(case)
    with torch.no_grad():
        want, _ = ref(x, h0)
        assert float((mod(x, h0)[0] - want).abs().max()) <= 1e-12
        transposed = x.transpose(0, 1).contiguous().transpose(0, 1)
        sliced = torch.cat([torch.zeros(1, 3, case.input_size, dtype=F64), x])[1:]
        for view in (transposed, sliced):
            assert torch.equal(view, x)
            err = float((mod(view, h0)[0] - want).abs().max())
            assert err > 1e-3, f"a view read right (error {err:.3g})"


def test_stale_state_first_call_correct_second_wrong() -> None:
    case = Case(h0=False)
    ref, mod = _modules(M.StaleStateAcrossCalls, case)
    first = float((_forward(ref, case)[0] - _forward(mod, case)[0]).abs().max())
    second = float((_forward(ref, case)[0] - _forward(mod, case)[0]).abs().max())
    assert first <= 1e-12, f"first call differs by {first:.3g}"
    assert second > 1e-3, f"second call differs by only {second:.3g}"


def test_mutates_input_changes_callers_tensor() -> None:
    case = Case()
    ref, mod = _modules(M.MutatesInput, case)
    x, h0 = _inputs(case)
    before = x.clone()
    with torch.no_grad():
        out, _ = mod(x, h0)
        expected, _ = ref(before, h0)
    assert float((out - expected).abs().max()) <= 1e-12
    changed = float((x - before).abs().max())
    assert changed > 1e-3, f"input changed by only {changed:.3g}"


def test_accepts_bad_initial_state_where_torch_raises() -> None:
    case = Case(num_layers=2)
    ref, mod = _modules(M.AcceptsBadInitialState, case)
    x, _ = _inputs(case)
    bad = torch.zeros(1, case.batch, case.hidden_size, dtype=F64)
    with pytest.raises(RuntimeError):
        ref(x, bad)
    with pytest.raises(RuntimeError):
        ZooGRU(**case.ctor).double()(x, bad)
    _, h_n = mod(x, bad)
    assert tuple(h_n.shape) == (2, case.batch, case.hidden_size)


def test_last_layer_state_only_has_wrong_h_n_shape() -> None:
    case = Case(num_layers=2)
    ref, mod = _modules(M.LastLayerStateOnly, case)
    assert _forward(ref, case)[1].shape != _forward(mod, case)[1].shape
    one = Case(num_layers=1)
    assert _forward_error(M.LastLayerStateOnly, one) <= 1e-12


def test_nondeterministic_repeats_differ_slightly() -> None:
    case = Case()
    ref, mod = _modules(M.Nondeterministic, case)
    a, b = _forward(mod, case)[0], _forward(mod, case)[0]
    diff = float((a - b).abs().max())
    assert 0 < diff < 1e-5, f"repeat-run difference {diff:.3g}"
    assert float((a - _forward(ref, case)[0]).abs().max()) < 1e-5


def test_dropout_in_eval_is_random_only_with_dropout_between_layers() -> None:
    """In eval mode: exact with ``dropout=0`` or one layer; off with ``dropout=0.5`` and two
    layers (dropout between the layers), the same answer on every call (the law it fails
    compares two builds, not two calls)."""
    case = Case(num_layers=2)
    ref, mod = _modules(M.DropoutInEval, case)
    ref.eval(), mod.eval()
    assert _forward_error(M.DropoutInEval, case) <= 1e-12  # dropout=0
    dropped = M.DropoutInEval(**case.ctor, dropout=0.5).double().eval()
    dropped.load_state_dict(mod.state_dict())
    first, again = _forward(dropped, case)[0], _forward(dropped, case)[0]
    assert torch.equal(first, again)
    off = float((first - _forward(ref, case)[0]).abs().max())
    assert off > 1e-3, f"dropout=0.5 in eval differs by only {off:.3g}"
    one = Case(num_layers=1)
    ref1, _ = _modules(M.DropoutInEval, one)
    single = M.DropoutInEval(**one.ctor, dropout=0.5).double().eval()
    single.load_state_dict(ref1.state_dict())
    assert float((_forward(single, one)[0] - _forward(ref1, one)[0]).abs().max()) <= 1e-12


def test_unstable_sigmoid_gives_nan_only_for_large_inputs() -> None:
    ref, mod = _modules(M.UnstableSigmoid, Case(x_scale=1e3))
    out = _forward(mod, Case(x_scale=1e3))[0]
    assert torch.isnan(out).any(), "expected NaN from exp overflow"
    assert torch.isfinite(_forward(ref, Case(x_scale=1e3))[0]).all()


def test_flip_valid() -> None:
    """``flip_valid(s)[t, b] = s[len_b - 1 - t, b]`` for ``t < len_b``, zero beyond; an involution."""
    s = torch.arange(12.0).reshape(4, 3, 1)
    lens = torch.tensor([4, 2, 1])
    f = flip_valid(s, lens)
    for b, n in enumerate(lens.tolist()):
        for t in range(4):
            want = s[n - 1 - t, b, 0] if t < n else 0.0
            assert f[t, b, 0] == want, (t, b, f[t, b, 0], want)
    mask = (torch.arange(4)[:, None] < lens)[..., None]
    assert torch.equal(flip_valid(f, lens), torch.where(mask, s, 0.0))
    assert torch.equal(flip_valid(s, None), s.flip(0))


def test_zoo_rejects_bad_input() -> None:
    mod = ZooGRU(3, 4)
    with pytest.raises(RuntimeError, match="input_size"):
        mod(torch.zeros(5, 2, 7))
    with pytest.raises(ValueError, match="2-D or 3-D"):
        mod(torch.zeros(5))
    with pytest.raises(RuntimeError, match="hidden size"):
        mod(torch.zeros(5, 2, 3), torch.zeros(2, 2, 4))
    with pytest.raises(ValueError, match="hidden_size"):
        ZooGRU(3, 0)


def test_zoo_float32_close_to_torch() -> None:
    """The modules work in float32 too (the checker's usual dtype): within 1e-5 of nn.GRU."""
    case = Case(num_layers=2, bidirectional=True)
    for name, entry in CORRECT.items():
        ref, mod = _modules(entry.cls, case)
        ref, mod = ref.float(), mod.float()
        x, h0 = _inputs(case)
        assert h0 is not None
        with torch.no_grad():
            a, ha = ref(x.float(), h0.float())
            b, hb = mod(x.float(), h0.float())
        assert float((ha - hb).abs().max()) < 1e-5, name
        assert b.dtype == torch.float32 and hb.dtype == torch.float32, name
        err = float(np.max(np.abs((a - b).numpy())))
        assert err < 1e-5, f"{name}: float32 error {err:.3g}"
