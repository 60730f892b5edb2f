"""``torch.export`` (decomposed) and ``torch.compile`` (inductor, RNN capture) of ``nn.GRU``.

Laws: the exported program and the compiled module, with weights loaded through torch's
state-dict names, compute the reset-after reference within the float32 error model's tolerance
(forward over layers, directions, bias=False, batch_first, unbatched, h0=None; gradients of every
parameter); the exported program is reused across weights and batch sizes (one export per sequence
length); the compiled graph really runs (every forward goes through the inductor-compiled callable,
which generated kernels), and a call that falls back to eager raises ``FallbackToEager``; a
``PackedSequence`` is refused with the declared reason. Against the reset-before reference both fail.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from test_targets_external import (
    BUG_MIN,
    assert_forward_matches,
    assert_gradients_match,
    forward_error,
    make_problem,
)

from gruverify.targets.torch_graph_targets import (
    CompiledGRU,
    ExportedGRU,
    FallbackToEager,
    make_torch_compile_target,
    make_torch_export_target,
)

CASES = {
    "basic": {},
    "bidirectional-3-layers": {"I": 2, "H": 3, "layers": 3, "bidirectional": True},
    "no-bias-no-h0-batch-first": {"I": 2, "H": 3, "bias": False, "h0": False, "batch_first": True},
    "unbatched": {"I": 2, "H": 3, "batched": False},
}


@pytest.fixture(scope="module")
def exported() -> Any:
    return make_torch_export_target()


@pytest.fixture(scope="module")
def compiled() -> Any:
    return make_torch_compile_target()


@pytest.mark.parametrize("case", list(CASES))
def test_torch_export_computes_the_reset_after_gru(exported: Any, case: str) -> None:
    problem = make_problem(**CASES[case])
    assert_forward_matches(exported, problem)
    assert forward_error(exported, problem, "reset_before")[0] > BUG_MIN


@pytest.mark.parametrize("case", list(CASES))
def test_torch_compile_computes_the_reset_after_gru(compiled: Any, case: str) -> None:
    problem = make_problem(**CASES[case])
    assert_forward_matches(compiled, problem)
    assert forward_error(compiled, problem, "reset_before")[0] > BUG_MIN


@pytest.mark.parametrize("which", ["exported", "compiled"])
def test_gradients_through_the_graph_equal_the_reference(which: str, request: Any) -> None:
    target = request.getfixturevalue(which)
    assert_gradients_match(target, make_problem(I=2, H=3, layers=2, T=2, B=2, seed=3))


def test_one_export_per_sequence_length(exported: Any) -> None:
    for seed, B in enumerate((1, 2, 4)):  # new weights and batch sizes: one program
        assert_forward_matches(exported, make_problem(T=4, B=B, seed=20 + seed))
    module = next(m for m in exported._modules.values() if m.gru_args["input_size"] == 3)
    assert isinstance(module, ExportedGRU)
    assert sum(1 for k in module.programs if k[1] == 4) == 1, list(module.programs)


def test_every_forward_runs_the_compiled_graph(compiled: Any) -> None:
    problem = make_problem(T=3, seed=30)
    compiled.forward(problem)
    module = compiled._modules[(3, 4, 1, True, False, False)]
    assert isinstance(module, CompiledGRU)
    runs = module.compiled_runs
    compiled.forward(make_problem(T=3, seed=31))
    assert module.compiled_runs == runs + 1
    assert module.kernels and min(module.kernels) > 0, module.kernels


def test_a_fall_back_to_eager_raises() -> None:
    """An eager callable in place of the compiled one (a silent fall back): the adapter's run
    counter raises ``FallbackToEager``. (Not tested with dynamo disabled: dynamo then marks
    ``nn.GRU.forward`` as skipped for the rest of the process.)"""
    module = CompiledGRU(3, 4)
    object.__setattr__(module, "_compiled", module._template)
    with pytest.raises(FallbackToEager, match="without running the compiled graph"):
        module(torch.randn(2, 1, 3))


@pytest.mark.parametrize("cls", [ExportedGRU, CompiledGRU])
def test_packed_sequences_are_refused_with_the_reason(cls: Any) -> None:
    from torch.nn.utils.rnn import pack_padded_sequence

    packed = pack_padded_sequence(torch.randn(3, 2, 2), torch.tensor([3, 1]))
    with pytest.raises(TypeError, match="PackedSequence"):
        cls(2, 3)(packed)


def test_lengths_declared_missing(exported: Any, compiled: Any) -> None:
    for target in (exported, compiled):
        assert not target.capabilities.supports("lengths")
        assert "PackedSequence" in target.capabilities.reason("lengths")
    assert np.isfinite(forward_error(exported, make_problem(seed=5))[0])
